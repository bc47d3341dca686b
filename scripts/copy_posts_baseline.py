"""How far copying the user's posts gets on the demo's 60 held-out users, and how much of each row's score is copying.

    python scripts/copy_posts_baseline.py [--demo runs/laptop-heldout]

Rule rows (no model, no learning): rank every held-out user's profile by their question (MiniLM, as the agent
searches), take a window of that ranking and write its posts, each cut to the agent's 32 tokens a post, as the
answer: what a policy that searches with the question three times (a search never shows a post twice) and then
copies what it was shown would write. "answer cap 48" cuts that answer to the laptop recipe's 48-token turn. Then
the profile-free attacks (the question echoed, every training user's value listed) and, when `--demo` names the
folder of `pr2 demo --limit 0`, the demo's own rows from their saved answers.

Two scores per row, both this generated benchmark's fact judge (never LaMP-QA scores): as judged (a value counts
when the answer states it and no other value of its facet), and with copies excluded (a stated value does not count
when every place the answer states it sits in a run of at least COPY_RUN more words copied verbatim from the post
that holds it). The gap is what the judge pays for copying.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

TRAIN = "data/synth/train.jsonl"  # pr2 synth --output data/synth --users 300 --seed 0
WINDOWS = ((0, 3, 48), (0, 3, None), (6, 9, 48), (0, 9, 48), (0, 9, None))  # (first rank, end rank, token cap)
COPY_RUN = 4  # words copied around the value, beyond the value's own: "lower back pain" alone is not a copy


def words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def copied(response: str, phrase: str, post: str) -> bool:
    """True when every occurrence of `phrase` in `response` extends, word for word, COPY_RUN or more words further
    into an occurrence of it in `post` (counted on both sides)."""
    r, p, f = words(response), words(post), words(phrase)
    at_r = [i for i in range(len(r) - len(f) + 1) if r[i : i + len(f)] == f]
    at_p = [j for j in range(len(p) - len(f) + 1) if p[j : j + len(f)] == f]
    if not at_r or not at_p:
        return False

    def run(i: int, j: int) -> int:
        left = 0
        while i - left > 0 and j - left > 0 and r[i - left - 1] == p[j - left - 1]:
            left += 1
        right = 0
        while (
            i + len(f) + right < len(r)
            and j + len(f) + right < len(p)
            and r[i + len(f) + right] == p[j + len(f) + right]
        ):
            right += 1
        return left + right

    return all(max(run(i, j) for j in at_p) >= COPY_RUN for i in at_r)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--demo", type=Path, default=Path("runs/laptop-heldout"), help="pr2 demo --limit 0's folder")
    args = parser.parse_args()

    from transformers import AutoTokenizer

    from pr2.data.io import load_questions
    from pr2.demo import heldout_questions
    from pr2.generation.models import bundled_smollm2
    from pr2.judge.fact import judge_fact, states
    from pr2.judge.scoring import bootstrap_interval, question_score
    from pr2.retrieval.base import rank_order
    from pr2.retrieval.registry import load_retriever

    tokenizer = AutoTokenizer.from_pretrained(bundled_smollm2())
    questions = heldout_questions(None)
    scores = load_retriever("minilm").score_many(
        [q.question for q in questions], [[p.text for p in q.profile] for q in questions]
    )

    def cut(text: str, tokens: int | None) -> str:
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        return text if tokens is None or len(ids) <= tokens else tokenizer.decode(ids[:tokens])

    def judged(q, answer: str, exclude_copies: bool) -> float:
        posts = {p.id: p.text for p in q.profile}
        per_aspect = []
        for a in q.rubric_aspects:
            fact = a.extra["fact"]
            score, _ = judge_fact(answer, fact["phrases"], fact["facet"])
            if score and exclude_copies and copied(answer, states(answer, fact["phrases"]), posts[fact["post"]]):
                score = 0.0
            per_aspect.append(score)
        return float(question_score(per_aspect))

    def row(name: str, cap: int | None, answers: list[str]) -> None:
        cells = []
        for exclude in (False, True):
            per_question = [judged(q, a, exclude) for q, a in zip(questions, answers, strict=True)]
            low, high = bootstrap_interval(per_question)
            cells.append(f"{sum(per_question) / len(per_question):.3f} [{low:.3f}, {high:.3f}]")
        print(f"| {name} | {cap or 'none'} | {cells[0]} | {cells[1]} |")

    print("| answer | answer cap | fact [95% CI] | copies excluded [95% CI] |\n|---|---|---|---|")
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
    for folder in sorted(args.demo.glob("*/responses.json")) if args.demo.is_dir() else ():
        saved = json.loads(folder.read_text())
        row(f"demo row `{folder.parent.name}`", 48, [saved[q.id][0]["output"] for q in questions])


if __name__ == "__main__":
    main()
