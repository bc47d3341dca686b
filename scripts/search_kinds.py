"""What a policy's searches are, and which kind finds the evidence, on the demo's 60 held-out users.

    python scripts/search_kinds.py [--demo runs/laptop-heldout] [RUN_DIR ...] [--rollouts RUN_DIR ...]

Held-out: every agent row of `pr2 demo --limit 0` and every folder `scripts/score_heldout.py` wrote (RUN_DIR: its
RUN-heldout-exact). Training: `--rollouts RUN_DIR` reads the episodes a `pr2 train` run logged (rollouts.jsonl, on
the run's own dataset), in four blocks of steps (one a step for a shorter run). Each search is put in one kind,
first match wins:
- pastes results: the query is a block of retrieved posts ("[1] ...") sent back as a search;
- names a facet: the query holds a facet's name ("budget", "diet", ...; pr2.data.synth.FACETS), the search the
  benchmark is built to reward (its ideal query finds each evidence post);
- other: everything else (mostly the question restated).
Per kind: how many searches, and the share that retrieved at least one evidence post. This shows where a policy's
search stops: a policy that never names a facet finds evidence only as often as chance, whatever it is trained on.
Generated benchmark only (it reads the aspects' evidence posts). No model runs; a few seconds.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

KINDS = ("pastes results", "names a facet", "other")


def search_kind(query: str, facet_names: tuple[str, ...]) -> str:
    if re.match(r"\s*\[\d+\]", query):
        return "pastes results"
    words = set(re.findall(r"[a-z]+", query.lower()))
    if words & set(facet_names):
        return "names a facet"
    return "other"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--demo", type=Path, default=Path("runs/laptop-heldout"), help="pr2 demo --limit 0's folder")
    parser.add_argument("folders", nargs="*", type=Path, help="more folders holding a trajectories.jsonl")
    parser.add_argument("--rollouts", nargs="*", type=Path, default=[], help="pr2 train runs (their rollouts.jsonl)")
    args = parser.parse_args()

    from pr2.data.io import load_questions
    from pr2.data.synth import FACETS
    from pr2.demo import heldout_questions

    questions = {q.id: q for q in heldout_questions(None)}
    facet_names = tuple(f.name for f in FACETS)
    from score_heldout import exact_folder  # scripts/ is this script's own folder, so on its path

    folders = sorted(p.parent for p in args.demo.glob("*/trajectories.jsonl")) + [
        f if (f / "trajectories.jsonl").exists() else exact_folder(f) for f in args.folders
    ]
    print("| searches of | searches | " + " | ".join(f"{k}: searches, finding evidence" for k in KINDS) + " |")
    print("|---|---:|" + "---:|" * len(KINDS))
    for folder in folders:
        rows = [json.loads(line) for line in (folder / "trajectories.jsonl").read_text(encoding="utf-8").splitlines()]
        print(table_row(str(folder), [(questions[r["id"]], r) for r in rows if r["id"] in questions], facet_names))
    for run in args.rollouts:
        dataset = json.loads((run / "pr2-train-config.json").read_text(encoding="utf-8"))["dataset"]
        by_id = {q.id: q for q in load_questions(dataset)}
        logged = [json.loads(line) for line in (run / "rollouts.jsonl").read_text(encoding="utf-8").splitlines()]
        last = max(r["step"] for r in logged)
        blocks = min(4, last)  # a run shorter than four steps: one row a step
        for block in range(blocks):
            first, end = block * last // blocks + 1, (block + 1) * last // blocks
            episodes = [
                (by_id[r["question_id"]], e) for r in logged if first <= r["step"] <= end for e in r["episodes"]
            ]
            print(table_row(f"{run}, training steps {first}-{end}", episodes, facet_names))


def table_row(name: str, episodes, facet_names: tuple[str, ...]) -> str:
    """One table row: per kind, how many of the episodes' searches, and the share that retrieved an evidence post."""
    from pr2.train.reward import evidence_posts

    counts = {k: [0, 0] for k in KINDS}
    for question, episode in episodes:
        wanted = evidence_posts(question)
        for query, ids in zip(episode.get("searches") or [], episode.get("retrieved_ids") or [], strict=False):
            kind = counts[search_kind(query, facet_names)]
            kind[0] += 1
            kind[1] += bool(wanted & set(ids))
    cells = [f"{n}, {hit / n:.0%}" if n else "0, -" for n, hit in counts.values()]
    return f"| {name} | {sum(n for n, _ in counts.values())} | " + " | ".join(cells) + " |"


if __name__ == "__main__":
    main()
