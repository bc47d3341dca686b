"""Score a `pr2 train` run's exact policy on the demo's 60 held-out users (the laptop benchmark's test split).

    python scripts/score_heldout.py RUN_DIR [--base DIR] [--output DIR]

The policy is exactly what training ran: its start model (RUN_DIR/warm-start, else the run's `model`, or --base)
with GRPO's own adapter (RUN_DIR/final), run greedily with the agent settings the adapter carries. Prints one line of
the demo's table (fact judge with a 95% bootstrap interval, evidence retrieved, searches) and writes summary.json; two
runs scored this way (e.g. two advantage estimators from the same warm start) compare on equal terms. Scores are this
generated benchmark's fact judge, never LaMP-QA scores.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from pr2.data.io import write_json_atomic


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--base", help="the model GRPO started from (default: RUN_DIR/warm-start, else its config's)")
    parser.add_argument("--output", type=Path, help="default: RUN_DIR-heldout-exact")
    args = parser.parse_args()
    print(json.dumps(score_heldout(args.run_dir, args.base, args.output)))


def score_heldout(run: Path, base: str | None = None, out: Path | None = None) -> dict:
    from pr2.agent.run import run_agent_file
    from pr2.agent.settings import agent_config_for
    from pr2.data.fingerprint import model_identity
    from pr2.demo import DTYPE, evidence_found, heldout_questions, retrieved_by_question, reuse_or_redo
    from pr2.generation import GeneratorConfig, load_generator
    from pr2.judge import JudgeConfig, build_judge
    from pr2.judge.evaluate import score_and_write
    from pr2.train.reward import evidence_posts

    out = out or run.with_name(run.name + "-heldout-exact")
    if base is None:
        base = str(run / "warm-start") if (run / "warm-start").exists() else _config(run)["model"]
    agent = agent_config_for(run / "final", {"temperature": 0.0, "top_p": 1.0, "seed": 0})
    questions = heldout_questions(None)
    policy = load_generator(GeneratorConfig(model=base, adapter=str(run / "final"), dtype=DTYPE))
    # a folder made by another policy (the run trained on, a new adapter) is started over, not resumed
    made_by = {
        "policy": model_identity(base, "hf", None, run / "final"),
        "dtype": DTYPE,
        "data": [q.id for q in questions],
    }
    result = reuse_or_redo(
        run_agent_file, questions, out, policy, agent, fingerprint=made_by, desc=f"{run.name} (exact policy)"
    )
    trajectories = result.trajectories
    answers = {t.question_id: t.answer for t in trajectories}
    report = score_and_write(questions, answers, out / "scores.json", build_judge(JudgeConfig(mode="fact")))
    searches = [len(t.searches) for t in trajectories]
    by_id = {q.id: q for q in questions}
    hits = [bool(set(ids) & evidence_posts(by_id[t.question_id])) for t in trajectories for ids in t.retrieved_ids]
    summary = {
        "run": str(run),
        "advantage": _config(run)["advantage"],
        "steps": sum(1 for _ in (run / "metrics.jsonl").open()),
        "fact": report.micro,
        "fact_interval": list(report.interval()),
        "evidence_retrieved": evidence_found(questions, retrieved_by_question(trajectories)),
        "searches_per_trajectory": sum(searches) / len(searches),
        "searches_finding_evidence": sum(hits) / len(hits) if hits else 0.0,
        "answered": sum(t.ended == "answer" for t in trajectories) / len(trajectories),
        "note": "pr2 synth fact judge on the 60 held-out users, greedy; not a LaMP-QA score",
    }
    write_json_atomic(out / "summary.json", summary)
    return summary


def _config(run: Path) -> dict:
    return json.loads((run / "pr2-train-config.json").read_text(encoding="utf-8"))


if __name__ == "__main__":
    main()
