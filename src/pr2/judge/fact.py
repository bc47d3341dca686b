"""The fact judge of a generated benchmark (`pr2 synth`): an aspect scores 2 when the answer states its fact, else 0.

Exact and instant: each aspect of such a benchmark carries the phrases that state its fact (any one of them, matched
as whole words, case-insensitively). It checks that benchmark only; its scores are never LaMP-QA scores, and every
output that carries them says so.
"""

from __future__ import annotations

import re

from pr2.errors import PR2Error
from pr2.judge.judge import Judge, Judgement, Pair

NOTE = (
    "FACT CHECK of a generated pr2 synth benchmark: an aspect scores 2 when the answer states its fact, else 0; "
    "not a LaMP-QA score"
)


def states(response: str, phrases) -> str | None:
    """The first phrase the response states (whole words, any case), else None."""
    for phrase in phrases:
        if re.search(r"(?<!\w)" + re.escape(phrase.lower()) + r"(?!\w)", response.lower()):
            return phrase
    return None


class FactJudge(Judge):
    mode = "fact"
    protocol = "pr2-synth"

    def describe(self) -> dict:
        return {"model": "fact", "mode": self.mode, "protocol": self.protocol, "proxy": False, "note": NOTE}

    def input_text(self, pair: Pair) -> str:
        return "\x1e".join([pair.response, *pair.fact])

    def _judge_uncached(self, pairs: list[Pair], texts: list[str]) -> list[Judgement]:
        out = []
        for pair in pairs:
            if not pair.fact:
                raise PR2Error(
                    f"aspect {pair.aspect!r} carries no fact (its 'fact' field): the fact judge checks datasets made "
                    "by pr2 synth"
                )
            found = states(pair.response, pair.fact)
            out.append(Judgement(2.0 if found else 0.0, f"states {found!r}" if found else "fact not stated"))
        return out
