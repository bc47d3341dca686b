"""scripts/search_kinds.py: each search in one kind, and per kind the share that retrieved an evidence post."""

import importlib.util
from pathlib import Path

from pr2.data.synth import FACETS
from pr2.train.reward import evidence_posts

ROOT = Path(__file__).resolve().parents[2]


def load_script(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_searches_are_sorted_into_kinds_and_counted_with_their_evidence():
    from pr2.data.synth import SynthConfig, generate

    search_kinds = load_script("search_kinds")
    facets = tuple(f.name for f in FACETS)
    assert search_kinds.search_kind("[1] Money is tight this year", facets) == "pastes results"
    assert search_kinds.search_kind("Budget money spend", facets) == "names a facet"
    assert search_kinds.search_kind("How should I start exercising to get fit?", facets) == "other"

    question = generate(SynthConfig(users=15, seed=0))["train"][0]
    evidence = sorted(evidence_posts(question))
    episode = {
        "searches": ["budget", "budget", "how to start"],
        "retrieved_ids": [[evidence[0], "x"], ["x"], [evidence[-1]]],
    }
    row = search_kinds.table_row("run", [(question, episode)], facets)
    assert row == "| run | 3 | 0, - | 2, 50% | 1, 100% |"
