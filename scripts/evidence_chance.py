"""How much of the evidence a policy's searches retrieve beyond chance, on the demo's 60 held-out users.

    python scripts/evidence_chance.py [--demo runs/laptop-heldout] [RUN_DIR ...]

For every agent row of `pr2 demo --limit 0` (its saved trajectories) and every held-out folder that
`scripts/score_heldout.py` wrote, per question: the share of its evidence posts the searches retrieved, and the
share that as many distinct posts drawn at random from the profile would retrieve in expectation (their number over
the profile's size: `pr2.train.reward.chance_share`). A search that knows nothing, such as a fixed query, finds
about the chance share. No model runs; a few seconds.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--demo", type=Path, default=Path("runs/laptop-heldout"), help="pr2 demo --limit 0's folder")
    parser.add_argument("folders", nargs="*", type=Path, help="more folders holding a trajectories.jsonl")
    args = parser.parse_args()

    from pr2.demo import heldout_questions
    from pr2.judge.scoring import bootstrap_interval
    from pr2.train.reward import chance_share, evidence_share

    questions = {q.id: q for q in heldout_questions(None)}
    from score_heldout import exact_folder  # scripts/ is this script's own folder, so on its path

    folders = sorted(p.parent for p in args.demo.glob("*/trajectories.jsonl")) + [
        f if (f / "trajectories.jsonl").exists() else exact_folder(f) for f in args.folders
    ]
    print("| trajectories | evidence retrieved [95% CI] | chance for as many posts | above chance [95% CI] |")
    print("|---|---|---|---|")
    for folder in folders:
        rows = [json.loads(line) for line in (folder / "trajectories.jsonl").read_text().splitlines() if line]
        rows = [r for r in rows if r["id"] in questions]
        found = [evidence_share(questions[r["id"]], r["retrieved_ids"]) for r in rows]
        chance = [chance_share(questions[r["id"]], r["retrieved_ids"]) for r in rows]
        above = [f - c for f, c in zip(found, chance, strict=True)]

        def cell(values: list[float]) -> str:
            low, high = bootstrap_interval(values)
            return f"{sum(values) / len(values):.3f} [{low:.3f}, {high:.3f}]"

        print(f"| {folder} ({len(rows)}) | {cell(found)} | {sum(chance) / len(chance):.3f} | {cell(above)} |")


if __name__ == "__main__":
    main()
