"""How far copying the user's posts gets on the demo's 60 held-out users, and how much of each row's score is copying.

    python scripts/copy_posts_baseline.py [--demo runs/laptop-heldout]

Rule rows (no model, no learning): rank every held-out user's profile by their question (MiniLM, as the agent
searches), take a window of that ranking and write its posts, each cut to the agent's 32 tokens a post, as the
answer: what a policy that searches with the question three times (a search never shows a post twice) and then
copies what it was shown would write. "answer cap 48" cuts that answer to the laptop recipe's 48-token turn. Then
the profile-free attacks (the question echoed, every training user's value listed) and, when `--demo` names the
folder of `pr2 demo --limit 0`, the demo's own rows from their saved answers.

Two scores per row, both this generated benchmark's fact judge (never LaMP-QA scores): as the judge scores today (a
value counts when the answer states it, not only inside a run of COPY_RUN or more further words copied verbatim
from the post that holds it, and no other value of its facet: `pr2.judge.fact`), and with copies paid, as the judge
scored before it had the copy check (the gap is what that judge paid for pasting).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

TRAIN = "data/synth/train.jsonl"  # pr2 synth --output data/synth --users 300 --seed 0
WINDOWS = ((0, 3, 48), (0, 3, None), (6, 9, 48), (0, 9, 48), (0, 9, None))  # (first rank, end rank, token cap)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--demo", type=Path, default=Path("runs/laptop-heldout"), help="pr2 demo --limit 0's folder")
    args = parser.parse_args()

    from transformers import AutoTokenizer

    from pr2.data.io import load_questions
    from pr2.demo import heldout_questions
    from pr2.generation.models import bundled_smollm2
    from pr2.judge.fact import judge_fact
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

    def judged(q, answer: str, copy_check: bool) -> float:
        posts = {p.id: p.text for p in q.profile}
        per_aspect = []
        for a in q.rubric_aspects:
            fact = a.extra["fact"]
            source = posts[fact["post"]] if copy_check else ""
            per_aspect.append(judge_fact(answer, fact["phrases"], fact["facet"], source)[0])
        return float(question_score(per_aspect))

    def row(name: str, cap: int | None, answers: list[str]) -> None:
        cells = []
        for copy_check in (True, False):
            per_question = [judged(q, a, copy_check) for q, a in zip(questions, answers, strict=True)]
            low, high = bootstrap_interval(per_question)
            cells.append(f"{sum(per_question) / len(per_question):.3f} [{low:.3f}, {high:.3f}]")
        print(f"| {name} | {cap or 'none'} | {cells[0]} | {cells[1]} |")

    print("| answer | answer cap | fact [95% CI] | copies paid (judge before its copy check) |\n|---|---|---|---|")
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
