"""Ship what `pr2 train --config configs/laptop.yaml` trained into the package (src/pr2/assets/laptop/).

    python scripts/ship_laptop.py [RUN_DIR] [--rank R] [--skip-heldout]

Writes: adapter/ (one LoRA on the base SmolLM2, `pr2 export-adapter`), metrics.jsonl, reward.png and searches.png
(`pr2 report train`), train-config.json (the run's saved config), and heldout.json: the demo's four rows on all
60 held-out users (`pr2 demo --limit 0`), which the default short demo prints beside its own rows.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

from pr2.data.io import write_json_atomic
from pr2.demo import ASSETS, run_demo
from pr2.report.train_plots import plot_training
from pr2.train.export import export_adapter

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", nargs="?", default="runs/laptop")
    parser.add_argument("--rank", type=int, default=16)
    parser.add_argument("--skip-heldout", action="store_true")
    args = parser.parse_args()
    run = Path(args.run_dir)
    ASSETS.mkdir(parents=True, exist_ok=True)
    summary = export_adapter(run, ASSETS / "adapter", rank=args.rank, dtype="fp16")
    for name in TOKENIZER_FILES:  # the base model's own tokenizer serves; keep the package small
        (ASSETS / "adapter" / name).unlink(missing_ok=True)
    print("adapter:", json.dumps(summary))
    shutil.copyfile(run / "metrics.jsonl", ASSETS / "metrics.jsonl")
    shutil.copyfile(run / "pr2-train-config.json", ASSETS / "train-config.json")
    for png in plot_training(run):
        shutil.copyfile(png, ASSETS / png.name)
    if args.skip_heldout:
        return
    started = time.strftime("%Y-%m-%d")
    result = run_demo(run.parent / "laptop-heldout", limit=None)
    rows = {
        r.name: {
            "fact": r.fact.micro,
            "fact_interval": r.fact.interval(),
            "proxy": r.proxy.micro,
            **({"summary": r.summary.to_record()} if r.summary else {}),
        }
        for r in result["rows"]
    }
    write_json_atomic(
        ASSETS / "heldout.json",
        {
            "users": len(result["rows"][0].fact.per_question),
            "command": f"pr2 demo --limit 0, {started}, {result['seconds']:.0f} s on a 2-core CPU",
            "table": result["table"],
            "rows": rows,
        },
    )


if __name__ == "__main__":
    main()
