"""How far copying the user's posts gets on the demo's 60 held-out users, with no model and no learning.

    python scripts/copy_posts_baseline.py

Each row ranks every held-out user's profile by their question (MiniLM, as the agent searches), takes a window of
that ranking and writes the posts, each cut to the agent's 32 tokens a post, as the answer: what a policy that
searches with the question three times (a search never shows a post twice) and then copies what it was shown would
write. "answer cap 48" cuts that answer to the laptop recipe's 48-token turn. Scores: this generated benchmark's fact
judge (a value counts when the answer states it and no other value of its facet), never LaMP-QA scores. It measures
a weakness of that judge: a copied post states its value as well as an answer that uses it. The last two rows are
the profile-free attacks on the same users, for comparison: the question echoed, and every value of the training
users listed.
"""

from __future__ import annotations

TRAIN = "data/synth/train.jsonl"  # pr2 synth --output data/synth --users 300 --seed 0
WINDOWS = ((0, 3, 48), (0, 3, None), (6, 9, 48), (0, 9, 48), (0, 9, None))  # (first rank, end rank, token cap)


def main() -> None:
    from transformers import AutoTokenizer

    from pr2.data.io import load_questions
    from pr2.demo import heldout_questions
    from pr2.generation.models import bundled_smollm2
    from pr2.judge import JudgeConfig, build_judge
    from pr2.judge.scoring import bootstrap_interval
    from pr2.retrieval.base import rank_order
    from pr2.retrieval.registry import load_retriever
    from pr2.train.reward import answer_rewards

    tokenizer = AutoTokenizer.from_pretrained(bundled_smollm2())
    questions = heldout_questions(None)
    scores = load_retriever("minilm").score_many(
        [q.question for q in questions], [[p.text for p in q.profile] for q in questions]
    )
    judge = build_judge(JudgeConfig(model="fact", mode="fact"))

    def cut(text: str, tokens: int | None) -> str:
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        return text if tokens is None or len(ids) <= tokens else tokenizer.decode(ids[:tokens])

    def row(name: str, cap: int | None, answers: list[str]) -> None:
        per_question = answer_rewards(questions, answers, judge)
        low, high = bootstrap_interval(per_question)
        print(f"| {name} | {cap or 'none'} | {sum(per_question) / len(per_question):.3f} [{low:.3f}, {high:.3f}] |")

    print("| answer | answer cap | fact [95% CI] |\n|---|---|---|")
    for first, end, cap in WINDOWS:
        answers = [
            cut(
                "\n".join(f"[{i}] {cut(q.profile[j].text, 32)}" for i, j in enumerate(rank_order(s)[first:end], 1)), cap
            )
            for q, s in zip(questions, scores, strict=True)
        ]
        row(f"posts {first + 1}-{end} of the question's ranking, copied", cap, answers)
    row("the question echoed", None, [q.question for q in questions])
    values = sorted({p for q in load_questions(TRAIN) for a in q.rubric_aspects for p in a.extra["fact"]["phrases"]})
    row("every training user's value listed", None, [" ".join(values)] * len(questions))


if __name__ == "__main__":
    main()
