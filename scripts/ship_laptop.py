"""Release tooling: ship what `pr2 train --config configs/laptop.yaml` trained into a package assets folder.

    python scripts/ship_laptop.py RUN_DIR --into src/pr2/assets/laptop [--rank R] [--skip-heldout | --heldout-only]
    python scripts/ship_laptop.py --into src/pr2/assets/laptop --ablation "NAME=FOLDER" ...

Writes into --into (nothing is written anywhere unless it is given): adapter/ (one LoRA on the base SmolLM2,
`pr2 export-adapter`, with the agent settings it was trained with), metrics.jsonl, the curves (`pr2 report train`),
train-config.json (the run's saved config), and heldout.json: the demo's rows on all 60 held-out users
(`pr2 demo --limit 0`) with their per-question scores, which the short demo prints beside its own rows, and what
the export changes (the trained row against the run's exact policy, `pr2 heldout --run`). `--ablation` adds rows
scored by `pr2 heldout` (its folders' heldout-row.json) to heldout.json's ablation table.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

from pr2.data.io import write_json_atomic

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", nargs="?", type=Path)
    parser.add_argument("--into", type=Path, required=True, help="the assets folder to write (src/pr2/assets/laptop)")
    # 64 for stage 3: stage 2's 32, the warm start's 16 and GRPO's 16, so the export is the trained policy
    parser.add_argument("--rank", type=int, default=64)
    parser.add_argument("--skip-heldout", action="store_true")
    parser.add_argument("--heldout-only", action="store_true", help="only the held-out rows (assets already shipped)")
    parser.add_argument("--ablation", action="append", default=[], metavar="NAME=FOLDER", help="a pr2 heldout row")
    args = parser.parse_args()
    if args.ablation:
        return add_ablations(args.into, [item.split("=", 1) for item in args.ablation])
    if args.run_dir is None:
        parser.error("RUN_DIR is needed unless --ablation is given")
    run = args.run_dir
    if args.heldout_only:
        return heldout(run, args.into)
    ship_assets(run, args.into, args.rank)
    if not args.skip_heldout:
        # pr2.demo reads the shipped agent settings when it is imported: a fresh process sees the new ones
        subprocess.run([sys.executable, __file__, str(run), "--into", str(args.into), "--heldout-only"], check=True)


def ship_assets(run: Path, into: Path, rank: int) -> None:
    from pr2.report.train_plots import plot_training
    from pr2.train.export import export_adapter

    into.mkdir(parents=True, exist_ok=True)
    summary = export_adapter(run, into / "adapter", rank=rank, dtype="fp16")
    for name in TOKENIZER_FILES:  # the base model's own tokenizer serves; keep the package small
        (into / "adapter" / name).unlink(missing_ok=True)
    print("adapter:", json.dumps(summary))
    shutil.copyfile(run / "metrics.jsonl", into / "metrics.jsonl")
    shutil.copyfile(run / "pr2-train-config.json", into / "train-config.json")
    for png in plot_training(run):
        shutil.copyfile(png, into / png.name)
    adapter_settings = run / "final" / "pr2-agent.json"
    shutil.copyfile(adapter_settings, into / "adapter" / adapter_settings.name)  # pr2 run --adapter runs it as trained


def heldout(run: Path, into: Path) -> None:
    from pr2.demo import run_demo
    from pr2.heldout import exact_policy, score_policy

    result = run_demo(run.parent / "laptop-heldout", limit=None, adapter=into / "adapter")
    record = result["record"]
    model, adapter, agent = exact_policy(run)
    exact = score_policy(run.parent / (run.name + "-heldout-exact"), model=model, adapter=adapter, agent=agent)
    shipped = json.loads((run.parent / "laptop-heldout" / "pr2-trained" / "responses.json").read_text())
    answers = json.loads((run.parent / (run.name + "-heldout-exact") / "responses.json").read_text())
    record["export_check"] = {
        "exact_policy": {"fact": exact["fact"], "fact_interval": exact["fact_interval"]},
        "shipped_export": {k: record["rows"]["PR² trained"][k] for k in ("fact", "fact_interval")},
        "same_answers": sum(answers[qid][0]["output"] == entries[0]["output"] for qid, entries in shipped.items()),
    }
    write_json_atomic(into / "heldout.json", record)


def add_ablations(into: Path, items: list[list[str]]) -> None:
    from pr2.heldout import ROW_FILE

    shipped = json.loads((into / "heldout.json").read_text(encoding="utf-8"))
    ablations = shipped.setdefault("ablations", {})
    for name, folder in items:
        row = json.loads((Path(folder) / ROW_FILE).read_text(encoding="utf-8"))
        ablations[name] = row
        print(f"{name}: fact {row['fact']:.3f}, searches finding evidence {row['searches_finding_evidence']:.1%}")
    write_json_atomic(into / "heldout.json", shipped)


if __name__ == "__main__":
    main()
