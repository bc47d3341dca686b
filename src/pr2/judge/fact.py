"""The fact judge of a generated benchmark (`pr2 synth`): an aspect scores 2 when the answer states this user's
value of the facet and no other value of it, else 0.

Exact and instant: each aspect of such a benchmark carries the phrases that state its fact (any one of them, matched
as whole words, case-insensitively) and its facet; the other values of that facet come from the benchmark's
catalogue (`pr2.data.synth.FACETS`, never from the data files, which hold no held-out value in training). Naming
several values is guessing, and scores nothing. It checks that benchmark only; its scores are never LaMP-QA
scores, and every output that carries them says so.
"""

from __future__ import annotations

import re

from pr2.errors import PR2Error
from pr2.judge.judge import Judge, Judgement, Pair

NOTE = (
    "FACT CHECK of a generated pr2 synth benchmark: an aspect scores 2 when the answer states this user's value "
    "and no other value of the facet, else 0; not a LaMP-QA score"
)


def states(response: str, phrases) -> str | None:
    """The first phrase the response states (whole words, any case), else None."""
    for phrase in phrases:
        if re.search(r"(?<!\w)" + re.escape(phrase.lower()) + r"(?!\w)", response.lower()):
            return phrase
    return None


def other_values(facet: str, phrases) -> list[tuple[str, ...]]:
    """Every value of the facet in the pr2 synth catalogue except the one these phrases state."""
    from pr2.data.synth import facet_of

    found = facet_of(facet)
    if found is None:
        return []
    own = {p.lower() for p in phrases}
    return [v for v in found.values if not own & {p.lower() for p in v}]


def judge_fact(response: str, phrases, facet: str = "") -> tuple[float, str]:
    """(score, reason): 2 when the response states the fact and no other value of its facet."""
    found = states(response, phrases)
    if not found:
        return 0.0, "fact not stated"
    guesses = [hit for value in other_values(facet, phrases) if (hit := states(response, value))]
    if guesses:
        return 0.0, f"states {found!r} but also other {facet} values {guesses[:3]!r}: a guess, not a fact"
    return 2.0, f"states {found!r}"


class FactJudge(Judge):
    mode = "fact"
    protocol = "pr2-synth"

    def describe(self) -> dict:
        return {"model": "fact", "mode": self.mode, "protocol": self.protocol, "proxy": False, "note": NOTE}

    def input_text(self, pair: Pair) -> str:
        return "\x1e".join([pair.response, pair.facet, *pair.fact])

    def _judge_uncached(self, pairs: list[Pair], texts: list[str]) -> list[Judgement]:
        out = []
        for pair in pairs:
            if not pair.fact:
                raise PR2Error(
                    f"aspect {pair.aspect!r} carries no fact (its 'fact' field): the fact judge checks datasets made "
                    "by pr2 synth"
                )
            score, reason = judge_fact(pair.response, pair.fact, pair.facet)
            out.append(Judgement(score, reason))
        return out
