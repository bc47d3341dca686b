"""r_np: the judged reward of the reference policy's answer without access to the profile (PR²'s baseline).

Computed once per training question before training (greedy, the `none` baseline prompt, the initial policy) and
cached on disk; a later or resumed run with the same model and judge reuses it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

from pr2.baselines import BaselineConfig, run_baseline
from pr2.data.io import write_json_atomic
from pr2.data.schema import Question
from pr2.judge.judge import Judge
from pr2.train.reward import answer_rewards

log = logging.getLogger(__name__)


def nonpersonalized_rewards(
    questions: Sequence[Question], generator, judge: Judge, cache_path: str | Path, *, key: dict, max_tokens: int = 256
) -> dict[str, float]:
    cache_path = Path(cache_path)
    cached: dict[str, float] = {}
    if cache_path.exists():
        data = json.loads(cache_path.read_text())
        if data.get("key") == key:
            cached = data["r_np"]
        else:
            log.info("r_np cache %s was made with another model or judge; recomputing", cache_path)
    todo = [q for q in questions if q.id not in cached]
    if todo:
        log.info("computing r_np for %d questions (reference policy, no profile)", len(todo))
        config = BaselineConfig(method="none", max_tokens=max_tokens, temperature=0.0)
        answers = [out.answer for out in run_baseline(todo, generator, config)]  # in the order of `todo`
        cached.update(zip((q.id for q in todo), answer_rewards(todo, answers, judge), strict=True))
        write_json_atomic(cache_path, {"key": key, "r_np": cached})
    return {q.id: cached[q.id] for q in questions}
