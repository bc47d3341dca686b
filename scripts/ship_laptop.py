"""Ship what `pr2 train --config configs/laptop.yaml` trained into the package (src/pr2/assets/laptop/).

    python scripts/ship_laptop.py [RUN_DIR] [--rank R] [--skip-heldout | --heldout-only]

Writes: adapter/ (one LoRA on the base SmolLM2, `pr2 export-adapter`, with the agent settings it was trained with),
metrics.jsonl, the curves (`pr2 report train`), train-config.json (the run's saved config), and heldout.json: the
demo's five rows on all 60 held-out users (`pr2 demo --limit 0`) with their per-question scores, which the default
short demo prints beside its own rows, and what the export changes (the trained row with the exact policy).
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
    parser.add_argument("run_dir", nargs="?", default="runs/laptop")
    # 32: stage 1's rank-16 export plus GRPO's rank-16 adapter, so the export is the trained policy (at 16 the
    # shipped policy searched 2.35 times a question instead of 3 and kept 31 of 60 answers: README, "Stage 2")
    parser.add_argument("--rank", type=int, default=32)
    parser.add_argument("--skip-heldout", action="store_true")
    parser.add_argument("--heldout-only", action="store_true", help="only the held-out rows (assets already shipped)")
    args = parser.parse_args()
    run = Path(args.run_dir)
    if args.heldout_only:
        return heldout(run)
    ship_assets(run, args.rank)
    if not args.skip_heldout:
        # pr2.demo reads the shipped agent settings when it is imported: a fresh process sees the new ones
        subprocess.run([sys.executable, __file__, str(run), "--heldout-only"], check=True)


def ship_assets(run: Path, rank: int) -> None:
    from pr2.demo import ASSETS
    from pr2.report.train_plots import plot_training
    from pr2.train.export import export_adapter

    ASSETS.mkdir(parents=True, exist_ok=True)
    summary = export_adapter(run, ASSETS / "adapter", rank=rank, dtype="fp16")
    for name in TOKENIZER_FILES:  # the base model's own tokenizer serves; keep the package small
        (ASSETS / "adapter" / name).unlink(missing_ok=True)
    print("adapter:", json.dumps(summary))
    shutil.copyfile(run / "metrics.jsonl", ASSETS / "metrics.jsonl")
    shutil.copyfile(run / "pr2-train-config.json", ASSETS / "train-config.json")
    for png in plot_training(run):
        shutil.copyfile(png, ASSETS / png.name)
    adapter_settings = run / "final" / "pr2-agent.json"
    shutil.copyfile(
        adapter_settings, ASSETS / "adapter" / adapter_settings.name
    )  # pr2 run --adapter runs it as trained


def heldout(run: Path) -> None:
    from pr2.demo import ASSETS, run_demo

    result = run_demo(run.parent / "laptop-heldout", limit=None)
    record = result["record"]
    record["export_check"] = exact_policy_score(run)
    write_json_atomic(ASSETS / "heldout.json", record)


def exact_policy_score(run: Path) -> dict:
    """The trained row again with the exact trained policy (the merged warm start plus GRPO's own adapter, as
    training ran it), against the shipped rank-R export on the base model: what the export changes."""
    from score_heldout import exact_folder, score_heldout  # scripts/ is this script's own folder, so on its path

    exact = score_heldout(run)  # reused when `score_heldout.py RUN` already scored this policy
    answers = {qid: entries[0]["output"] for qid, entries in _responses(exact_folder(run)).items()}
    shipped = json.loads((run.parent / "laptop-heldout" / "heldout.json").read_text())["rows"]["PR² trained"]
    shipped_responses = _responses(run.parent / "laptop-heldout" / "pr2-trained")
    return {
        "exact_policy": {"fact": exact["fact"], "fact_interval": exact["fact_interval"]},
        "shipped_export": {"fact": shipped["fact"], "fact_interval": shipped["fact_interval"]},
        "same_answers": sum(answers[qid] == entries[0]["output"] for qid, entries in shipped_responses.items()),
    }


def _responses(folder: Path) -> dict:
    return json.loads((folder / "responses.json").read_text(encoding="utf-8"))


if __name__ == "__main__":
    main()
