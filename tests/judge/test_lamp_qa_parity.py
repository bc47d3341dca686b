"""pr2's lamp-qa protocol against the benchmark's own code: its `evaluator()` and `baselines.py` run from a checkout
of github.com/LaMP-Benchmark/LaMP-QA (504410d0) with only the LLM replaced by a deterministic fake
(tests/judge/fake_judge.py), and pr2 against the same fake behind a local OpenAI-compatible server: the same requests,
the same scores and answers. The benchmark's code is run, never copied here; without `$LAMP_QA_REPO` (a checkout)
this test is skipped.

    LAMP_QA_REPO=PATH_TO_CHECKOUT pytest tests/judge/test_lamp_qa_parity.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import types
from pathlib import Path

import pytest

from tests.judge.fake_judge import FakeJudgeServer, FakeLLM

ROOT = Path(__file__).resolve().parents[2]
REPO = os.environ.get("LAMP_QA_REPO")
pytestmark = [
    pytest.mark.skipif(not REPO, reason="set LAMP_QA_REPO to a checkout of the LaMP-QA repository"),
    pytest.mark.slow,
]


def benchmark_scores(repo: Path, records: list[dict], responses: dict) -> tuple[dict, list]:
    """The benchmark's evaluator() on these records, its vLLM engine replaced by the fake judge."""

    class SamplingParams:  # what evaluator.py builds; the fake judge reads its temperature
        def __init__(self, temperature=0.0, top_p=1.0, max_tokens=16, logprobs=None):
            self.temperature, self.top_p, self.max_tokens = temperature, top_p, max_tokens

    sys.modules.setdefault("vllm", types.SimpleNamespace(SamplingParams=SamplingParams))
    sys.path.insert(0, str(repo))
    from evaluation.evaluator import evaluator

    llm = FakeLLM()
    result = evaluator(
        [r["question"] for r in records],
        [str(responses[r["id"]][0]["output"]) for r in records],
        [r["narrative"] for r in records],
        [r["rubric_aspects"] for r in records],
        llm,
    )
    return result, llm.messages


VLLM_SHIM = """
import json, sys
sys.path.insert(0, {root!r})
from tests.judge.fake_judge import answer


class SamplingParams:
    def __init__(self, temperature=0.0, top_p=1.0, max_tokens=16, logprobs=None):
        self.temperature, self.top_p, self.max_tokens = temperature, top_p, max_tokens


class _Tokenizer:
    def apply_chat_template(self, conversation, tokenize=False, add_generation_prompt=True):
        return json.dumps([{{"role": m["role"], "content": m["content"]}} for m in conversation])


class _Completion:
    def __init__(self, text):
        self.text, self.cumulative_logprob = text, 0.0


class _Output:
    def __init__(self, text):
        self.outputs = [_Completion(text)]


class LLM:
    def __init__(self, model, download_dir=None, **kwargs):
        pass

    def get_tokenizer(self):
        return _Tokenizer()

    def generate(self, prompts, sampling_params, lora_request=None):
        with open({log!r}, "a") as log:
            for p in prompts:
                log.write(p + "\\n")
        return [_Output(answer(json.loads(p), sampling_params.temperature)) for p in prompts]
"""


def _compare_baselines(repo: Path, records: list[dict], rag: bool, num_contexts: int) -> None:
    """The benchmark's baselines.py (its vLLM engine replaced by the fake model) against pr2 baseline --protocol
    lamp-qa on the same records and the same fake model behind a server."""
    from typer.testing import CliRunner

    from pr2.cli import app

    with tempfile.TemporaryDirectory() as tmp, FakeJudgeServer() as server:
        tmp = Path(tmp)
        (tmp / "shim" / "vllm" / "lora").mkdir(parents=True)
        log = tmp / "benchmark-requests.jsonl"
        (tmp / "shim" / "vllm" / "__init__.py").write_text(VLLM_SHIM.format(root=str(ROOT), log=str(log)))
        (tmp / "shim" / "vllm" / "lora" / "__init__.py").write_text("")
        (tmp / "shim" / "vllm" / "lora" / "request.py").write_text("class LoRARequest:\n    pass\n")
        # utils/custom_llm.py (its API clients, unused here) imports these at module level
        (tmp / "shim" / "backoff.py").write_text("def on_exception(*a, **k):\n    return lambda f: f\n\nexpo = None\n")
        (tmp / "shim" / "google" / "generativeai").mkdir(parents=True)
        (tmp / "shim" / "google" / "__init__.py").write_text("")
        (tmp / "shim" / "google" / "generativeai" / "__init__.py").write_text("")
        data = tmp / "data.json"
        data.write_text(json.dumps(records))
        flags = ["--rag"] if rag else []
        run = subprocess.run(
            [
                sys.executable,
                "baselines.py",
                "--model_addr",
                "fake",
                "--inputs_addr",
                str(data),
                "--output_addr",
                str(tmp / "theirs.json"),
                "--num_contexts",
                str(num_contexts),
                "--cache_dir",
                str(tmp / "cache"),
                *flags,
            ],
            cwd=repo,
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONPATH": str(tmp / "shim")},
        )
        assert run.returncode == 0, f"the benchmark's baselines.py failed: {run.stderr[-2000:]}"
        result = CliRunner().invoke(
            app,
            [
                "baseline",
                "--protocol",
                "lamp-qa",
                "--questions_address",
                str(data),
                "--output_address",
                str(tmp / "ours"),
                "--split",
                "",
                "--model",
                "fake",
                "--backend",
                "openai",
                "--base-url",
                server.url,
                "--lamp-qa-repo",
                str(repo),
                "--num_contexts",
                str(num_contexts),
                *flags,
            ],
        )
        assert result.exit_code == 0, f"pr2 baseline failed: {result.output[-2000:]}"
        theirs_messages = [json.loads(line) for line in log.read_text().splitlines()]
        ours_messages = [r["messages"] for r in server.requests]
        theirs = json.loads((tmp / "theirs.json").read_text())
        ours = json.loads((tmp / "ours" / "responses.json").read_text())
    assert len(ours_messages) == len(theirs_messages) > 0
    ours_set = {json.dumps(x) for x in ours_messages}
    assert all(json.dumps(m) in ours_set for m in theirs_messages)  # every request the benchmark sends, identical
    assert set(theirs) == set(ours)
    for k in theirs:  # the answers it reads back from the same model
        assert [(e["output"], e["whole_output"]) for e in theirs[k]] == [
            (e["output"], e["whole_output"]) for e in ours[k]
        ], k


def _records():
    from pr2.data import sample_questions

    questions = sample_questions("test")[:6]
    records = [q.to_record() for q in questions]
    responses = {q.id: [{"output": f"{q.narrative[:200]} (a response to {q.id})"}] for q in questions}
    return records, responses


def test_the_judge_sends_the_benchmarks_requests_and_scores_as_it_does():
    from pr2.generation import GeneratorConfig, load_generator
    from pr2.judge.evaluate import evaluate_file
    from pr2.judge.judge import JudgeConfig, LLMJudge

    records, responses = _records()
    theirs, their_messages = benchmark_scores(Path(REPO), records, responses)
    with tempfile.TemporaryDirectory() as tmp, FakeJudgeServer() as server:
        data, resp = Path(tmp) / "data.json", Path(tmp) / "responses.json"
        data.write_text(json.dumps(records))
        resp.write_text(json.dumps(responses))
        judge = LLMJudge(
            JudgeConfig(model="judge", mode="generate", protocol="lamp-qa", lamp_qa_repo=REPO),
            load_generator(GeneratorConfig(model="judge", backend="openai", base_url=server.url)),
        )
        ours = evaluate_file(data, resp, Path(tmp) / "scores.json", judge).to_record()
        our_messages = [r["messages"] for r in server.requests]
    assert len(our_messages) == len(their_messages) > 0
    ours_set = {json.dumps(x) for x in our_messages}
    assert all(json.dumps(m) in ours_set for m in their_messages)
    assert [q["score"] for q in ours["per_question_scores"]] == [q["score"] for q in theirs["per_question_scores"]]
    assert ours["score"] == theirs["score"]


@pytest.mark.parametrize("rag", [False, True], ids=["no-personalization", "rag"])
def test_the_baselines_send_the_benchmarks_requests_and_read_its_answers(rag):
    records, _ = _records()
    _compare_baselines(Path(REPO), records, rag=rag, num_contexts=5)
