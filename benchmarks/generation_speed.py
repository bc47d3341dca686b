"""Generation throughput: a batch of prompts generated together against the same prompts one at a time.

Same model (default: the bundled SmolLM2-135M-Instruct, hf back end), same greedy settings, same prompts.
Run: python benchmarks/generation_speed.py [--prompts 16] [--max_tokens 64] [--model smollm2] [--repeats 3]
The last line reads `ratio: X` (batched tokens/s over one-at-a-time tokens/s, medians).
"""

from __future__ import annotations

import argparse
import statistics
import time

from pr2.data import sample_questions
from pr2.generation import GeneratorConfig, SamplingParams, load_generator


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--prompts", type=int, default=16)
    parser.add_argument("--max_tokens", type=int, default=64)
    parser.add_argument("--model", default="smollm2")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    gen = load_generator(GeneratorConfig(model=args.model, batch_size=args.prompts))
    questions = (sample_questions() * 4)[: args.prompts]
    prompts = [[{"role": "user", "content": q.question}] for q in questions]
    # A fixed length per completion (eos ignored by never stopping early would need a flag): count real tokens.
    params = SamplingParams(max_tokens=args.max_tokens)
    gen.generate(prompts[:2], params)  # warm-up
    rates = {"one-at-a-time": [], "batched": []}
    for _ in range(args.repeats):
        start = time.perf_counter()
        tokens = sum(len(gen.generate([p], params)[0].token_ids) for p in prompts)
        rates["one-at-a-time"].append(tokens / (time.perf_counter() - start))
        start = time.perf_counter()
        tokens = sum(len(c.token_ids) for c in gen.generate(prompts, params))
        rates["batched"].append(tokens / (time.perf_counter() - start))
    for name, r in rates.items():
        print(f"{name:<14} median {statistics.median(r):7.1f} tokens/s over {args.repeats} runs")
    print(f"ratio: {statistics.median(rates['batched']) / statistics.median(rates['one-at-a-time']):.2f}")


if __name__ == "__main__":
    main()
