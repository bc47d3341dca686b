"""Judge speed: `logprob` mode against `generate` mode on the same (question, response, aspect) pairs.

Same judge model (default: the bundled SmolLM2-135M-Instruct on the hf back end), no cache. Responses: for each
bundled sample question, its narrative (covers the aspects) and a generic answer (does not).
Prints both times, the speed ratio (generate time over logprob time) and how often the two modes agree (logprob's
expected score rounded to the nearest of 0/1/2 against generate's score).
Run: python benchmarks/judge_speed.py [--questions 6] [--judge smollm2]
"""

from __future__ import annotations

import argparse
import time

from pr2.data import sample_questions
from pr2.generation import GeneratorConfig, load_generator
from pr2.judge.judge import JudgeConfig, LLMJudge, Pair

GENERIC = "Every situation is different. Do some research, be patient and keep practising; you will get there."


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--questions", type=int, default=6)
    parser.add_argument("--judge", default="smollm2")
    args = parser.parse_args()
    gen = load_generator(GeneratorConfig(model=args.judge))
    pairs = [
        Pair(q.question, q.narrative, response, a.aspect, a.reason, a.evidence)
        for q in sample_questions("test")[: args.questions]
        for response in (q.narrative, GENERIC)
        for a in q.rubric_aspects
    ]
    results, times = {}, {}
    for mode in ("logprob", "generate"):
        judge = LLMJudge(JudgeConfig(model=args.judge, mode=mode, retry_cap=3, max_tokens=64), gen)
        start = time.perf_counter()
        results[mode] = judge.judge(pairs)
        times[mode] = time.perf_counter() - start
        print(
            f"{mode:<9} {times[mode]:7.1f}s for {len(pairs)} pairs (retried {judge.stats.retried}, "
            f"fell to 0 {judge.stats.failed})"
        )
    agree = sum(
        min((0, 1, 2), key=lambda s: abs(s - lp.score)) == g.score
        for lp, g in zip(results["logprob"], results["generate"], strict=True)
    )
    print(f"agreement: {agree}/{len(pairs)} = {agree / len(pairs):.2f}")
    print(f"ratio: {times['generate'] / times['logprob']:.2f}  (generate time over logprob time)")


if __name__ == "__main__":
    main()
