import pytest

from pr2.judge.parsing import parse_score


@pytest.mark.parametrize(
    ("text", "score"),
    [
        ('{"rationale": "covers it", "score": 2}', 2),
        ('```json\n{"score": 1, "rationale": "partly"}\n```', 1),
        ('Here is my grade: {"score": 0, "rationale": "no"} Hope this helps!', 0),
        ("{'score': 2, rationale: 'json5 style',}", 2),
        ('{"score": "1"}', 1),
        ('{"score": 2.0}', 2),
        ('{"notes": {"x": 1}, "score": 1}', 1),
        ('{"bad": 1} then {"score": 2}', 2),
    ],
)
def test_readable_answers(text, score):
    assert parse_score(text)[0] == score


@pytest.mark.parametrize(
    "text",
    ["", "The score is 2.", '{"score": 3}', '{"score": -1}', '{"score": true}', '{"rationale": "x"}', "{score: }"],
)
def test_unreadable_answers(text):
    assert parse_score(text) is None
