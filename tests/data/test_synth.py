"""`pr2 synth`: the LaMP-QA format, split by user, and the retrieval property the benchmark exists for."""

import json
from collections import Counter

import pytest
from typer.testing import CliRunner

from pr2.cli import app
from pr2.data.io import load_questions
from pr2.data.synth import SynthConfig, generate, retrieval_recall
from pr2.retrieval import load_retriever

runner = CliRunner()


@pytest.fixture(scope="module")
def benchmark():
    return generate(SynthConfig(users=90, seed=0))


def test_splits_are_by_user_and_every_question_is_well_formed(benchmark):
    sizes = {split: len(qs) for split, qs in benchmark.items()}
    assert sizes == {"train": 54, "validation": 18, "test": 18}
    ids = [q.id for qs in benchmark.values() for q in qs]
    assert len(ids) == len(set(ids)) == 90
    for q in (q for qs in benchmark.values() for q in qs):
        assert 3 <= len(q.rubric_aspects) <= 5
        posts = {p.id: p.text for p in q.profile}
        facts = [a.extra["fact"] for a in q.rubric_aspects]
        assert len({f["post"] for f in facts}) == len(facts)  # each aspect has its own post ...
        assert len({f["facet"] for f in facts}) == len(facts)
        for aspect, fact in zip(q.rubric_aspects, facts, strict=True):
            assert fact["phrases"][0] in posts[fact["post"]]  # ... which states the fact
            assert aspect.evidence == fact["phrases"][0]
        distractors = len(q.profile) - len(facts)
        assert 20 <= distractors <= 60


def test_facets_recur_across_users_while_their_values_vary(benchmark):
    users = [q for qs in benchmark.values() for q in qs]
    facets = Counter(a.extra["fact"]["facet"] for q in users for a in q.rubric_aspects)
    assert len(facets) >= 6 and min(facets.values()) >= 10
    values = Counter((a.extra["fact"]["facet"], a.evidence) for q in users for a in q.rubric_aspects)
    for facet in facets:
        assert len([v for (f, v) in values if f == facet]) >= 4


def test_the_question_alone_misses_the_facts_and_one_query_per_aspect_finds_them(benchmark, minilm_retriever):
    users = [q for qs in benchmark.values() for q in qs]
    for retriever in (load_retriever("bm25"), minilm_retriever):
        recall = retrieval_recall(users, retriever, k=5)
        assert recall["question"] <= 0.5, (retriever.name, recall)
        assert recall["ideal"] >= 0.9, (retriever.name, recall)


def test_cli_writes_the_benchmark_layout_that_loads_back(tmp_path):
    result = runner.invoke(app, ["synth", "--output", str(tmp_path), "--users", "12", "--seed", "3"])
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in tmp_path.iterdir())
    assert "train.jsonl" in names and "Society_and_Culture_test.json" in names
    loaded = load_questions(tmp_path / "train.jsonl")
    assert all(q.split == "train" and q.rubric_aspects[0].extra["fact"]["phrases"] for q in loaded)
    again = runner.invoke(app, ["synth", "--output", str(tmp_path / "again"), "--users", "12", "--seed", "3"])
    assert again.exit_code == 0
    assert json.loads((tmp_path / "again" / "train.jsonl").read_text().splitlines()[0]) == json.loads(
        (tmp_path / "train.jsonl").read_text().splitlines()[0]
    )  # same seed, same benchmark
