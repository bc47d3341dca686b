"""What bf16 changes: the same greedy episodes in fp32 (the exact reference) and in bf16, on the laptop recipe's
agent settings as the speed benchmark pins them (agent_speed.AGENT, with the worked example) and the generated
benchmark's training questions, in one process.

Prints, over the questions: the share of trajectories whose policy tokens are identical, the share of each
trajectory's tokens before its first divergence (mean), and the reward of the episodes in each dtype (fact judge,
plus the share of evidence posts their searches retrieved), with the generation time of each.

Run: python benchmarks/bf16_agreement.py [--questions 32] [--data data/synth/train.jsonl]
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import replace

from agent_speed import AGENT, synth_training_questions

from pr2.agent import run_agent
from pr2.generation import GeneratorConfig, load_generator
from pr2.generation.turn_cache import common_prefix
from pr2.judge import JudgeConfig, build_judge
from pr2.retrieval import load_retriever
from pr2.train.reward import answer_rewards, evidence_share


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--questions", type=int, default=32)
    parser.add_argument("--data", default=None)
    args = parser.parse_args()
    questions = synth_training_questions(args.data, args.questions, "pr2-bf16-")
    config = replace(AGENT, temperature=0.0, example_turn=True)
    retriever = load_retriever(config.retriever)
    judge = build_judge(JudgeConfig(mode="fact"))
    runs = {}
    for dtype in ("fp32", "bf16"):
        gen = load_generator(GeneratorConfig(model="smollm2", dtype=dtype))
        start = time.perf_counter()
        trajs = run_agent(questions, gen, config, retriever=retriever)
        seconds = time.perf_counter() - start
        rewards = answer_rewards(questions, [t.answer for t in trajs], judge)
        evidence = [evidence_share(q, t.retrieved_ids) for q, t in zip(questions, trajs, strict=True)]
        runs[dtype] = (trajs, rewards, evidence, seconds)
    (ref, ref_r, ref_e, ref_s), (low, low_r, low_e, low_s) = runs["fp32"], runs["bf16"]
    same = sum(a.completion_ids == b.completion_ids for a, b in zip(ref, low, strict=True))
    prefix = [
        common_prefix(a.completion_ids, b.completion_ids) / max(1, len(a.completion_ids))
        for a, b in zip(ref, low, strict=True)
    ]
    print(f"{len(questions)} greedy episodes, laptop agent settings with the worked example")
    print(f"identical trajectories: {same}/{len(questions)}")
    print(f"tokens before the first divergence: mean {statistics.fmean(prefix):.1%} of the fp32 trajectory")
    print(f"fact reward: fp32 {statistics.fmean(ref_r):.3f}, bf16 {statistics.fmean(low_r):.3f}")
    print(f"evidence retrieved: fp32 {statistics.fmean(ref_e):.3f}, bf16 {statistics.fmean(low_e):.3f}")
    print(f"generation: fp32 {ref_s:.1f}s, bf16 {low_s:.1f}s ({ref_s / low_s:.2f}x)")


if __name__ == "__main__":
    main()
