"""A small task where searching the profile is what earns reward (the learning and warm-start tests use it).

Each user's profile holds one post with a fact no one could guess (they play the bagpipes; they dream of Iceland)
among unrelated posts. The rubric's one aspect is met only when the answer names that fact, so an answer written
without searching scores 0, and one that searched and used what it found scores 1.
"""

from __future__ import annotations

import pytest

from pr2.data.io import write_questions
from pr2.data.schema import Aspect, ProfileItem, Question
from pr2.judge.judge import Judge, JudgeConfig, Judgement

UNRELATED_POSTS = [
    "My car squeals when turning in cold weather.",
    "Best way to fold a fitted sheet?",
    "Is a standing desk worth it for back pain?",
    "How often should I water a snake plant?",
]
USERS = [
    ("bagpiper", "Which instrument should I learn next?", "I have played the bagpipes for ten years.", "bagpipe"),
    ("iceland", "Where should I go on holiday this summer?", "I have always dreamed of visiting Iceland.", "Iceland"),
]


def fact_task() -> list[Question]:
    questions = []
    for qid, question, fact, word in USERS:
        profile = [ProfileItem(f"{qid}-{i}", text) for i, text in enumerate(UNRELATED_POSTS)]
        profile.insert(2, ProfileItem(f"{qid}-fact", fact))
        aspect = Aspect(word, f"The answer should build on this: {fact}", word)
        questions.append(
            Question(
                qid, question, fact, profile, [aspect], category="Lifestyle_and_Personal_Development", split="train"
            )
        )
    return questions


class FactJudge(Judge):
    """Scores an aspect 2 when the answer names its evidence word, else 0: exact, so the test measures learning."""

    mode = "fact"

    def __init__(self) -> None:
        super().__init__(JudgeConfig(model="fact-word"))

    def input_text(self, pair) -> str:
        return f"{pair.response}\x1e{pair.evidence}"

    def _judge_uncached(self, pairs, texts):
        return [Judgement(2.0 if p.evidence.lower() in p.response.lower() else 0.0) for p in pairs]


@pytest.fixture
def fact_task_file(tmp_path):
    path = tmp_path / "fact-task.json"
    write_questions(path, fact_task())
    return path


# Short episodes (one search, one post) keep a GRPO step near 50 s on 2 cores; 0.7/0.9 keeps SmolLM2 coherent.
FAST_EPISODES = [
    "agent.max_model_len=500",
    "max_completion_length=500",
    "agent.max_turn_tokens=48",
    "agent.max_searches=1",
    "agent.top_k=1",
    "agent.item_tokens=32",
    "temperature=0.7",
    "top_p=0.9",
]
