"""Agent loop throughput on the laptop config's episodes: the cached loop (each episode continues from the keys and
values of its earlier turns) in fp32 and in bf16, against the reference loop (every turn re-encodes the whole
episode with transformers' `generate`, as before the turn cache), in one process, same model, questions and seed.

Episodes: `configs/laptop.yaml`'s agent settings (16 questions advanced together, 64 tokens a turn, 896 in all, 3
searches, MiniLM search) on `pr2 synth --users 300 --seed 0` training questions (made in a temporary folder if
--data is not given), sampled at the recipe's temperature 0.5 with a fixed seed, so every loop writes episodes of
the same shape.

Prints generated (policy) tokens per second of each, the ratios `cached fp32 vs reference` and `cached bf16 vs
reference`, the prefilled tokens per generated token of each path, and the share of this machine's bf16 matmul peak
that the bf16 loop reaches: model FLOPs per token (2 x parameters, plus attention over the context) x tokens fed per
second, divided by a bf16 1024x1024 matmul's FLOP/s timed in the same run.

Run: python benchmarks/agent_speed.py [--questions 16] [--repeats 3] [--data data/synth/train.jsonl]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch
import yaml

from pr2.agent import AgentConfig, run_agent
from pr2.agent.loop import LoopTimings
from pr2.data.io import select_questions
from pr2.generation import GeneratorConfig, load_generator
from pr2.retrieval import load_retriever

ROOT = Path(__file__).resolve().parents[1]


def laptop_agent(questions: int) -> AgentConfig:
    recipe = yaml.safe_load((ROOT / "configs" / "laptop.yaml").read_text())
    agent = AgentConfig(**recipe["agent"])
    return replace(agent, batch_size=questions, temperature=recipe["temperature"], top_p=recipe["top_p"], seed=0)


def synth_training_questions(data: str | None, n: int, prefix: str) -> list:
    """The first `n` training questions of `data`, or of `pr2 synth --users 300 --seed 0` made in a temporary folder."""
    if data is None:
        from pr2.data.synth import SynthConfig, write_benchmark

        folder = tempfile.mkdtemp(prefix=prefix)
        write_benchmark(SynthConfig(users=300, seed=0), folder)
        data = str(Path(folder) / "train.jsonl")
    return select_questions(data, split="train", limit=n)


def policy_tokens(trajectories) -> int:
    return sum(sum(t.loss_mask) for t in trajectories)


def prefilled_tokens(trajectories, cached: bool) -> int:
    """Tokens the model was fed to produce these trajectories: the reference feeds the whole episode at every turn;
    the cached path feeds each token once."""
    total = 0
    for t in trajectories:
        model_turns = [i for i, s in enumerate(t.segments) if s.kind == "model"]
        if cached:
            total += len(t.prompt_ids) + len(t.completion_ids)
            continue
        for i in model_turns:
            total += len(t.prompt_ids) + sum(len(s.token_ids) for s in t.segments[:i]) + len(t.segments[i].token_ids)
    return total


def bf16_matmul_flops(seconds: float = 2.0) -> float:
    a = torch.randn(1024, 1024, dtype=torch.bfloat16)
    b = torch.randn(1024, 1024, dtype=torch.bfloat16)
    for _ in range(3):
        a @ b
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        a @ b
        n += 1
    return n * 2 * 1024**3 / (time.perf_counter() - start)


def model_flops(model, trajectories) -> float:
    """Forward FLOPs of the cached path: 2 x parameters per fed token, plus attention (4 x layers x hidden x context
    per token, context = the token's position)."""
    params = sum(p.numel() for p in model.parameters())
    layers, hidden = model.config.num_hidden_layers, model.config.hidden_size
    total = 0.0
    for t in trajectories:
        n = len(t.prompt_ids) + len(t.completion_ids)
        total += 2 * params * n + 4 * layers * hidden * n * n / 2
    return total


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--questions", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--data", default=None, help="a pr2 synth train.jsonl (default: made in a temporary folder)")
    args = parser.parse_args()
    questions = synth_training_questions(args.data, args.questions, "pr2-agent-speed-")
    config = laptop_agent(args.questions)
    retriever = load_retriever(config.retriever)
    fp32 = load_generator(GeneratorConfig(model="smollm2", dtype="fp32", batch_size=args.questions))
    bf16 = load_generator(GeneratorConfig(model="smollm2", dtype="bf16", batch_size=args.questions))
    runs = {
        "reference": (fp32, replace(config, reuse_kv=False)),
        "cached fp32": (fp32, config),
        "cached bf16": (bf16, config),
    }
    rates: dict[str, list[float]] = {name: [] for name in runs}
    fed_rates: list[float] = []
    flops_rates: list[float] = []
    last = {}
    for _ in range(args.repeats):
        for name, (gen, cfg) in runs.items():
            timings = LoopTimings()
            start = time.perf_counter()
            trajs = run_agent(questions, gen, cfg, retriever=retriever, timings=timings)
            seconds = time.perf_counter() - start
            rates[name].append(policy_tokens(trajs) / seconds)
            last[name] = trajs
            cached = name != "reference"
            fed = prefilled_tokens(trajs, cached)
            if name == "cached bf16":
                fed_rates.append(fed / timings.generation)
                flops_rates.append(model_flops(gen.model, trajs) / timings.generation)
            searches = sum(len(t.searches) for t in trajs)
            print(
                f"{name:<12} {seconds:6.1f}s  {policy_tokens(trajs)} policy tokens  {fed} fed "
                f"({fed / max(1, policy_tokens(trajs)):.1f} per policy token)  {searches} searches  "
                f"retrieval {timings.retrieval:.2f}s"
            )
    peak = bf16_matmul_flops()
    for name, r in rates.items():
        print(f"{name:<12} median {statistics.median(r):6.1f} policy tokens/s")
    ref = statistics.median(rates["reference"])
    print(f"cached fp32 vs reference: {statistics.median(rates['cached fp32']) / ref:.2f}x")
    print(f"cached bf16 vs reference: {statistics.median(rates['cached bf16']) / ref:.2f}x")
    mfu = statistics.median(flops_rates) / peak
    print(
        f"bf16 loop: {statistics.median(fed_rates):.0f} fed tokens/s during generation, "
        f"{statistics.median(flops_rates) / 1e9:.1f} GFLOP/s = {mfu:.1%} of this machine's bf16 matmul peak "
        f"({peak / 1e9:.0f} GFLOP/s, 1024x1024)"
    )


if __name__ == "__main__":
    main()
