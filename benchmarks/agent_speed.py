"""Agent loop throughput: the batched loop (one generate call per turn over all unfinished questions) against the
same loop run one question at a time. Same model (bundled SmolLM2-135M-Instruct), settings and seeds.

Prints generated tokens per second for both, the ratio (batched over one-at-a-time), and the share of the batched
run's time spent in retrieval (index building + search).
Run: python benchmarks/agent_speed.py [--questions 16] [--repeats 1]
"""

from __future__ import annotations

import argparse
import statistics
import time

from pr2.agent import AgentConfig, run_agent
from pr2.agent.loop import LoopTimings
from pr2.data import sample_questions
from pr2.generation import GeneratorConfig, load_generator
from pr2.retrieval import load_retriever


def model_tokens(trajectories) -> int:
    return sum(sum(m for m in t.loss_mask) for t in trajectories)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--questions", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    questions = sample_questions()[: args.questions]
    gen = load_generator(GeneratorConfig(model="smollm2", batch_size=args.questions))
    retriever = load_retriever("minilm")
    base = dict(temperature=0.7, top_p=0.9, max_model_len=1024, max_turn_tokens=128, seed=0)
    batched_cfg = AgentConfig(batch_size=args.questions, **base)
    single_cfg = AgentConfig(batch_size=1, **base)
    rates = {"one-at-a-time": [], "batched": []}
    shares = []
    for _ in range(args.repeats):
        for name, cfg in (("one-at-a-time", single_cfg), ("batched", batched_cfg)):
            timings = LoopTimings()
            start = time.perf_counter()
            trajs = run_agent(questions, gen, cfg, retriever=retriever, timings=timings)
            seconds = time.perf_counter() - start
            rates[name].append(model_tokens(trajs) / seconds)
            if name == "batched":
                shares.append(timings.retrieval / timings.total)
            searches = sum(len(t.searches) for t in trajs)
            print(
                f"{name:<14} {seconds:6.1f}s  {model_tokens(trajs)} model tokens  {searches} searches  "
                f"retrieval {timings.retrieval:.2f}s"
            )
    for name, r in rates.items():
        print(f"{name:<14} median {statistics.median(r):6.1f} tokens/s")
    print(f"retrieval share of batched time: {statistics.median(shares):.1%}")
    print(f"ratio: {statistics.median(rates['batched']) / statistics.median(rates['one-at-a-time']):.2f}")


if __name__ == "__main__":
    main()
