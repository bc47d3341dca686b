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


if __name__ == "__main__":
    main()
