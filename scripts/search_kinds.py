"""What a policy's searches are, and which kind finds the evidence, on the demo's 60 held-out users.

    python scripts/search_kinds.py [--demo runs/laptop-heldout] [RUN_DIR ...] [--rollouts RUN_DIR ...]
    python scripts/search_kinds.py --plans [--searches 3]

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
`--plans`: what facet searches can find at best. A user's aspects are drawn at random among their topic's facets, so
no question tells which facets a user has; the best a policy can do is a plan of facets per topic. Printed: the share
of the held-out users' facets that a plan of `--searches` different facets names, for the best single plan and the
best plan per topic (both chosen on the training users), the ceiling of "names a facet" searches.
Generated benchmark only (it reads the aspects' evidence posts). No model runs; a few seconds.
"""

from __future__ import annotations

import argparse
import itertools
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
    parser.add_argument("--plans", action="store_true", help="the best facet plans' share (see above), then stop")
    parser.add_argument("--searches", type=int, default=3, help="facets a plan names (--plans)")
    args = parser.parse_args()
    if args.plans:
        return print_plans(args.searches)

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


def facets_of(question) -> set[str]:
    return {a.extra["fact"]["facet"] for a in question.rubric_aspects if a.extra.get("fact")}


def plan_share(questions, plan_for) -> float:
    """The share of the plans' searches that name a facet the question's user has (one search per planned facet)."""
    named = sum(len(facets_of(q) & set(plan_for(q))) for q in questions)
    return named / max(1, sum(len(plan_for(q)) for q in questions))


def best_plan(questions, names: tuple[str, ...], size: int) -> tuple[str, ...]:
    """The plan of `size` different facets that names the most of these users' facets (first in catalogue order)."""
    return max(itertools.combinations(names, size), key=lambda plan: plan_share(questions, lambda q: plan))


def print_plans(size: int) -> None:
    from pr2.data.io import load_questions
    from pr2.data.synth import FACETS
    from pr2.demo import heldout_questions

    names = tuple(f.name for f in FACETS)
    train, heldout = load_questions("data/synth/train.jsonl"), heldout_questions(None)
    fixed = best_plan(train, names, size)
    by_topic: dict[str, list] = {}
    for q in train:
        by_topic.setdefault(q.question, []).append(q)
    per_topic = {topic: best_plan(qs, names, size) for topic, qs in by_topic.items()}
    print(f"held-out users: {len(heldout)}; plans of {size} facets chosen on {len(train)} training users")
    print(f"one plan for every question {fixed}: {plan_share(heldout, lambda q: fixed):.1%} of its searches")
    topic_share = plan_share(heldout, lambda q: per_topic.get(q.question, fixed))
    print(f"a plan per topic ({len(per_topic)} topics): {topic_share:.1%} of its searches")


if __name__ == "__main__":
    main()
