"""`pr2 report agreement`: two judgements of the same responses compared aspect by aspect."""

import json

import pytest
from typer.testing import CliRunner

from pr2.cli import app
from pr2.errors import PR2Error
from pr2.judge.agreement import agreement, spearman


def scores_file(path, mode: str, per_aspect: dict[str, list[float]], failed=()) -> str:
    rows = [
        {"id": qid, "category": "c", "score": sum(s) / (2 * len(s)),
         "details": [{"aspect": f"a{i}", "score": v, **({"failed": True} if (qid, i) in failed else {})}
                     for i, v in enumerate(s)]}
        for qid, s in per_aspect.items()
    ]  # fmt: skip
    data = {"score": 0, "per_question_scores": rows, "per_category": {}, "judge": {"model": "j", "mode": mode}}
    path.write_text(json.dumps(data))
    return str(path)


def test_spearman_is_one_for_the_same_order_and_minus_one_for_the_reverse_with_ties_at_mean_ranks():
    assert spearman([0.1, 0.5, 1.9], [0, 1, 2]) == pytest.approx(1.0)
    assert spearman([2, 1, 0], [0, 1, 2]) == pytest.approx(-1.0)
    assert spearman([0, 0, 2, 2], [0, 1, 1, 2]) == pytest.approx(0.5**0.5)
    assert spearman([1, 1, 1], [0, 1, 2]) is None  # a judge that gives one score to all ranks nothing


def test_agreement_over_the_aspects_both_judged(tmp_path):
    logprob = scores_file(tmp_path / "lp.json", "logprob", {"q1": [1.8, 0.2], "q2": [0.9, 1.6]})
    generate = scores_file(tmp_path / "gen.json", "generate", {"q1": [2, 0], "q2": [0, 2]}, failed={("q2", 0)})
    result = agreement(logprob, generate)
    assert (result.pairs, result.unreadable) == (3, 1)  # the unreadable generate score is left out, not a 0
    assert result.mean_abs_diff == pytest.approx((0.2 + 0.2 + 0.4) / 3)
    assert result.exact == 1.0 and result.spearman == pytest.approx(0.75**0.5)  # ranks 2,0,1 vs 1.5,0,1.5
    out = CliRunner().invoke(app, ["report", "agreement", logprob, generate]).output
    assert "3 aspects judged by both (1 unreadable" in out and "Spearman rank correlation: 0.866" in out


def test_a_constant_judge_does_not_look_like_agreement(tmp_path):
    """The cheapest judge, one score for everything, gets no correlation (not 1, not 0)."""
    fixed = scores_file(tmp_path / "fixed.json", "logprob", {"q1": [1.0, 1.0], "q2": [1.0, 1.0]})
    generate = scores_file(tmp_path / "gen.json", "generate", {"q1": [2, 0], "q2": [0, 2]})
    result = agreement(fixed, generate)
    assert result.spearman is None and result.exact == 0.0 and result.mean_abs_diff == 1.0


def test_files_of_different_questions_are_refused(tmp_path):
    a = scores_file(tmp_path / "a.json", "logprob", {"q1": [1.0]})
    b = scores_file(tmp_path / "b.json", "generate", {"q2": [1.0]})
    with pytest.raises(PR2Error, match="judged different questions or aspects"):
        agreement(a, b)
