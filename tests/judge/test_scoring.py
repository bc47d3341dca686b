import pytest

from pr2.data.schema import Aspect, Question
from pr2.judge.judge import Judge, JudgeConfig, Judgement
from pr2.judge.scoring import question_score, score_questions


def test_question_score_is_sum_over_twice_the_aspects():
    assert question_score([2, 1, 0]) == pytest.approx(3 / 6)
    assert question_score([2, 2]) == 1.0
    assert question_score([0, 0, 0, 1]) == pytest.approx(1 / 8)
    assert question_score([]) is None


class TableJudge(Judge):
    """Scores from a table keyed by (response, aspect): for exact arithmetic checks."""

    mode = "table"

    def __init__(self, table):
        super().__init__(JudgeConfig(model="table", mode="embedding"))
        self.table = table

    def input_text(self, pair):
        return f"{pair.response}|{pair.aspect}"

    def _judge_uncached(self, pairs, texts):
        return [Judgement(self.table[t]) for t in texts]


def q(qid, category, n):
    return Question(qid, "?", "", [], [Aspect(f"a{i}", "", "") for i in range(n)], category=category)


def test_file_category_macro_and_micro_means_by_hand():
    questions = [q("1", "A", 2), q("2", "A", 1), q("3", "B", 3), q("4", "B", 0)]
    responses = {"1": "r1", "2": "r2", "3": "r3", "4": "r4"}
    table = {"r1|a0": 2, "r1|a1": 1, "r2|a0": 0, "r3|a0": 2, "r3|a1": 2, "r3|a2": 1}
    report = score_questions(questions, responses, TableJudge(table))
    scores = {r["id"]: r["score"] for r in report.per_question}
    assert scores == {"1": 0.75, "2": 0.0, "3": pytest.approx(5 / 6), "4": None}
    assert report.per_category == {"A": pytest.approx(0.375), "B": pytest.approx(5 / 6)}
    assert report.macro == pytest.approx((0.375 + 5 / 6) / 2)
    assert report.micro == pytest.approx((0.75 + 0 + 5 / 6) / 3)
    record = report.to_record()
    assert record["score"] == report.micro and record["macro_average"] == report.macro
    assert record["per_question_scores"][0]["details"][1] == {"aspect": "a1", "score": 1, "rationale": ""}


def test_bootstrap_interval_holds_the_mean_and_narrows_with_more_questions():
    from pr2.judge.scoring import bootstrap_interval

    few = bootstrap_interval([0.0, 1.0] * 5)
    many = bootstrap_interval([0.0, 1.0] * 200)
    assert few[0] < 0.5 < few[1] and many[0] < 0.5 < many[1]
    assert many[1] - many[0] < (few[1] - few[0]) / 3
    assert bootstrap_interval([0.25] * 7) == (0.25, 0.25)
    assert bootstrap_interval([]) is None
