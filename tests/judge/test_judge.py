import dataclasses
import json
import math

import numpy as np
import pytest

from pr2.errors import PR2Error
from pr2.generation.base import Completion, SamplingParams
from pr2.judge import JudgeConfig, build_judge
from pr2.judge.embedding import EmbeddingJudge, aspect_text, calibrate
from pr2.judge.judge import LLMJudge, Pair
from pr2.judge.parsing import parse_score

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


def test_a_smaller_generate_budget_is_on_record_and_never_reuses_the_full_budgets_verdicts(tmp_path):
    """A pair that failed within 2 retries may be read within 100: the two budgets share no cached verdict, and
    the scores file says which budget judged it."""
    cache = str(tmp_path / "cache.jsonl")
    late = ScriptedJudgeModel(lambda round_, _: '{"score": 2}' if round_ == 5 else "not yet")
    short = LLMJudge(JudgeConfig(model="x", mode="generate", retry_cap=2, max_tokens=64, cache_path=cache), late)
    assert short.judge([PAIR])[0].failed
    assert short.describe()["retry_cap"] == 2 and short.describe()["max_tokens"] == 64
    full = LLMJudge(JudgeConfig(model="x", mode="generate", cache_path=cache), ScriptedJudgeModel(late.answer))
    (j,) = full.judge([PAIR])
    assert j.score == 2 and not j.failed and full.stats.cached == 0
    assert "retry_cap" not in full.describe() and "max_tokens" not in full.describe()


def test_prompt_shows_question_details_response_and_aspect():
    model = ScriptedJudgeModel(lambda *_: '{"score": 1}')
    LLMJudge(JudgeConfig(model="x", mode="generate"), model).judge([PAIR])
    text = model.prompts[0][0]["content"]
    for value in PAIR.texts().values():
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


class FixedScores:
    """A judge model whose next-token probabilities of "0", "1", "2" are given."""

    model_name = "fixed"

    def __init__(self, probs):
        self.probs, self.prompts = probs, []

    def score(self, prompts, candidates):
        self.prompts.extend(prompts)
        return [{c: math.log(p) for c, p in zip(candidates, self.probs, strict=True)} for _ in prompts]


def test_logprob_mode_is_the_expected_score_under_the_judges_probabilities():
    # p(0, 1, 2) = (0.2, 0.3, 0.5) -> 0*0.2 + 1*0.3 + 2*0.5 = 1.3; unnormalised mass is renormalised first.
    (j,) = LLMJudge(JudgeConfig(model="x", mode="logprob"), FixedScores([0.2, 0.3, 0.5])).judge([PAIR])
    assert j.score == pytest.approx(1.3) and not j.failed
    (j,) = LLMJudge(JudgeConfig(model="x", mode="logprob"), FixedScores([0.1, 0.1, 0.0001])).judge([PAIR])
    assert j.score == pytest.approx((0.1 + 0.0002) / 0.2001)


def test_logprob_mode_on_the_hf_back_end_matches_a_forward_pass_by_hand(tiny_generator):
    import torch

    judge = LLMJudge(JudgeConfig(model="tiny", mode="logprob"), tiny_generator)
    (j,) = judge.judge([PAIR])
    tok = tiny_generator.tokenizer
    ids = tiny_generator.encode_prompt(judge.messages(PAIR))
    with torch.inference_mode():
        logits = tiny_generator.model(input_ids=torch.tensor([ids])).logits[0, -1]
    p = torch.softmax(logits.float(), -1)[[tok.convert_tokens_to_ids(c) for c in "012"]]
    assert j.score == pytest.approx(float((p * torch.tensor([0.0, 1.0, 2.0])).sum() / p.sum()), abs=1e-5)


def test_generate_mode_on_the_hf_back_end_retries_then_gives_up_with_zero(tiny_generator):
    # The random model never writes JSON: every round is re-asked, greedy first, hotter each time, then 0.
    texts, temperatures = [], []

    class Recording:
        model_name, tokenizer = "tiny", tiny_generator.tokenizer

        def generate(self, prompts, params):
            temperatures.append(params.temperature)
            out = tiny_generator.generate(prompts, params)
            texts.extend(c.text for c in out)
            return out

    judge = LLMJudge(JudgeConfig(model="tiny", mode="generate", retry_cap=2, max_tokens=16), Recording())
    (j,) = judge.judge([PAIR])
    assert temperatures == [0.0, 0.1, 0.2] and len(texts) == 3
    assert not any(parse_score(t) for t in texts)
    assert j.failed and j.score == 0 and j.rounds == 3 and judge.stats.failed == 1
    greedy = tiny_generator.generate([judge.messages(PAIR)], SamplingParams(max_tokens=16))[0].text
    assert texts[0] == greedy  # round 0 is the judge's exact prompt, greedy


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


class Axis:
    """A fake encoder: each text maps to a fixed unit vector, so every cosine is known."""

    def __init__(self, vectors):
        self.vectors = vectors

    def encode(self, texts, **_):
        return np.array([self.vectors[t] for t in texts])


def test_calibrate_takes_the_95th_percentile_off_topic_and_the_median_narrative():
    from pr2.data.schema import Aspect, ProfileItem, Question

    def unit(cos):
        return [cos, math.sqrt(1 - cos * cos)]

    aspect = Aspect("a", "r", "e")
    off = [f"off {i}" for i in range(20)]
    vectors = {aspect_text("a", "r", "e"): [1.0, 0.0], "rel": unit(0.9)}
    vectors.update({t: unit(i / 100) for i, t in enumerate(off)})  # cosines 0.00 .. 0.19
    questions = []
    for n, cos in enumerate((0.5, 0.6, 0.8)):
        vectors[f"narrative {n}"] = unit(cos)
        profile = [ProfileItem("rel", "rel"), *(ProfileItem(t, t) for t in off)]
        questions.append(
            Question(f"q{n}", "?", f"narrative {n}", profile, [aspect], extra={"relevant_profile_ids": ["rel"]})
        )
    low, high = calibrate(questions, Axis(vectors))
    assert low == pytest.approx(np.percentile([i / 100 for i in range(20)], 95))
    assert high == pytest.approx(0.6)


def test_default_thresholds_hold_on_questions_they_were_not_calibrated_on():
    # Fitted on the train split; judged here on validation + test: off-topic posts seldom score, narratives do.
    from pr2.data import sample_questions

    judge = build_judge(JudgeConfig(mode="embedding"))
    held_out = [q for q in sample_questions() if q.split != "train"]
    pairs_off, pairs_narrative = [], []
    for q in held_out:
        relevant = set(q.extra["relevant_profile_ids"])
        for a in q.rubric_aspects:
            pairs_narrative.append(Pair(q.question, q.narrative, q.narrative, a.aspect, a.reason, a.evidence))
            pairs_off += [
                Pair(q.question, q.narrative, p.text, a.aspect, a.reason, a.evidence)
                for p in q.profile
                if p.id not in relevant
            ][:5]
    off_scores = [j.score for j in judge.judge(pairs_off)]
    narrative_scores = [j.score for j in judge.judge(pairs_narrative)]
    assert sum(s == 0 for s in off_scores) / len(off_scores) >= 0.9
    assert sum(s >= 1 for s in narrative_scores) / len(narrative_scores) >= 0.8
    assert sum(s == 2 for s in narrative_scores) / len(narrative_scores) >= 0.4


def test_unknown_mode():
    with pytest.raises(PR2Error, match="unknown judge mode 'vibes'"):
        build_judge(JudgeConfig(mode="vibes"))
    assert json.dumps(JudgeConfig().__dict__)


def test_an_evaluation_killed_mid_way_keeps_every_finished_chunk(tmp_path):
    # The judge model dies after its third call (a kill, a lost server); the resumed judge re-judges nothing that
    # reached the cache, and the scores equal an uninterrupted run's.
    pairs = [dataclasses.replace(PAIR, response=f"response {i}") for i in range(10)]

    def scripted(n, prompt):
        return f'{{"score": {len(prompt[0]["content"]) % 3}}}'

    whole = LLMJudge(JudgeConfig(model="x", mode="generate", flush_every=2), ScriptedJudgeModel(scripted))
    expected = [j.score for j in whole.judge(pairs)]

    class Dies(ScriptedJudgeModel):
        def generate(self, prompts, params):
            if len(self.temperatures) == 3:
                raise RuntimeError("killed")
            return super().generate(prompts, params)

    cache = str(tmp_path / "cache.jsonl")
    with pytest.raises(RuntimeError, match="killed"):
        LLMJudge(JudgeConfig(model="x", mode="generate", flush_every=2, cache_path=cache), Dies(scripted)).judge(pairs)
    assert len((tmp_path / "cache.jsonl").read_text().splitlines()) == 6  # three chunks of two, all kept
    again = ScriptedJudgeModel(scripted)
    resumed = LLMJudge(JudgeConfig(model="x", mode="generate", flush_every=2, cache_path=cache), again)
    assert [j.score for j in resumed.judge(pairs)] == expected
    assert len(again.prompts) == 4 and resumed.stats.cached == 6


class BatchSensitive:
    """A judge model whose verdict depends on the batch it is in (as padding does for a real one): its score for a
    prompt is the batch's size mod 3."""

    model_name = "batch-sensitive"

    def __init__(self, dies_after: int | None = None):
        self.calls, self.dies_after = 0, dies_after

    def generate(self, prompts, params):
        self.calls += 1
        if self.dies_after is not None and self.calls > self.dies_after:
            raise RuntimeError("killed")
        return [Completion(f'{{"score": {len(prompts) % 3}}}') for _ in prompts]


def test_a_resumed_evaluation_gives_every_score_of_an_uninterrupted_one_bit_for_bit(tmp_path):
    """Killed after two of its chunks and resumed, an evaluation of 10 pairs in chunks of 4 judges the third chunk
    (2 pairs) as the uninterrupted run did, so every score is the same even for a judge that reads its batch."""
    pairs = [dataclasses.replace(PAIR, response=f"response {i}") for i in range(10)]
    expected = LLMJudge(JudgeConfig(model="x", mode="generate", flush_every=4), BatchSensitive()).judge(pairs)
    cache = str(tmp_path / "cache.jsonl")
    config = JudgeConfig(model="x", mode="generate", flush_every=4, cache_path=cache)
    with pytest.raises(RuntimeError, match="killed"):
        LLMJudge(config, BatchSensitive(dies_after=2)).judge(pairs)
    resumed = LLMJudge(config, BatchSensitive())
    got = resumed.judge(pairs)
    assert [j.score for j in got] == [j.score for j in expected] == [1.0] * 8 + [2.0] * 2
    assert resumed.stats.cached == 8
    # a resume that also finds a chunk cut short judges that chunk whole again, keeping what it had
    lines = (tmp_path / "cache.jsonl").read_text().splitlines()
    (tmp_path / "cache.jsonl").write_text("\n".join(lines[:-1]) + "\n")  # the last pair's verdict lost
    again = LLMJudge(config, BatchSensitive())
    assert [j.score for j in again.judge(pairs)] == [j.score for j in expected]
