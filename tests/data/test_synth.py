"""`pr2 synth`: the LaMP-QA format, split by user, and the retrieval property the benchmark exists for."""

import json
from collections import Counter

import pytest
from typer.testing import CliRunner

from pr2.cli import app
from pr2.data.io import load_questions
from pr2.data.schema import ProfileItem
from pr2.data.synth import FACETS, SynthConfig, filler_leaks, generate, retrieval_recall, value_pools
from pr2.judge import JudgeConfig, build_judge
from pr2.judge.scoring import score_questions
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
        assert len([v for (f, v) in values if f == facet]) >= 3


def _values(questions):
    return {(a.extra["fact"]["facet"], a.evidence) for q in questions for a in q.rubric_aspects}


def test_held_out_values_never_appear_in_training_profiles_or_aspects(default_synth):
    splits = default_synth
    train, heldout = splits["train"], splits["validation"] + splits["test"]
    assert not _values(train) & _values(heldout)
    training_text = " ".join(p.text.lower() for q in train for p in q.profile)
    training_text += " ".join(json.dumps([a.to_record() for a in q.rubric_aspects]).lower() for q in train)
    for q in heldout:
        for a in q.rubric_aspects:
            assert all(phrase.lower() not in training_text for phrase in a.extra["fact"]["phrases"]), a.evidence
    pools = value_pools(0)
    for facet in FACETS:  # every value is on exactly one side, and both sides have several
        train_side, held_side = set(pools["train"][facet.name]), set(pools["heldout"][facet.name])
        assert not train_side & held_side and train_side | held_side == set(facet.values)
        assert len(train_side) >= 5 and len(held_side) >= 4


def test_catalogue_phrases_are_specific_to_their_value():
    import re

    everyday = {"heart", "baby", "friday", "videos", "beginner", "breathing", "early morning", "partner", "workshop",
                "studio", "nights", "overnight", "tropical", "knee", "dog", "dogs", "rural", "advanced"}  # fmt: skip
    for facet in FACETS:
        phrases = [(p.lower(), i) for i, value in enumerate(facet.values) for p in value]
        for phrase, i in phrases:
            assert phrase not in everyday, (facet.name, phrase)
            for other, j in phrases:  # no phrase of one value is found inside a phrase of another
                if i != j:
                    assert not re.search(r"(?<!\w)" + re.escape(phrase) + r"(?!\w)", other), (phrase, other)


def test_no_distractor_or_on_theme_post_states_a_fact_of_any_facet(default_synth):
    for splits in (default_synth, generate(SynthConfig(users=300, seed=1))):
        assert filler_leaks([q for qs in splits.values() for q in qs]) == []
    planted = generate(SynthConfig(users=30, seed=0))["train"][0]  # the check itself finds a planted leak
    planted.profile.append(ProfileItem("x-other-99", "The Halal shop closed."))
    assert filler_leaks([planted]) == [(planted.id, "x-other-99", "halal")]


def profile_free_attacks(train):
    """The cheapest answers that could score without reading a held-out user's profile, built from training."""
    aspects = [a for q in train for a in q.rubric_aspects]
    every_phrase = " ".join(p for a in aspects for p in a.extra["fact"]["phrases"])
    common = {}
    for a in aspects:
        common.setdefault(a.extra["fact"]["facet"], Counter())[a.evidence] += 1
    most_common = "Based on your situation: " + "; ".join(c.most_common(1)[0][0] for c in common.values()) + "."
    generic = (
        "Start small, keep it within your budget, fit it around your schedule, mind your health, think of the "
        "people you live with, use the space you have and match it to your experience."
    )
    return {"every training phrase": every_phrase, "most common values": most_common, "generic advice": generic}


def test_profile_free_answers_score_nothing_on_held_out_users(default_synth):
    """The floor: answers built only from the training split, or from the question itself, score at most 0.05
    with the fact judge on the held-out users of the default benchmark (300 users, seed 0)."""
    splits = default_synth
    heldout = splits["validation"] + splits["test"]
    judge = build_judge(JudgeConfig(mode="fact"))
    attacks = {name: {q.id: text for q in heldout} for name, text in profile_free_attacks(splits["train"]).items()}
    attacks["the question echoed"] = {q.id: q.question for q in heldout}
    for name, answers in attacks.items():
        score = score_questions(heldout, answers, judge).micro
        assert score <= 0.05, (name, score)
    oracle = {q.id: " ".join(a.evidence for a in q.rubric_aspects) for q in heldout}
    assert score_questions(heldout, oracle, judge).micro == 1.0  # the ceiling: stating each fact scores in full


def test_the_question_alone_misses_the_facts_and_one_query_per_aspect_finds_them(benchmark, minilm_retriever):
    users = [q for qs in benchmark.values() for q in qs]
    for retriever in (load_retriever("bm25"), minilm_retriever):
        recall = retrieval_recall(users, retriever, k=5)
        assert recall["question"] <= 0.5, (retriever.name, recall)
        assert recall["ideal"] >= 0.9, (retriever.name, recall)


def test_cli_writes_the_benchmark_layout_that_loads_back(tmp_path):
    result = runner.invoke(app, ["synth", "--output", str(tmp_path), "--users", "15", "--seed", "3"])
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in tmp_path.iterdir())
    assert "train.jsonl" in names and "Society_and_Culture_test.json" in names
    loaded = load_questions(tmp_path / "train.jsonl")
    assert all(q.split == "train" and q.rubric_aspects[0].extra["fact"]["phrases"] for q in loaded)
    again = runner.invoke(app, ["synth", "--output", str(tmp_path / "again"), "--users", "15", "--seed", "3"])
    assert again.exit_code == 0
    assert json.loads((tmp_path / "again" / "train.jsonl").read_text().splitlines()[0]) == json.loads(
        (tmp_path / "train.jsonl").read_text().splitlines()[0]
    )  # same seed, same benchmark


@pytest.mark.parametrize("users", ["0", "-3", "7"])
def test_too_few_users_is_a_one_line_error_and_writes_nothing(tmp_path, users):
    result = runner.invoke(app, ["synth", "--output", str(tmp_path / "out"), "--users", users])
    assert result.exit_code == 2
    assert "cannot make the train/validation/test splits" in result.output and "wrote" not in result.output
    assert not (tmp_path / "out").exists()
