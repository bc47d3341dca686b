"""Does pr2's lamp-qa judge send the benchmark's requests and write its scores? Checked as the benchmark's users
would: its own `evaluator()` runs with only the LLM replaced by a deterministic judge (tests/judge/fake_judge.py),
and pr2 evaluates the same responses against the same judge behind a local OpenAI-compatible server.

Run: python scripts/compare_lamp_qa.py --lamp-qa-repo PATH_TO_CHECKOUT [--questions 6]
(a checkout of github.com/LaMP-Benchmark/LaMP-QA at 504410d0; the benchmark's code is run, never copied here).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.judge.fake_judge import FakeJudgeServer, FakeLLM  # noqa: E402


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


def compare_baselines(repo: Path, records: list[dict], rag: bool, num_contexts: int) -> None:
    """The benchmark's baselines.py (its vLLM engine replaced by the fake model) against pr2 baseline --protocol
    lamp-qa on the same records and the same fake model behind a server."""
    import subprocess

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
            env={**__import__("os").environ, "PYTHONPATH": str(tmp / "shim")},
        )
        if run.returncode != 0:
            raise SystemExit(f"the benchmark's baselines.py failed: {run.stderr[-2000:]}")
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
        if result.exit_code != 0:
            raise SystemExit(f"pr2 baseline failed: {result.output[-2000:]}")
        theirs_messages = [json.loads(line) for line in log.read_text().splitlines()]
        ours_messages = [r["messages"] for r in server.requests]
        theirs = json.loads((tmp / "theirs.json").read_text())
        ours = json.loads((tmp / "ours" / "responses.json").read_text())
    same = sum(json.dumps(m) in {json.dumps(x) for x in ours_messages} for m in theirs_messages)
    name = "rag" if rag else "no personalization"
    print(
        f"baseline {name}: requests benchmark {len(theirs_messages)}, pr2 {len(ours_messages)}; "
        f"messages identical {same}/{len(theirs_messages)}"
    )
    equal = sum(
        [(e["output"], e["whole_output"]) for e in theirs[k]] == [(e["output"], e["whole_output"]) for e in ours[k]]
        for k in theirs
    )
    print(f"baseline {name}: answers (output, whole_output) equal for {equal}/{len(theirs)} questions")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lamp-qa-repo", required=True)
    parser.add_argument("--questions", type=int, default=6)
    args = parser.parse_args()
    from pr2.data import sample_questions
    from pr2.generation import GeneratorConfig, load_generator
    from pr2.judge.evaluate import evaluate_file
    from pr2.judge.judge import JudgeConfig, LLMJudge

    questions = sample_questions("test")[: args.questions]
    records = [q.to_record() for q in questions]
    responses = {q.id: [{"output": f"{q.narrative[:200]} (a response to {q.id})"}] for q in questions}
    theirs, their_messages = benchmark_scores(Path(args.lamp_qa_repo), records, responses)
    with tempfile.TemporaryDirectory() as tmp, FakeJudgeServer() as server:
        data, resp = Path(tmp) / "data.json", Path(tmp) / "responses.json"
        data.write_text(json.dumps(records))
        resp.write_text(json.dumps(responses))
        judge = LLMJudge(
            JudgeConfig(model="judge", mode="generate", protocol="lamp-qa", lamp_qa_repo=args.lamp_qa_repo),
            load_generator(GeneratorConfig(model="judge", backend="openai", base_url=server.url)),
        )
        ours = evaluate_file(data, resp, Path(tmp) / "scores.json", judge).to_record()
        our_messages = [r["messages"] for r in server.requests]
    key = json.dumps
    same = sum(key(m) in {key(x) for x in our_messages} for m in their_messages)
    print(f"requests: benchmark {len(their_messages)}, pr2 {len(our_messages)}")
    print(f"messages identical: {same}/{len(their_messages)}")
    their_q = [q["score"] for q in theirs["per_question_scores"]]
    our_q = [q["score"] for q in ours["per_question_scores"]]
    print(f"per-question scores equal: {sum(a == b for a, b in zip(their_q, our_q, strict=True))}/{len(their_q)}")
    print(f"file score: benchmark {theirs['score']:.4f}, pr2 {ours['score']:.4f}")
    for rag in (False, True):
        compare_baselines(Path(args.lamp_qa_repo), records, rag=rag, num_contexts=5)


if __name__ == "__main__":
    main()
