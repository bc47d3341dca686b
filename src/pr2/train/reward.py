"""The personalized reward: the judge's LaMP-QA score of the final answer against that question's rubric aspects.

A trajectory without an answer scores 0. Three more functions with weight 0 only log (TRL reports every reward
function's mean): searches per trajectory, answer rate, and r - r_np.
"""

from __future__ import annotations

from collections.abc import Callable

from pr2.data.schema import Question
from pr2.judge.judge import Judge, Pair
from pr2.judge.scoring import question_score


def answer_reward(question: Question, answer: str, judge: Judge) -> float:
    if not answer.strip() or not question.rubric_aspects:
        return 0.0
    pairs = [
        Pair(question.question, question.narrative, answer, a.aspect, a.reason, a.evidence)
        for a in question.rubric_aspects
    ]
    return float(question_score([j.score for j in judge.judge(pairs)]))


class RewardFunctions:
    """The reward function TRL optimises plus the logging-only ones; remembers the last rewards for the advantage."""

    def __init__(self, questions: dict[str, Question], judge: Judge, r_np: dict[str, float]) -> None:
        self.questions, self.judge, self.r_np = questions, judge, r_np
        self.last_rewards: list[float] = []
        self.last_ids: list[str] = []
        self.last_judge_seconds = 0.0

    def functions(self) -> tuple[list[Callable], list[float]]:
        def personalized_reward(prompts, completions, answer, question_id, **_):
            self.last_ids = list(question_id)
            self.last_rewards = [
                answer_reward(self.questions[q], a, self.judge) for q, a in zip(question_id, answer, strict=True)
            ]
            return self.last_rewards

        def r_minus_r_np(prompts, completions, question_id, **_):
            return [r - self.r_np.get(q, 0.0) for r, q in zip(self.last_rewards, question_id, strict=True)]

        def searches_per_trajectory(prompts, completions, searches, **_):
            return [float(s) for s in searches]

        def answer_rate(prompts, completions, ended, **_):
            return [float(e == "answer") for e in ended]

        return [personalized_reward, r_minus_r_np, searches_per_trajectory, answer_rate], [1.0, 0.0, 0.0, 0.0]
