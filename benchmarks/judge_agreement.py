"""Judge agreement: the training reward's judge mode (`logprob`, the expected 0/1/2 score after the benchmark's answer
prefill) against the evaluation's (`generate`, the judge writes its score), on the same pairs.

The paper configs train with one mode while LaMP-QA evaluates with the other; this measures how far they agree,
aspect by aspect (`pr2 report agreement`: pairs both read, Spearman rank correlation, mean absolute difference,
exact agreement). Responses: for every question of the bundled sample (all splits), its own narrative (which covers
its aspects) and a generic answer (which does not). Judge: the largest model this machine runs offline, SmolLM2-135M-
Instruct, under the benchmark's protocol (read from its code) with a small generate budget (retries and tokens, on
record in the scores files; 64 tokens hold the benchmark's JSON score): a 135M judge says little about a 32B one; the command is the one to run with a real
judge behind a server (`--judge-backend openai --base-url URL --judge Qwen/Qwen2.5-32B-Instruct`).

Run: python benchmarks/judge_agreement.py --lamp-qa-repo CHECKOUT [--output runs/judge-agreement] [--retry-cap 3]
     [--max-new-tokens 64] [--splits test]
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from pr2.data import sample_questions
from pr2.data.io import write_json_atomic, write_questions
from pr2.judge import JudgeConfig, build_judge
from pr2.judge.agreement import agreement
from pr2.judge.evaluate import evaluate_file

GENERIC = "Every situation is different. Do some research, be patient and keep practising; you will get there."


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lamp-qa-repo", required=True, help="a checkout of the LaMP-QA repository")
    parser.add_argument("--judge", default="smollm2")
    parser.add_argument("--judge-backend", default="hf")
    parser.add_argument("--base-url")
    parser.add_argument("--retry-cap", type=int, default=3)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--splits", default="test", help="splits of the bundled sample (comma list)")
    parser.add_argument("--dtype", default="auto", help="hf: the judge's dtype (auto: bf16 where the CPU has it)")
    parser.add_argument("--output", type=Path, default=Path("runs/judge-agreement"))
    args = parser.parse_args()
    args.output.mkdir(parents=True, exist_ok=True)
    questions, responses = [], {}
    for q in [q for split in args.splits.split(",") for q in sample_questions(split)]:
        for kind, text in (("narrative", q.narrative), ("generic", GENERIC)):
            copy = replace(q, id=f"{q.id}-{kind}")
            questions.append(copy)
            responses[copy.id] = [{"output": text}]
    data, answers = args.output / "questions.jsonl", args.output / "responses.json"
    write_questions(data, questions)
    write_json_atomic(answers, responses)
    files = {}
    for mode in ("logprob", "generate"):
        config = JudgeConfig(
            model=args.judge, mode=mode, protocol="lamp-qa", lamp_qa_repo=args.lamp_qa_repo,
            retry_cap=args.retry_cap, max_tokens=args.max_new_tokens,
            cache_path=str(args.output / f"{mode}.judge-cache.jsonl"),
        )  # fmt: skip
        options = {"dtype": args.dtype} if args.judge_backend == "hf" else {"base_url": args.base_url}
        judge = build_judge(config, backend=args.judge_backend, **options)
        files[mode] = args.output / f"{mode}.scores.json"
        evaluate_file(data, answers, files[mode], judge)
        print(f"{mode}: {len(questions)} responses judged -> {files[mode]}")
    for line in agreement(files["logprob"], files["generate"]).lines():
        print(line)


if __name__ == "__main__":
    main()
