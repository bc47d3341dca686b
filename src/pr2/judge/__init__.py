"""The LaMP-QA rubric judge (generate, logprob and an embedding proxy), scoring and reports."""

from pr2.judge.judge import JudgeConfig, build_judge
from pr2.judge.scoring import ScoreReport, score_questions

__all__ = ["JudgeConfig", "ScoreReport", "build_judge", "score_questions"]
