"""Judge speed: `logprob` mode against `generate` mode on the same (question, response, aspect) pairs.

Same judge model (default: the bundled SmolLM2-135M-Instruct on the hf back end), no cache. Responses: for each
bundled sample question, its narrative (covers the aspects) and a generic answer (does not).
Both modes are timed on the pairs generate mode scores (a pair that fell to 0 after its retries did other work); with
none, it prints that the two are not comparable. Prints both times, the speed ratio (generate time over logprob time)
and how often the two agree (logprob's expected score rounded to the nearest of 0/1/2 against generate's score).
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

    def timed(mode: str, subset: list[Pair]):
        judge = LLMJudge(JudgeConfig(model=args.judge, mode=mode, retry_cap=3, max_tokens=64), gen)
        start = time.perf_counter()
        results = judge.judge(subset)
        return results, time.perf_counter() - start, judge.stats

    # Only pairs that generate mode actually scores are comparable: a pair that fell to 0 after the retries did
    # other (more) work than one forward pass, and its 0 is no judgement to agree with.
    first, _, stats = timed("generate", pairs)
    done = [p for p, j in zip(pairs, first, strict=True) if not j.failed]
    print(f"generate mode read a score for {len(done)}/{len(pairs)} pairs (fell to 0: {stats.failed})")
    if not done:
        print("ratio: not comparable (generate mode scored no pair; use a judge that writes JSON)")
        return
    gen_results, gen_time, gen_stats = timed("generate", done)
    if gen_stats.failed:  # sampling is seeded per batch: a smaller batch draws other samples
        print(
            f"ratio: not comparable (on a second run over those {len(done)} pairs generate mode read a score for "
            f"{len(done) - gen_stats.failed}; use a judge that writes JSON reliably)"
        )
        return
    lp_results, lp_time, _ = timed("logprob", done)
    print(f"generate  {gen_time:7.1f}s for {len(done)} pairs (retried {gen_stats.retried})")
    print(f"logprob   {lp_time:7.1f}s for {len(done)} pairs")
    agree = sum(
        min((0, 1, 2), key=lambda s: abs(s - lp.score)) == g.score
        for lp, g in zip(lp_results, gen_results, strict=True)
    )
    print(f"agreement on those pairs: {agree}/{len(done)} = {agree / len(done):.2f}")
    print(f"ratio: {gen_time / lp_time:.2f}  (generate time over logprob time, same {len(done)} pairs)")


if __name__ == "__main__":
    main()
