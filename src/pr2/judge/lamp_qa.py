"""The `lamp-qa` protocol: the benchmark's judge exactly as its own code runs it.

Its text is never copied here. It is read at run time, with `ast` (never imported: the file imports vLLM), from the
benchmark's `evaluation/evaluator.py`: a checkout (`--lamp-qa-repo PATH` or `$LAMP_QA_REPO`), else a one-time
download at the pinned commit into pr2's cache, checked against its sha256.

What the benchmark does (evaluator.py at 504410d0), and pr2 with it:
- one conversation per (question, aspect): a system message (its instructions) and a user message (question,
  details = narrative, response, and the aspect block: aspect, reason, evidence);
- sampling: temperature 0.0, top_p 0.95, max_tokens 4096;
- parsing: ```json fences removed, `json.loads(strict=False)` then json5, the field `match_score`;
- retries: unreadable pairs go again; after each round the temperature rises by 0.1 while below 1.0 (float
  accumulation: 0.1, 0.2, 0.30000000000000004, ..., 0.9999999999999999, then 1.0999999999999999 for good); a pair
  still unreadable after round 101 scores 0;
- aggregation: a question scores sum / (2 x aspects); the file score is the mean over questions.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache

import json5

from pr2.data.benchmark_code import benchmark_file, module_strings

# The logprob mode's prefill: the answer the system prompt asks for, up to the digit of the score.
LOGPROB_PREFILL = '```json\n{"match_score": '


@dataclass(frozen=True)
class LampQAJudgePrompt:
    """The benchmark's judge conversation, read from its evaluator.py."""

    system: str
    user: str
    source: str

    @classmethod
    @cache
    def load(cls, repo: str | None = None) -> LampQAJudgePrompt:
        path = benchmark_file("evaluation/evaluator.py", repo)
        texts = module_strings(path, ("_EVAL_PROMPT_SYSTEM", "_EVAL_PROMPT_USER"))
        return cls(texts["_EVAL_PROMPT_SYSTEM"], texts["_EVAL_PROMPT_USER"], str(path))

    def messages(self, question: str, details: str, response: str, aspect: str, reason: str, evidence: str):
        block = f"-aspect: {aspect}\n    -reason: {reason}\n    -evidence: {evidence}"  # evaluator.py's layout
        user = self.user.format(question=question, details=details, response=response, aspects=block)
        return [{"role": "system", "content": self.system}, {"role": "user", "content": user}]


def parse_match_score(text: str):
    """The benchmark's reading of a judge answer: fences removed, strict=False JSON then json5, `match_score`.
    Returns the score (a number, as the benchmark sums it) or None where the benchmark would retry."""
    body = text.replace("```json", "").replace("```", "").strip()
    try:
        obj = json.loads(body, strict=False)
    except ValueError:
        try:
            obj = json5.loads(body)
        except ValueError:
            return None
    try:
        score = obj["match_score"]
    except (TypeError, KeyError, IndexError):
        return None
    # The benchmark adds the value as it is; a value it could not add would crash it: pr2 retries those instead.
    if isinstance(score, bool) or not isinstance(score, int | float):
        return None
    return score


def temperatures(rounds: int) -> list[float]:
    """The temperature of each round, accumulated as the benchmark does (from 0.0, +0.1 while below 1.0)."""
    out, temperature = [], 0.0
    for _ in range(rounds):
        out.append(temperature)
        if temperature < 1.0:
            temperature += 0.1
    return out
