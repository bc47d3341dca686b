"""What an answer prefill changes on the demo's 60 held-out users (the laptop benchmark's test split).

    python scripts/answer_prefill_ceiling.py [--prefill "About you:"] [--output DIR]

Rows, each greedy with the demo's budgets, plain and then with the prefill: the oracle (the base SmolLM2 shown only
each user's evidence posts: the answer stage's ceiling) and RAG (its top posts for the question); then the shipped
trained policy with the prefill at inference (it was trained without one). Scores: this generated benchmark's fact
judge with 95% bootstrap intervals, never LaMP-QA scores.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prefill", default="About you:")
    parser.add_argument("--output", type=Path, default=Path("runs/answer-prefill"))
    args = parser.parse_args()

    from pr2.agent.run import run_agent_file
    from pr2.baselines import run_baseline
    from pr2.demo import (
        ASSETS,
        DTYPE,
        ORACLE,
        RAG,
        TRAINED_AGENT,
        evidence_found,
        heldout_questions,
        oracle_questions,
        retrieved_by_question,
    )
    from pr2.generation import GeneratorConfig, load_generator
    from pr2.judge import JudgeConfig, build_judge
    from pr2.judge.evaluate import score_and_write

    questions = heldout_questions(None)
    judge = build_judge(JudgeConfig(mode="fact"))
    args.output.mkdir(parents=True, exist_ok=True)

    def show(name: str, answers: dict[str, str], extra: str = "") -> None:
        report = score_and_write(questions, answers, args.output / f"{name}.json", judge)
        low, high = report.interval()
        print(f"{name}: fact {report.micro:.3f} [{low:.3f}, {high:.3f}]{extra}", flush=True)

    base = load_generator(GeneratorConfig(model="smollm2", dtype=DTYPE))
    for name, config, asked in (("oracle", ORACLE, oracle_questions(questions)), ("rag", RAG, questions)):
        for prefill in (None, args.prefill):
            outputs = run_baseline(asked, base, replace(config, answer_prefill=prefill))
            show(f"{name}{'-prefill' if prefill else ''}", {o.id: o.answer for o in outputs})
    trained = load_generator(GeneratorConfig(model="smollm2", adapter=str(ASSETS / "adapter"), dtype=DTYPE))
    agent = replace(TRAINED_AGENT, answer_prefill=args.prefill)
    result = run_agent_file(questions, args.output / "trained-prefill", trained, agent, overwrite=True, progress=False)
    runs = result.trajectories
    evidence = evidence_found(questions, retrieved_by_question(runs))
    searches = sum(len(t.searches) for t in runs) / len(runs)
    show(
        "trained-prefill",
        {t.question_id: t.answer for t in runs},
        f", evidence {evidence:.0%}, {searches:.2f} searches",
    )


if __name__ == "__main__":
    main()
