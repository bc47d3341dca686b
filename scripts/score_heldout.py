"""Score a `pr2 train` run's exact policy on the demo's 60 held-out users (the laptop benchmark's test split).

    python scripts/score_heldout.py RUN_DIR [--base DIR] [--adapter RUN_DIR/checkpoint-N] [--output DIR]

The policy is exactly what training ran: its start model (RUN_DIR/warm-start, else the run's `model` with
its `start_adapter` merged, or --base)
with GRPO's own adapter (RUN_DIR/final, or a checkpoint of the run, so two runs compare at equal steps), run greedily
with the agent settings the run's final adapter carries (for a checkpoint of a run not yet finished: the settings in
its pr2-train-config.json, which it trains with). Prints one line of the
demo's table (fact judge with a 95% bootstrap interval, evidence retrieved, searches) and writes summary.json; two
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
    parser.add_argument("--adapter", type=Path, help="a checkpoint of the run (default: RUN_DIR/final)")
    parser.add_argument("--output", type=Path, help="default: RUN_DIR-heldout-exact (-checkpoint-N for a checkpoint)")
    args = parser.parse_args()
    print(json.dumps(score_heldout(args.run_dir, args.base, args.output, args.adapter)))


def score_heldout(run: Path, base: str | None = None, out: Path | None = None, adapter: Path | None = None) -> dict:
    from pr2.agent.protocol import AgentConfig
    from pr2.agent.run import run_agent_file
    from pr2.agent.settings import AGENT_FILE, agent_config_for
    from pr2.data.fingerprint import model_identity
    from pr2.demo import DTYPE, evidence_found, heldout_questions, retrieved_by_question, reuse_or_redo
    from pr2.generation import GeneratorConfig, load_generator
    from pr2.judge import JudgeConfig, build_judge
    from pr2.judge.evaluate import score_and_write
    from pr2.train.reward import evidence_posts

    adapter = adapter or run / "final"
    out = out or exact_folder(run, adapter)
    if base is None:
        base = str(run / "warm-start") if (run / "warm-start").exists() else start_model(run)
    greedy = {"temperature": 0.0, "top_p": 1.0, "seed": 0}
    if (run / "final" / AGENT_FILE).exists():
        agent = agent_config_for(run / "final", greedy)
    elif adapter != run / "final":  # a checkpoint of a run still training: the agent settings it trains with
        agent = AgentConfig(**{**_config(run)["agent"], **greedy})
    else:
        raise SystemExit(f"error: {run / 'final'} holds no {AGENT_FILE}: the run has not finished (pass --adapter)")
    questions = heldout_questions(None)
    policy = load_generator(GeneratorConfig(model=base, adapter=str(adapter), dtype=DTYPE))
    # a folder made by another policy (the run trained on, a new adapter) is started over, not resumed
    made_by = {
        "policy": model_identity(base, "hf", None, adapter),
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
        "adapter": str(adapter),
        "steps": _steps(run, adapter),
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


def start_model(run: Path) -> str:
    """The model GRPO started from when the run had no warm start: its `model`, with its `start_adapter` merged in
    (written once to RUN/start-merged, the full model in fp32, as a warm start is)."""
    config = _config(run)
    if not config.get("start_adapter"):
        return config["model"]
    folder = run / "start-merged"
    if not (folder / "config.json").exists():
        from pr2.data.io import remove_partial_folders, write_folder_atomic
        from pr2.train.config import TrainConfig
        from pr2.train.trainer import load_policy

        model, tokenizer = load_policy(TrainConfig(model=config["model"], start_adapter=config["start_adapter"]))
        remove_partial_folders(folder)  # a merge killed before: redone (this script is the folder's one writer)
        write_folder_atomic(folder, model, tokenizer)
    return str(folder)


def exact_folder(run: Path, adapter: Path | None = None) -> Path:
    """Where `score_heldout` writes a policy's answers by default: RUN-heldout-exact (-checkpoint-N for a checkpoint)."""
    suffix = "" if adapter in (None, run / "final") else "-" + adapter.name
    return run.with_name(run.name + "-heldout-exact" + suffix)


def _steps(run: Path, adapter: Path) -> int:
    state = adapter / "trainer_state.json"  # a checkpoint knows its step; final is the run's last
    if state.exists():
        return json.loads(state.read_text(encoding="utf-8"))["global_step"]
    return sum(1 for _ in (run / "metrics.jsonl").open())


def _config(run: Path) -> dict:
    return json.loads((run / "pr2-train-config.json").read_text(encoding="utf-8"))


if __name__ == "__main__":
    main()
