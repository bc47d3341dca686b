import json

import pytest
from typer.testing import CliRunner

from pr2.baselines import BaselineConfig, run_baseline
from pr2.cli import app
from pr2.data import sample_path, sample_questions
from pr2.errors import PR2Error
from pr2.judge.responses import load_responses
from pr2.retrieval import load_retriever

runner = CliRunner()


class Recorder:
    def __init__(self, inner):
        self.inner, self.prompts = inner, []
        self.model_name, self.tokenizer = inner.model_name, inner.tokenizer

    def generate(self, prompts, params):
        self.prompts.extend(prompts)
        return self.inner.generate(prompts, params)


@pytest.mark.slow
@pytest.mark.parametrize("method", ["none", "rag", "planpers"])
def test_baselines_answer_with_the_right_context(hf_generator, method):
    questions = sample_questions("test")[:2]
    rec = Recorder(hf_generator)
    config = BaselineConfig(method=method, top_k=4, max_tokens=24)
    outputs = run_baseline(questions, rec, config, retriever=load_retriever("minilm"))
    assert [o.id for o in outputs] == [q.id for q in questions] and all(o.answer for o in outputs)
    last_prompt = rec.prompts[-1][-1]["content"]
    if method == "none":
        assert outputs[0].context_ids == [] and "Earlier posts" not in last_prompt
    else:
        q = questions[-1]
        assert len(outputs[-1].context_ids) == 4 and set(outputs[-1].context_ids) <= {p.id for p in q.profile}
        texts = {p.id: p.text for p in q.profile}
        assert texts[outputs[-1].context_ids[0]][:30] in last_prompt
        assert len(set(q.extra["relevant_profile_ids"]) & set(outputs[-1].context_ids)) >= 2
    if method == "planpers":
        assert outputs[0].plan and "Aspects they expect" in last_prompt
        assert len(rec.prompts) == 4  # two plans, then two answers


@pytest.mark.parametrize("method", ["none", "rag"])
def test_answer_prefill_starts_the_assistant_turn_and_the_answer(hf_generator, method):
    questions = sample_questions("test")[:2]
    rec = Recorder(hf_generator)
    config = BaselineConfig(method=method, top_k=2, max_tokens=8, temperature=0.0, answer_prefill="About you:")
    outputs = run_baseline(questions, rec, config, retriever=load_retriever("bm25"))
    for prompt, out in zip(rec.prompts, outputs, strict=True):
        assert isinstance(prompt, str) and prompt.endswith("<|im_start|>assistant\nAbout you:")
        assert out.answer.startswith("About you:") and len(out.answer) > len("About you:")
    plain = run_baseline(questions, hf_generator, BaselineConfig(method=method, top_k=2, max_tokens=8, temperature=0.0))
    assert not any(o.answer.startswith("About you:") for o in plain)
    with pytest.raises(PR2Error, match="answer-prefill is pr2's own"):
        run_baseline(questions, hf_generator, BaselineConfig(method=method, protocol="lamp-qa", answer_prefill="x"))


def test_unknown_method(hf_generator):
    with pytest.raises(PR2Error, match="unknown baseline method 'magic'"):
        run_baseline([], hf_generator, BaselineConfig(method="magic"))


def test_cli_baseline_rag_resumes(tmp_path):
    src = sample_path() / "Art_and_Entertainment_test.json"
    args = [
        "baseline",
        "--method",
        "rag",
        "--questions_address",
        str(src),
        "--output_address",
        str(tmp_path),
        "--max-tokens",
        "16",
        "--top-k",
        "3",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    responses = load_responses(tmp_path / "responses.json", ["ae-5", "ae-6"])
    assert len(responses) == 2
    again = runner.invoke(app, args)
    assert "(2 resumed)" in again.output
    assert json.loads((tmp_path / "responses.json").read_text()) == {k: [{"output": v}] for k, v in responses.items()}
