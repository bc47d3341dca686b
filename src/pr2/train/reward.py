"""The personalized reward: the judge's LaMP-QA score of each final answer against its question's rubric aspects.

All answers of a step go to the judge in one call (every answer × aspect pair at once), so a judge behind a server
gets them together. A trajectory without an answer scores 0.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from pr2.data.schema import Question
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


# The columns TRL computes per completion (its reward functions), in order; only the first is optimised.
PERSONALIZED, R_NP = 0, 1
REWARD_WEIGHTS = [1.0, 0.0, 0.0, 0.0, 0.0]


GROUNDING_CAP = 10
"""Words taken from the shown posts at which the grounding bonus is full."""


def reward_functions(
    questions: dict[str, Question], judge: Judge, r_np: dict[str, float], grounding_bonus: float = 0.0
) -> list[Callable]:
    """TRL's reward functions, weighted by REWARD_WEIGHTS: the personalized reward (weight 1), then columns that
    only inform the step and the logs (weight 0): r_np, searches per trajectory, answer rate, the judged reward. `grounding_bonus`
    adds w x min(grounding, GROUNDING_CAP) / GROUNDING_CAP to the judged reward (0: the paper's reward)."""

    judged: dict[int, list[float]] = {}  # the judge's part of this step's personalized reward, for its own column

    def personalized_reward(prompts, completions, answer, question_id, grounding=None, **_):
        judged[0] = answer_rewards([questions[q] for q in question_id], answer, judge)
        if not grounding_bonus:
            return judged[0]
        bonus = [grounding_bonus * min(g, GROUNDING_CAP) / GROUNDING_CAP for g in grounding]
        return [r + b for r, b in zip(judged[0], bonus, strict=True)]

    def judged_reward(prompts, completions, **_):
        return judged.pop(0)

    def r_np_baseline(prompts, completions, question_id, **_):
        return [r_np.get(q, 0.0) for q in question_id]

    def searches_per_trajectory(prompts, completions, searches, **_):
        return [float(s) for s in searches]

    def answer_rate(prompts, completions, ended, **_):
        return [float(e == "answer") for e in ended]

    return [personalized_reward, r_np_baseline, searches_per_trajectory, answer_rate, judged_reward]
