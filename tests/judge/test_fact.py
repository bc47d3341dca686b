"""The fact judge of a pr2 synth benchmark, on hand-made answers."""

import pytest

from pr2.data.schema import Aspect, ProfileItem, Question
from pr2.errors import PR2Error
from pr2.judge import JudgeConfig, build_judge
from pr2.judge.scoring import score_questions


def question(*facts) -> Question:
    aspects = [
        Aspect(f"aspect {i}", "", phrases[0], extra={"fact": {"phrases": list(phrases), "post": f"p{i}", "facet": "x"}})
        for i, phrases in enumerate(facts)
    ]
    return Question(
        "u1",
        "What should I cook?",
        "",
        [ProfileItem("p0", "post")],
        aspects,
        category="Lifestyle_and_Personal_Development",
    )


@pytest.mark.parametrize(
    ("answer", "scores"),
    [
        ("Try a vegan chili; keep it under $20.", [2.0, 2.0]),
        ("A vegetarian chili.", [0.0, 0.0]),  # another diet is not theirs
        ("A plant-based stew works well.", [2.0, 0.0]),  # a synonym states the fact
        ("Roast chicken with potatoes.", [0.0, 0.0]),
        ("VEGAN curry, twenty dollars at most", [2.0, 2.0]),  # any case
        ("Veganism is a movement; spend $200.", [0.0, 0.0]),  # whole words only: neither 'vegan' nor '$20'
        ("", [0.0, 0.0]),
    ],
)
def test_an_aspect_scores_2_exactly_when_the_answer_states_its_fact(answer, scores):
    q = question(("vegan", "plant-based"), ("$20", "twenty dollars"))
    report = score_questions([q], {"u1": answer}, build_judge(JudgeConfig(mode="fact")))
    assert [d["score"] for d in report.per_question[0]["details"]] == scores
    assert "not a LaMP-QA score" in report.to_record()["note"]


def test_an_aspect_without_a_fact_is_a_one_line_error():
    q = question(("vegan",))
    q.rubric_aspects.append(Aspect("plain aspect", "", ""))
    with pytest.raises(PR2Error, match="aspect 'plain aspect' carries no fact"):
        score_questions([q], {"u1": "vegan"}, build_judge(JudgeConfig(mode="fact")))


def catalogue_question(*facts) -> Question:
    """Aspects whose facet is in the pr2 synth catalogue: the judge knows that facet's other values."""
    q = question(*(phrases for _, phrases in facts))
    for aspect, (facet, _) in zip(q.rubric_aspects, facts, strict=True):
        aspect.extra["fact"]["facet"] = facet
    return q


@pytest.mark.parametrize(
    ("answer", "scores"),
    [
        ("Since you are vegan, keep it under 20 dollars.", [2.0, 2.0]),
        ("Vegan or vegetarian or halal: pick what suits you. Under 20 dollars.", [0.0, 2.0]),  # a list of diets
        ("A vegan stew; budget 20 dollars, or 25 euros if you can.", [2.0, 0.0]),  # two budgets: a guess
        ("A vegan stew for 120 dollars.", [2.0, 0.0]),  # near miss: 120 is not 20, and 120 is another value
        ("A vegan stew for $20.", [2.0, 2.0]),  # the same value in its other form
        ("A plant-based stew, nut-free for your guests, 20 dollars.", [0.0, 2.0]),  # another diet named too
        ("Eat well and spend wisely.", [0.0, 0.0]),  # generic advice
    ],
)
def test_naming_other_values_of_the_same_facet_scores_nothing(answer, scores):
    q = catalogue_question(("diet", ("vegan", "plant-based")), ("budget", ("20 dollars", "$20")))
    report = score_questions([q], {"u1": answer}, build_judge(JudgeConfig(mode="fact")))
    assert [d["score"] for d in report.per_question[0]["details"]] == scores


def test_a_judge_reaches_its_cache_chunk_by_chunk_in_fixed_chunks(tmp_path):
    """A kill loses at most one chunk; chunks are fixed by position, not by the judge's measured speed, so that a
    resumed evaluation batches its pairs as an uninterrupted one (tests/judge/test_judge.py)."""
    import time

    from pr2.judge.judge import Judge, Judgement, Pair

    chunks: list[int] = []

    class Slow(Judge):
        mode = "slow"

        def input_text(self, pair):
            return pair.response

        def _judge_uncached(self, pairs, texts):
            chunks.append(len(pairs))
            time.sleep(0.05 * len(pairs))  # 20 pairs a second
            return [Judgement(1.0) for _ in pairs]

    judge = Slow(JudgeConfig(model="slow", cache_path=str(tmp_path / "cache.jsonl"), flush_every=16))
    judge.judge([Pair("q", "", f"answer {i}", "a", "", "") for i in range(60)])
    assert chunks == [16, 16, 16, 12]  # fixed by position, whatever the judge's speed
    assert len((tmp_path / "cache.jsonl").read_text().splitlines()) == 60


POST = "Health update for the forum: lower back pain, so no heavy lifting for me this year."


@pytest.mark.parametrize(
    ("answer", "score"),
    [
        ("Given your lower back pain, pick a low-impact routine.", 2.0),  # stated in its own words
        ("lower back pain", 2.0),  # the value alone is no copy
        ("[1] Health update for the forum: lower back pain, so no heavy lifting", 0.0),  # the post pasted
        ("the forum: lower back pain, so no", 0.0),  # four words around it, split across both sides
        ("for the forum: lower back pain, so no. With lower back pain, swim.", 2.0),  # pasted once, then stated
        ("update: a back ache", 0.0),  # not stated at all
    ],
)
def test_a_value_pasted_with_its_post_scores_nothing(answer, score):
    """Answering with the posts a search showed copies the value without using it: the judge pays only a value the
    answer states itself, whatever post it was pasted from."""
    q = question(("lower back pain", "back pain"))
    q.profile = [ProfileItem("p0", POST), ProfileItem("p9", "I like tea.")]
    report = score_questions([q], {"u1": answer}, build_judge(JudgeConfig(mode="fact")))
    assert report.per_question[0]["details"][0]["score"] == score
    if score == 0.0 and "back pain" in answer:
        assert "pasted from the post" in report.per_question[0]["details"][0]["rationale"]
