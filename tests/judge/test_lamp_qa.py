"""The lamp-qa protocol: the benchmark's judge messages, sampling, parsing, retries, read from its own files.

Runs on a local fixture laid out like the benchmark's evaluator.py, with our own placeholder text (no copy of the
benchmark here), against a deterministic OpenAI-compatible judge server on loopback.
"""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pr2.cli import app
from pr2.data.benchmark_code import benchmark_file
from pr2.errors import PR2Error
from pr2.judge.judge import JudgeConfig, LLMJudge, Pair
from pr2.judge.lamp_qa import LampQAJudgePrompt, parse_match_score, temperatures
from tests.conftest import make_record
from tests.judge.fake_judge import FakeJudgeServer, answer, digest

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "lamp-qa"
runner = CliRunner()


def test_messages_are_read_from_the_benchmarks_file_with_its_aspect_block():
    prompt = LampQAJudgePrompt.load(str(FIXTURE))
    system, user = prompt.messages("Q?", "details", "resp", "asp", "why", "ev")
    assert system == {
        "role": "system",
        "content": "PLACEHOLDER SYSTEM TEXT for the judge's instructions (not the benchmark's words).",
    }
    assert user["role"] == "user"
    assert (
        user["content"]
        == "\nQ: Q?\nD: details\nR: resp\nA: -aspect: asp\n    -reason: why\n    -evidence: ev\nPLACEHOLDER CLOSING LINE.\n"
    )


def test_parsing_is_the_benchmarks():
    assert parse_match_score('```json\n{"match_score": 2}\n```') == 2
    assert parse_match_score('{"match_score": 1, "note": "line\nbreak"}') == 1  # strict=False
    assert parse_match_score("```json\n{match_score: 1,}\n```") == 1  # json5
    assert parse_match_score('{"score": 2}') is None and parse_match_score("two") is None
    assert parse_match_score('Sure: ```json\n{"match_score": 2}```') is None  # prose around the block: retried


def test_temperature_schedule_accumulates_like_the_benchmark():
    t = temperatures(14)
    assert t[:3] == [0.0, 0.1, 0.2] and t[3] == 0.30000000000000004
    assert t[10] == 0.9999999999999999 and t[11:] == [1.0999999999999999] * 3


class Recorder:
    def __init__(self, texts):
        self.texts, self.calls = texts, []

    model_name = "scripted"

    def generate(self, prompts, params):
        self.calls.append((params.temperature, params.top_p, params.max_tokens, params.seed, len(prompts)))
        return [type("C", (), {"text": self.texts(len(self.calls))})() for _ in prompts]


def test_retries_until_round_101_then_zero_with_the_benchmarks_sampling():
    judge = LLMJudge(
        JudgeConfig(model="x", mode="generate", protocol="lamp-qa", lamp_qa_repo=str(FIXTURE)),
        Recorder(lambda n: "no json"),
    )
    (j,) = judge.judge([Pair("q", "d", "r", "a", "why", "e")])
    assert j.failed and j.score == 0 and j.rounds == 101 and len(judge.generator.calls) == 101
    assert [c[0] for c in judge.generator.calls] == temperatures(101)
    assert {c[1:4] for c in judge.generator.calls} == {(0.95, 4096, None)}
    ok = LLMJudge(
        JudgeConfig(model="x", mode="generate", protocol="lamp-qa", lamp_qa_repo=str(FIXTURE)),
        Recorder(lambda n: '```json\n{"match_score": 1}\n```' if n == 3 else "nope"),
    )
    (j,) = ok.judge([Pair("q", "d", "r", "a", "why", "e")])
    assert j.score == 1 and j.rounds == 3 and not j.failed


def test_evaluate_sends_exactly_the_protocols_requests_and_writes_its_scores(tmp_path, write_json):
    records = [make_record(f"q{i}", n_aspects=3) for i in range(4)]
    data = write_json("data.json", records)
    responses = write_json("responses.json", {r["id"]: [{"output": f"answer to {r['id']}"}] for r in records})
    prompt = LampQAJudgePrompt.load(str(FIXTURE))
    expected_messages, expected_scores = [], []
    for r in records:
        total = 0
        for a in r["rubric_aspects"]:
            m = prompt.messages(
                r["question"], r["narrative"], f"answer to {r['id']}", a["aspect"], a["reason"], a["evidence"]
            )
            expected_messages.append(m)
            total += digest(m) % 3  # what the judge answers once readable
        expected_scores.append(total / (2 * len(r["rubric_aspects"])))
    with FakeJudgeServer() as server:
        result = runner.invoke(
            app,
            [
                "evaluate",
                "--evaluator_llm",
                "judge",
                "--backend",
                "openai",
                "--base-url",
                server.url,
                "--judge-mode",
                "generate",
                "--judge-protocol",
                "lamp-qa",
                "--lamp-qa-repo",
                str(FIXTURE),
                "--inputs_addr",
                str(data),
                "--response_addr",
                str(responses),
                "--score_addr",
                str(tmp_path / "s.json"),
            ],
        )
    assert result.exit_code == 0, result.output
    first_round = [r["messages"] for r in server.requests if r["temperature"] == 0.0]
    assert sorted(map(json.dumps, first_round)) == sorted(map(json.dumps, expected_messages))
    assert {(r["top_p"], r["max_tokens"]) for r in server.requests} == {(0.95, 4096)}
    retried = [m for m in expected_messages if answer(m, 0.0).startswith("I would")]
    assert len(server.requests) == len(expected_messages) + 3 * len(retried)  # unreadable at 0.0, 0.1, 0.2
    scores = json.loads((tmp_path / "s.json").read_text())
    assert [q["score"] for q in scores["per_question_scores"]] == pytest.approx(expected_scores)
    assert scores["score"] == pytest.approx(sum(expected_scores) / len(expected_scores))
    assert scores["judge"]["protocol"] == "lamp-qa" and scores["judge"]["mode"] == "generate"


def test_offline_without_a_checkout_is_one_line(monkeypatch, tmp_path):
    monkeypatch.delenv("LAMP_QA_REPO", raising=False)
    monkeypatch.setenv("PR2_CACHE_DIR", str(tmp_path))
    import urllib.request

    def offline(*a, **k):
        raise OSError("network unreachable")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(PR2Error, match=r"pass --lamp-qa-repo PATH \(or set LAMP_QA_REPO\)") as err:
        benchmark_file("evaluation/evaluator.py")
    assert "\n" not in str(err.value)


def test_a_download_with_the_wrong_hash_is_refused(monkeypatch, tmp_path):
    monkeypatch.delenv("LAMP_QA_REPO", raising=False)
    monkeypatch.setenv("PR2_CACHE_DIR", str(tmp_path))
    import io
    import urllib.request

    monkeypatch.setattr(urllib.request, "urlopen", lambda *a, **k: io.BytesIO(b"_EVAL_PROMPT_SYSTEM = 'tampered'"))
    with pytest.raises(PR2Error, match="not the pinned"):
        benchmark_file("evaluation/evaluator.py")


def test_evaluate_responses_takes_every_flag_of_the_benchmarks_script(tmp_path, write_json):
    import subprocess
    import sys

    sys.path.insert(0, str(ROOT))
    from evaluate_responses import with_benchmark_defaults

    benchmark_flags = [
        "--evaluator_llm",
        "Qwen/Qwen2.5-32B-Instruct",
        "--inputs_addr",
        "d",
        "--response_addr",
        "r",
        "--score_addr",
        "s",
    ]
    argv = with_benchmark_defaults(benchmark_flags)
    assert argv[:9] == ["evaluate", *benchmark_flags]
    assert dict(zip(argv[9::2], argv[10::2], strict=True)) == {
        "--backend": "vllm",
        "--judge-mode": "generate",
        "--cache_dir": "./cache",
        "--max_length": "32000",
    }  # the benchmark's engine and defaults; the protocol is lamp-qa by default
    records = [make_record(f"q{i}") for i in range(2)]
    data = write_json("data.json", records)
    responses = write_json("responses.json", {r["id"]: [{"output": "an answer"}] for r in records})
    with FakeJudgeServer() as server:
        result = subprocess.run(
            [
                sys.executable,
                "evaluate_responses.py",
                "--evaluator_llm",
                "judge",
                "--inputs_addr",
                str(data),
                "--response_addr",
                str(responses),
                "--score_addr",
                str(tmp_path / "s.json"),
                "--cache_dir",
                str(tmp_path / "cache"),
                "--tensor_parallel_size",
                "1",
                "--max_length",
                "4096",
                "--backend",
                "openai",
                "--base-url",
                server.url,
                "--lamp-qa-repo",
                str(FIXTURE),
            ],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=120,
        )
    assert result.returncode == 0, result.stderr[-2000:]
    assert len(server.requests) >= 4 and all(r["messages"][0]["role"] == "system" for r in server.requests)
    assert json.loads((tmp_path / "s.json").read_text())["judge"]["protocol"] == "lamp-qa"


ROOT = Path(__file__).resolve().parents[2]


def test_logprob_mode_scores_the_digit_after_the_benchmarks_answer_prefix(tiny_generator):
    import torch

    from pr2.judge.lamp_qa import LOGPROB_PREFILL

    pair = Pair("q", "d", "r", "a", "why", "e")
    judge = LLMJudge(
        JudgeConfig(model="tiny", mode="logprob", protocol="lamp-qa", lamp_qa_repo=str(FIXTURE)), tiny_generator
    )
    (j,) = judge.judge([pair])
    tok = tiny_generator.tokenizer
    text = tok.apply_chat_template(judge.messages(pair), tokenize=False, add_generation_prompt=True)
    assert judge.messages(pair)[0]["role"] == "system"
    ids = tok(text + LOGPROB_PREFILL, add_special_tokens=False)["input_ids"]
    with torch.inference_mode():
        p = torch.softmax(tiny_generator.model(input_ids=torch.tensor([ids])).logits[0, -1], -1)
    p = p[[tok.convert_tokens_to_ids(c) for c in "012"]]
    assert j.score == pytest.approx(float((p * torch.tensor([0.0, 1.0, 2.0])).sum() / p.sum()), abs=1e-5)


def test_baselines_send_the_benchmarks_prompts_and_write_its_records(tmp_path, write_json):
    records = [make_record(f"q{i}", n_profile=4) for i in range(5)]
    data = write_json("data.json", records)

    def baseline(server, out, *flags):
        common = ["--questions_address", str(data), "--split", "", "--model", "policy", "--backend", "openai"]
        args = ["baseline", "--protocol", "lamp-qa", *common, "--base-url", server.url, "--lamp-qa-repo", str(FIXTURE)]
        result = runner.invoke(app, [*args, "--output_address", str(tmp_path / out), *flags])
        assert result.exit_code == 0, result.output

    with FakeJudgeServer() as server:
        baseline(server, "rag", "--rag", "--num_contexts", "2")
        rag_requests = list(server.requests)
        server.requests.clear()
        baseline(server, "none")
    first = {json.dumps(r["messages"]) for r in rag_requests if r["temperature"] == 0.0}
    expected = [
        [
            {"role": "system", "content": "PLACEHOLDER RAG SYSTEM TEXT (not the benchmark's words)."},
            {
                "role": "user",
                "content": f"\nPOSTS:\npost 0 of {r['id']}\n\npost 1 of {r['id']}\nQUESTION:\n{r['question']}\n",
            },
        ]
        for r in records
    ]
    assert first == {json.dumps(m) for m in expected}  # the first num_contexts posts in file order, blank lines
    assert {(r["top_p"], r["max_tokens"]) for r in rag_requests} == {(0.95, 4096)}
    none_messages = [r["messages"] for r in server.requests if r["temperature"] == 0.0]
    assert all(m[0]["content"] == "PLACEHOLDER NO-RAG SYSTEM TEXT." and len(m) == 2 for m in none_messages)
    responses = json.loads((tmp_path / "rag" / "responses.json").read_text())
    assert list(responses) == [r["id"] for r in records]
    for entries in responses.values():
        (entry,) = entries
        assert set(entry) == {"prompt", "whole_output", "output", "log_prob"}
        assert entry["output"] == entry["whole_output"]["personalized_answer"] and entry["output"].startswith("answer ")
    unreadable_at_zero = [m for m in expected if answer(m, 0.0).startswith("I would")]
    assert len(rag_requests) > len(records) or not unreadable_at_zero  # retried where the first answer was prose
