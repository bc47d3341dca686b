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


def test_facet_plans_name_the_facets_users_have_and_a_plan_per_topic_does_at_least_as_well():
    from pr2.data.synth import SynthConfig, generate

    search_kinds = load_script("search_kinds")
    names = tuple(f.name for f in FACETS)
    questions = generate(SynthConfig(users=45, seed=0))["train"]
    user = questions[0]
    has = sorted(search_kinds.facets_of(user))
    lacks = [n for n in names if n not in has]
    assert search_kinds.plan_share([user], lambda q: has[:2]) == 1.0
    assert search_kinds.plan_share([user], lambda q: lacks[:2]) == 0.0  # a plan of facets they lack finds nothing
    assert search_kinds.plan_share([user], lambda q: [has[0], lacks[0]]) == 0.5
    fixed = search_kinds.best_plan(questions, names, 3)
    best = search_kinds.plan_share(questions, lambda q: fixed)
    assert all(search_kinds.plan_share(questions, lambda q, p=p: p) <= best for p in [names[:3], names[-3:]])
    topics = {q.question for q in questions}
    per_topic = {t: search_kinds.best_plan([q for q in questions if q.question == t], names, 3) for t in topics}
    assert search_kinds.plan_share(questions, lambda q: per_topic[q.question]) >= best
