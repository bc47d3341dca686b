import dataclasses
import json

import pytest

from pr2.errors import PR2Error
from pr2.generation.base import Completion
from pr2.judge import JudgeConfig, build_judge
from pr2.judge.embedding import DEFAULT_THRESHOLDS, EmbeddingJudge, calibrate
from pr2.judge.judge import LLMJudge, Pair

PAIR = Pair(
    "How do I paint skies?",
    "I use watercolor on cheap paper.",
    "Use wet-on-wet washes.",
    "Watercolor technique",
    "They paint in watercolor.",
    "I use watercolor",
)


class ScriptedJudgeModel:
    """A judge model that answers from a script, recording the temperature of each round."""

    model_name = "scripted"

    def __init__(self, answer):
        self.answer, self.temperatures, self.prompts = answer, [], []

    def generate(self, prompts, params):
        self.temperatures.append(params.temperature)
        self.prompts.extend(prompts)
        return [Completion(self.answer(len(self.temperatures), p)) for p in prompts]


def test_unreadable_answers_retried_with_rising_temperature():
    model = ScriptedJudgeModel(lambda round_, _: '{"score": 2}' if round_ == 4 else "I think it is good.")
    judge = LLMJudge(JudgeConfig(model="x", mode="generate"), model)
    (j,) = judge.judge([PAIR])
    assert j.score == 2 and j.rounds == 4 and not j.failed
    assert model.temperatures == [0.0, 0.1, 0.2, 0.3]
    assert judge.stats.retried == 1 and judge.stats.failed == 0


def test_a_judge_that_never_answers_json_scores_zero_after_the_cap():
    model = ScriptedJudgeModel(lambda *_: "no json, ever")
    judge = LLMJudge(JudgeConfig(model="x", mode="generate", retry_cap=5), model)
    (j,) = judge.judge([PAIR])
    assert j.score == 0 and j.failed
    assert len(model.temperatures) == 6 and model.temperatures[-1] == 0.5
    assert judge.stats.failed == 1


def test_default_retry_cap_is_the_benchmarks():
    assert JudgeConfig().retry_cap == 100


def test_prompt_shows_question_details_response_and_aspect():
    model = ScriptedJudgeModel(lambda *_: '{"score": 1}')
    LLMJudge(JudgeConfig(model="x", mode="generate"), model).judge([PAIR])
    text = model.prompts[0][0]["content"]
    for value in PAIR.__dict__.values():
        assert value in text


def test_cache_resumes_and_identical_pairs_are_judged_once(tmp_path):
    cache = tmp_path / "cache.jsonl"
    model = ScriptedJudgeModel(lambda *_: '{"score": 1, "rationale": "ok"}')
    judge = LLMJudge(JudgeConfig(model="x", mode="generate", cache_path=str(cache)), model)
    other = dataclasses.replace(PAIR, response="Another response")
    assert [j.score for j in judge.judge([PAIR, PAIR, other])] == [1, 1, 1]
    assert len(model.prompts) == 2
    # a new process with the same cache judges nothing again
    model2 = ScriptedJudgeModel(lambda *_: pytest.fail("judged twice"))
    judge2 = LLMJudge(JudgeConfig(model="x", mode="generate", cache_path=str(cache)), model2)
    assert [j.score for j in judge2.judge([other, PAIR])] == [1, 1]
    assert judge2.stats.cached == 2
    assert len(cache.read_text().splitlines()) == 2


def test_custom_prompt_file(tmp_path):
    good = tmp_path / "p.txt"
    good.write_text("Q={question} R={response} A={aspect} E={evidence} D={details} W={reason}")
    model = ScriptedJudgeModel(lambda *_: '{"score": 0}')
    LLMJudge(JudgeConfig(model="x", mode="generate", prompt_file=str(good)), model).judge([PAIR])
    assert model.prompts[0][0]["content"].startswith(f"Q={PAIR.question} R={PAIR.response}")
    bad = tmp_path / "bad.txt"
    bad.write_text("{question} {answer}")
    with pytest.raises(PR2Error, match=r"unknown placeholder\(s\) \['answer'\]"):
        LLMJudge(JudgeConfig(model="x", mode="generate", prompt_file=str(bad)), model)


def test_logprob_mode_with_the_bundled_model_is_deterministic(hf_generator):
    judge = LLMJudge(JudgeConfig(model="smollm2", mode="logprob"), hf_generator)
    first = judge.judge([PAIR])[0]
    judge2 = LLMJudge(JudgeConfig(model="smollm2", mode="logprob"), hf_generator)
    assert 0.0 <= first.score <= 2.0 and not first.failed
    assert judge2.judge([PAIR])[0].score == pytest.approx(first.score, abs=1e-6)
    assert "p(0,1,2)=" in first.rationale


def test_generate_mode_with_the_bundled_model_ends_with_a_score(hf_generator):
    judge = LLMJudge(JudgeConfig(model="smollm2", mode="generate", retry_cap=2, max_tokens=48), hf_generator)
    (j,) = judge.judge([PAIR])
    assert j.score in (0.0, 1.0, 2.0) and 1 <= j.rounds <= 3


def test_embedding_judge_separates_covering_from_off_topic_and_says_proxy():
    judge = build_judge(JudgeConfig(mode="embedding"))
    covering = Pair(
        PAIR.question,
        PAIR.details,
        "For watercolor skies, wet the cheap paper evenly, then drop in diluted ultramarine wet-on-wet.",
        PAIR.aspect,
        PAIR.reason,
        PAIR.evidence,
    )
    off = Pair(
        PAIR.question,
        PAIR.details,
        "Change the oil of your car every 10,000 km.",
        PAIR.aspect,
        PAIR.reason,
        PAIR.evidence,
    )
    empty = Pair(PAIR.question, PAIR.details, "", PAIR.aspect, PAIR.reason, PAIR.evidence)
    good, bad, none = judge.judge([covering, off, empty])
    assert good.score == 2 and bad.score == 0 and none.score == 0
    assert judge.describe()["proxy"] is True and "not the LaMP-QA score" in judge.describe()["note"]
    smooth = EmbeddingJudge(JudgeConfig(mode="embedding"), smooth=True, model=judge.model)
    s_good, s_bad = (j.score for j in smooth.judge([covering, off]))
    assert 0 <= s_bad < s_good <= 2


def test_embedding_thresholds_are_calibrated_on_the_bundled_sample():
    from pr2.data import sample_questions

    judge = build_judge(JudgeConfig(mode="embedding"))
    low, high = calibrate(sample_questions(), judge.model)
    assert low == pytest.approx(DEFAULT_THRESHOLDS[0], abs=0.01)
    assert high == pytest.approx(DEFAULT_THRESHOLDS[1], abs=0.01)


def test_unknown_mode():
    with pytest.raises(PR2Error, match="unknown judge mode 'vibes'"):
        build_judge(JudgeConfig(mode="vibes"))
    assert json.dumps(JudgeConfig().__dict__)
