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
