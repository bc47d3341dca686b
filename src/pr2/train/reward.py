"""The personalized reward: the judge's LaMP-QA score of each final answer against its question's rubric aspects.

All answers of a step go to the judge in one call (every answer × aspect pair at once), so a judge behind a server
gets them together. A trajectory without an answer scores 0.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pr2.data.schema import Question
from pr2.errors import PR2Error
from pr2.judge.judge import Judge, Pair
from pr2.judge.scoring import question_score


def answer_rewards(questions: Sequence[Question], answers: Sequence[str], judge: Judge) -> list[float]:
    """The reward of each (question, answer): mean over the question's aspects of score / 2, judged in one call."""
    pairs: list[Pair] = []
    spans: list[tuple[int, int] | None] = []
    for q, answer in zip(questions, answers, strict=True):
        if not answer.strip() or not q.rubric_aspects:
            spans.append(None)
            continue
        start = len(pairs)
        pairs += [Pair.of(q, a, answer) for a in q.rubric_aspects]
        spans.append((start, len(pairs)))
    scores = [j.score for j in judge.judge(pairs)] if pairs else []
    return [0.0 if span is None else float(question_score(scores[span[0] : span[1]])) for span in spans]


PERSONALIZED, R_NP, JUDGED = "personalized", "r_np", "judged"
"""Names of the reward columns the step reads (the advantage, the rollout log)."""


@dataclass(frozen=True)
class RewardColumn:
    """One column TRL computes per completion: a named reward function and its weight in the optimised reward."""

    name: str
    func: Callable
    weight: float = 0.0


def column(columns: Sequence[RewardColumn], name: str) -> int:
    """The position of a named column in TRL's reward matrix (the order `columns` gave TRL)."""
    return next(i for i, c in enumerate(columns) if c.name == name)


def evidence_posts(question: Question) -> set[str]:
    """The posts a generated benchmark's aspects name as their evidence (`fact.post`); empty elsewhere."""
    return {a.extra["fact"]["post"] for a in question.rubric_aspects if a.extra.get("fact", {}).get("post")}


def question_reach(questions: Sequence[Question], retriever, depth: int) -> dict[str, set[str]]:
    """Per question, the posts its own words find: the top `depth` posts of the question's ranking (depth = top_k x
    max_searches, everything a policy that only ever searched with the question would see)."""
    from pr2.retrieval.base import rank_order

    scores = retriever.score_many([q.question for q in questions], [[p.text for p in q.profile] for q in questions])
    return {q.id: {q.profile[i].id for i in rank_order(s)[:depth]} for q, s in zip(questions, scores, strict=True)}


def evidence_targets(
    questions: Sequence[Question], retriever, depth: int, reach: dict[str, set[str]] | None = None
) -> dict[str, set[str]]:
    """Per question, its evidence posts that the question's own words do not find (outside `question_reach`, given
    or computed). The bonus pays for these only, so echoing the question earns none of it."""
    reach = question_reach(questions, retriever, depth) if reach is None else reach
    return {q.id: evidence_posts(q) - reach[q.id] for q in questions}


def bonus_scope(questions: Sequence[Question], retriever, agent) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """(targets, reach) for the evidence bonus of an agent's episodes, the profiles ranked once: the question's reach
    is its top top_k x max_searches posts, the targets its evidence posts outside it."""
    depth = agent.top_k * agent.max_searches
    reach = question_reach(questions, retriever, depth)
    return evidence_targets(questions, retriever, depth, reach), reach


def evidence_share(question: Question, retrieved: Sequence[Sequence[str]], targets: set[str] | None = None) -> float:
    """Share of the question's evidence posts (or of `targets`, a subset of them) that the episode retrieved."""
    wanted = evidence_posts(question) if targets is None else targets
    found = {i for ids in retrieved for i in ids}
    return len(wanted & found) / len(wanted) if wanted else 0.0


def chance_share(question: Question, retrieved: Sequence[Sequence[str]], reach: set[str] = frozenset()) -> float:
    """The share of any set of the question's posts outside `reach` (the targets lie there) that the same number of
    distinct posts outside `reach`, drawn at random, would retrieve in expectation: what a search that knows nothing
    (a fixed query, "a short query") finds. Posts inside `reach` neither count nor cost: a search that retrieves
    what the question's own words find is not below chance, it only finds no target."""
    found = {i for ids in retrieved for i in ids} - reach
    population = len(question.profile) - len(reach & {p.id for p in question.profile})
    return min(1.0, len(found) / population) if population > 0 else 0.0


def evidence_search_share(question: Question, retrieved: Sequence[Sequence[str]]) -> float:
    """Share of the episode's searches that retrieved at least one evidence post (0 for an episode without any)."""
    wanted = evidence_posts(question)
    return sum(bool(wanted & set(ids)) for ids in retrieved) / len(retrieved) if retrieved else 0.0


def check_evidence(questions: dict[str, Question], needed_by: str = "evidence_bonus") -> None:
    """A generated benchmark is needed (by the evidence bonus, or the laptop recipe): every question's aspects must
    name their evidence post."""
    missing = [q.id for q in questions.values() if not evidence_posts(q)]
    if missing:
        fix = "set evidence_bonus: 0" if needed_by == "evidence_bonus" else "train on a pr2 synth benchmark"
        raise PR2Error(
            f"{needed_by} needs questions whose aspects name their evidence post (a pr2 synth benchmark); "
            f"question {missing[0]!r} (and {len(missing) - 1} more) has none: {fix}"
        )


def reward_columns(
    questions: dict[str, Question],
    judge: Judge,
    r_np: dict[str, float],
    evidence_bonus: float = 0.0,
    targets: dict[str, set[str]] | None = None,
    *,
    needs_answer: bool = False,
    above_chance: bool = False,
    reach: dict[str, set[str]] | None = None,
) -> list[Callable]:
    """TRL's reward columns, by name: the personalized reward (weight 1, the only one optimised), then columns that
    only inform the step and the logs (weight 0): r_np, searches per trajectory, answer rate, the judged reward, the
    share of evidence posts retrieved, the share of searches that found one. `evidence_bonus` (generated benchmarks
    only) adds w x the share of `targets` (see `evidence_targets`; default: every evidence post) retrieved to the
    judged reward (0: the paper's reward); with `needs_answer`, only for episodes that ended with an answer (an
    episode without one still bears a negative bonus: leaving the question unanswered is no escape from it); with
    `above_chance`, less the share a random draw of as many posts would find (`chance_share`, outside `reach`, the
    posts the question's own words find, which hold no target; default: none)."""
    if evidence_bonus:
        check_evidence(questions)
    last: dict[tuple, list[float]] = {}  # the judge's verdicts on the latest completions, by what was judged

    def judged_part(question_id, answer) -> list[float]:
        """The judge's reward of these answers: judged once, whichever column asks first (TRL's order is not
        relied on); only the latest batch is kept."""
        key = (tuple(question_id), tuple(answer))
        if key not in last:
            last.clear()
            last[key] = answer_rewards([questions[q] for q in question_id], answer, judge)
        return last[key]

    def personalized_reward(prompts, completions, answer, question_id, retrieved=None, ended=None, **_):
        judged = judged_part(question_id, answer)
        if not evidence_bonus:
            return judged
        shares = [
            evidence_share(questions[q], r, None if targets is None else targets[q])
            for q, r in zip(question_id, retrieved, strict=True)
        ]
        if above_chance:  # a question with nothing to find (no target) pays and costs nothing
            shares = [
                s - chance_share(questions[q], r, reach[q] if reach else frozenset())
                if targets is None or targets[q]
                else 0.0
                for s, q, r in zip(shares, question_id, retrieved, strict=True)
            ]
        if needs_answer:
            shares = [s if e == "answer" else min(s, 0.0) for s, e in zip(shares, ended, strict=True)]
        return [j + evidence_bonus * e for j, e in zip(judged, shares, strict=True)]

    def judged_reward(prompts, completions, answer, question_id, **_):
        return judged_part(question_id, answer)

    def r_np_baseline(prompts, completions, question_id, **_):
        return [r_np.get(q, 0.0) for q in question_id]

    def searches_per_trajectory(prompts, completions, searches, **_):
        return [float(s) for s in searches]

    def answer_rate(prompts, completions, ended, **_):
        return [float(e == "answer") for e in ended]

    def evidence_retrieved(prompts, completions, question_id, retrieved, **_):
        return [evidence_share(questions[q], r) for q, r in zip(question_id, retrieved, strict=True)]

    def searches_finding_evidence(prompts, completions, question_id, retrieved, **_):
        return [evidence_search_share(questions[q], r) for q, r in zip(question_id, retrieved, strict=True)]

    return [
        RewardColumn(PERSONALIZED, personalized_reward, weight=1.0),
        RewardColumn(R_NP, r_np_baseline),
        RewardColumn("searches", searches_per_trajectory),
        RewardColumn("answer_rate", answer_rate),
        RewardColumn(JUDGED, judged_reward),
        RewardColumn("evidence_retrieved", evidence_retrieved),
        RewardColumn("searches_finding_evidence", searches_finding_evidence),
    ]
