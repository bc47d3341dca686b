"""The fact judge of a generated benchmark (`pr2 synth`): an aspect scores 2 when the answer states this user's
value of the facet and no other value of it, else 0.

Exact and instant: each aspect of such a benchmark carries the phrases that state its fact (any one of them, matched
as whole words, case-insensitively) and its facet; the other values of that facet come from the benchmark's
catalogue (`pr2.data.synth.FACETS`, never from the data files, which hold no held-out value in training). Naming
several values is guessing, and scores nothing. Pasting is not personalizing either: a value counts only where the
answer states it in its own words, not inside a run of COPY_RUN or more further words copied verbatim from the post
that holds it (without this, answering with the last search's posts pasted whole scored 0.21 on held-out users, and
a policy trained on that judge learned to paste). It checks that benchmark only; its scores are never LaMP-QA
scores, and every output that carries them says so.
"""

from __future__ import annotations

import re

from pr2.errors import PR2Error
from pr2.judge.judge import Judge, Judgement, Pair

NOTE = (
    "FACT CHECK of a generated pr2 synth benchmark: an aspect scores 2 when the answer states this user's value, "
    "not pasted from the post that holds it, and no other value of the facet, else 0; not a LaMP-QA score"
)
PASTED = "only inside text pasted from the post that holds it"
"""How a judgement says a stated value was pasted (the demo lists such aspects apart)."""
COPY_RUN = 4
"""Words copied verbatim around a value (both sides counted, beyond the value's own) that make its statement a paste:
"since your lower back pain ..." states the value; "Health update for the forum: lower back pain, ..." copies it."""


def states(response: str, phrases) -> str | None:
    """The first phrase the response states (whole words, any case), else None."""
    for phrase in phrases:
        if re.search(r"(?<!\w)" + re.escape(phrase.lower()) + r"(?!\w)", response.lower()):
            return phrase
    return None


def words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def copied(response: str, phrase: str, post: str) -> bool:
    """True when every place `response` states `phrase` extends, word for word, COPY_RUN or more words further into a
    place `post` states it: the value was pasted with its post around it, not stated."""
    r, p, f = words(response), words(post), words(phrase)
    if not f:
        return False

    def places(seq: list[str]) -> list[int]:
        return [i for i in range(len(seq) - len(f) + 1) if seq[i : i + len(f)] == f]

    at_r, at_p = places(r), places(p)
    if not at_r or not at_p:
        return False

    def run(i: int, j: int) -> int:  # words shared on both sides of the two occurrences
        left = 0
        while i - left > 0 and j - left > 0 and r[i - left - 1] == p[j - left - 1]:
            left += 1
        right, end_r, end_p = 0, i + len(f), j + len(f)
        while end_r + right < len(r) and end_p + right < len(p) and r[end_r + right] == p[end_p + right]:
            right += 1
        return left + right

    return all(max(run(i, j) for j in at_p) >= COPY_RUN for i in at_r)


def other_values(facet: str, phrases) -> list[tuple[str, ...]]:
    """Every value of the facet in the pr2 synth catalogue except the one these phrases state."""
    from pr2.data.synth import facet_of

    found = facet_of(facet)
    if found is None:
        return []
    own = {p.lower() for p in phrases}
    return [v for v in found.values if not own & {p.lower() for p in v}]


def judge_fact(response: str, phrases, facet: str = "", source: str = "") -> tuple[float, str]:
    """(score, reason): 2 when the response states the fact, not only inside text pasted from `source` (the post that
    holds it; empty: no copy check), and no other value of its facet."""
    stated = [phrase for phrase in phrases if states(response, [phrase])]
    if not stated:
        return 0.0, "fact not stated"
    own_words = [phrase for phrase in stated if not (source and copied(response, phrase, source))]
    if not own_words:
        return 0.0, f"states {stated[0]!r} {PASTED}: a copy, not a fact"
    found = own_words[0]
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
        return "\x1e".join([pair.response, pair.facet, pair.source, *pair.fact])

    def _judge_uncached(self, pairs: list[Pair], texts: list[str]) -> list[Judgement]:
        out = []
        for pair in pairs:
            if not pair.fact:
                raise PR2Error(
                    f"aspect {pair.aspect!r} carries no fact (its 'fact' field): the fact judge checks datasets made "
                    "by pr2 synth"
                )
            score, reason = judge_fact(pair.response, pair.fact, pair.facet, pair.source)
            out.append(Judgement(score, reason))
        return out
