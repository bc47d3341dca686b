"""r_np: the judged reward of the reference policy's answer without access to the profile (PR²'s baseline).

Computed once per training question before training (greedy, the `none` baseline prompt, the initial policy) and
cached on disk as it goes (a chunk of questions at a time); a later or resumed run with the same model and judge
reuses it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

from pr2.baselines import BaselineConfig, run_baseline
from pr2.data.io import write_json_atomic
from pr2.data.runs import unfinished_batches
from pr2.data.schema import Question
from pr2.errors import PR2Error
from pr2.judge.judge import Judge
from pr2.train.reward import answer_rewards

log = logging.getLogger(__name__)


def read_cache(path: Path, key: dict) -> dict[str, float]:
    """The r_np a cache file holds, if it was made with `key` (else none)."""
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        saved_key, r_np = data["key"], data["r_np"]
        if not isinstance(r_np, dict) or not all(isinstance(v, int | float) for v in r_np.values()):
            raise ValueError("r_np must map question ids to numbers")
    except json.JSONDecodeError as err:
        raise PR2Error(f"{path}: line {err.lineno}: damaged r_np cache ({err.msg}); delete it to recompute") from None
    except (UnicodeDecodeError, KeyError, TypeError, ValueError) as err:
        raise PR2Error(f"{path}: damaged r_np cache ({err}); delete it to recompute") from None
    if saved_key != key:
        log.info("r_np cache %s was made with another model or judge; recomputing", path)
        return {}
    return {str(k): float(v) for k, v in r_np.items()}


def cache_key(key: dict, answer_prefill: str | None) -> dict:
    """What an r_np cache was made with: the reference model, the judge and the answer prefill."""
    return {**key, "answer_prefill": answer_prefill} if answer_prefill else key


def nonpersonalized_rewards(
    questions: Sequence[Question],
    generator,
    judge: Judge,
    cache_path: str | Path,
    *,
    key: dict,
    max_tokens: int = 256,
    answer_prefill: str | None = None,
    chunk_size: int = 64,
) -> dict[str, float]:
    """r_np per question, `chunk_size` questions at a time, each chunk written to `cache_path` as it is judged.
    `answer_prefill`: the agent's, so that the answer without the profile has the form of the policy's."""
    cache_path = Path(cache_path)
    key = cache_key(key, answer_prefill)
    cached = read_cache(cache_path, key)
    config = BaselineConfig(method="none", max_tokens=max_tokens, temperature=0.0, answer_prefill=answer_prefill)
    todo = sum(q.id not in cached for q in questions)
    if todo:
        log.info("computing r_np for %d questions (reference policy, no profile)", todo)
    for batch in unfinished_batches(questions, lambda q: q.id, cached, chunk_size):
        answers = [out.answer for out in run_baseline(batch, generator, config)]  # in the order of `batch`
        for q, reward in zip(batch, answer_rewards(batch, answers, judge), strict=True):
            cached.setdefault(q.id, reward)
        write_json_atomic(cache_path, {"key": key, "r_np": cached})
    return {q.id: cached[q.id] for q in questions}
