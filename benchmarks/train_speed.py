"""Time per GRPO step, split into rollout (agent loop with retrieval), judging (reward) and optimisation (the rest
of TRL's step: log-probs, loss, backward, optimizer), so users see where the time goes.

Reference: the step's total wall time (TRL's `step_time`); each part is printed as a share of it.
Default: the CPU smoke config (SmolLM2-135M, bundled sample). On a GPU, `--shape qwen0.5b` trains a randomly
initialised model of Qwen2.5-0.5B's shape (no download: config and tokenizer are built locally).

`--judge` picks the reward judge: `embedding` (the MiniLM proxy, in process), `logprob` (SmolLM2 scoring "0/1/2"
in one forward pass, in process), `served` (SmolLM2 behind a real `transformers serve` on loopback, generate mode,
at most `--judge-retries` retries for unreadable answers: `transformers serve` ignores `logprobs`, so a logprob
judge cannot run behind it). LLM judges use pr2's own prompt (the lamp-qa text needs the benchmark's files).
The episodes are the learning test's short ones (one search, then the loop opens the answer), so most rollouts
end with an answer and the judge has work: with the smoke config's long episodes SmolLM2 answered 0-25% of the
time and judging measured 0.0 s whatever the judge.
Run: python benchmarks/train_speed.py [--steps 3] [--shape smollm2|qwen0.5b] [--judge embedding|logprob|served]

`--replay`: the optimisation half of a GRPO step on the same episodes in both arms. 16 episodes are sampled once
with the laptop recipe's agent (SmolLM2-135M, 4 prompts x 4, 768 tokens at most, temperature 0.7; no adapter), then
every step of each arm replays them (the rollout returns the recording, a fixed reward per episode), so a step is
TRL's optimisation alone: old log-probs, the loss, backward and the optimizer, over 4 micro-batches of 4 (the laptop
recipe's LoRA r16, bf16 where the CPU has it). Arms: `TRL scoring` (its fused head scores every position on a CPU,
every micro-batch as wide as the longest episode) and `pr2 scoring` (train/scoring.py: only the tokens the loss reads,
chunks cut to their own rows). Each arm: `--steps` steps, the first untimed; arms alternate over `--repeats`; medians.
Run: python benchmarks/train_speed.py --replay [--steps 4] [--repeats 2]
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from pr2.data.io import read_jsonl
from pr2.train import load_train_config
from pr2.train.trainer import train

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.train.conftest import FAST_EPISODES  # noqa: E402  the learning test's short episodes: one search, then the answer


def qwen05b_shaped(folder: Path) -> str:
    """A random model with Qwen2.5-0.5B's architecture and the bundled SmolLM2 tokenizer."""
    from transformers import AutoTokenizer, Qwen2Config, Qwen2ForCausalLM

    from pr2.generation.models import bundled_smollm2

    tokenizer = AutoTokenizer.from_pretrained(bundled_smollm2())
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=896,
        intermediate_size=4864,
        num_hidden_layers=24,
        num_attention_heads=14,
        num_key_value_heads=2,
        max_position_embeddings=32768,
        tie_word_embeddings=True,
    )
    Qwen2ForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


@contextlib.contextmanager
def transformers_serve(model_dir: Path):
    """`transformers serve MODEL_DIR` on a free loopback port; yields its /v1 URL."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cli = Path(sys.executable).with_name("transformers")
    proc = subprocess.Popen(
        [str(cli), "serve", str(model_dir), "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.time() + 180
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2)
                break
            except OSError:
                if proc.poll() is not None or time.time() > deadline:
                    raise SystemExit("transformers serve did not start") from None
                time.sleep(1)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def build_judge(kind: str, retries: int, url: str | None, cache: Path):
    from pr2.generation.models import bundled_smollm2
    from pr2.judge import JudgeConfig
    from pr2.judge.judge import build_judge as make

    if kind == "embedding":
        return make(JudgeConfig(mode="embedding", cache_path=str(cache)), smooth=True)
    config = JudgeConfig(
        model="smollm2" if kind == "logprob" else str(bundled_smollm2()),
        mode="logprob" if kind == "logprob" else "generate",
        protocol="pr2",
        retry_cap=retries,
        cache_path=str(cache),
    )
    if kind == "logprob":
        return make(config, backend="hf")
    return make(config, backend="openai", base_url=url)


def record_laptop_episodes(folder: Path) -> tuple[list, list[float]]:
    """16 episodes of the laptop recipe's agent (base SmolLM2), as the rollout hands them to TRL, and a fixed
    reward for each (spread within every group of 4, so that each has an advantage)."""
    from dataclasses import replace

    from pr2.agent import run_agent
    from pr2.agent.trajectory import Segment
    from pr2.data.io import select_questions
    from pr2.data.synth import SynthConfig, write_benchmark
    from pr2.generation import GeneratorConfig, load_generator
    from pr2.retrieval import load_retriever

    write_benchmark(SynthConfig(users=300, seed=0), folder)
    config = load_train_config(ROOT / "configs" / "laptop.yaml", [f"dataset={folder}/train.jsonl"])
    agent = replace(config.agent, temperature=0.7, top_p=0.9, seed=0, batch_size=16)
    questions = select_questions(str(folder / "train.jsonl"), split="train", limit=4)
    generator = load_generator(GeneratorConfig(model="smollm2", dtype="auto", batch_size=16))
    episodes = run_agent([q for q in questions for _ in range(4)], generator, agent, retriever=load_retriever("minilm"))
    for t in episodes:
        if not t.completion_ids:
            t.segments.append(Segment("information", "", [generator.tokenizer.eos_token_id]))
    rewards = [(i % 4) / 3 for i in range(len(episodes))]
    return episodes, rewards


def optimisation_steps(
    folder: Path, episodes: list, rewards: list[float], lean: bool, steps: int
) -> tuple[list[float], float]:
    """Seconds of each GRPO step after the first, every step replaying `episodes`, and the first step's loss."""
    from datasets import Dataset
    from transformers import TrainerCallback

    from pr2.train.policy import load_policy, lora_config
    from pr2.train.reward import PERSONALIZED, R_NP, RewardColumn
    from pr2.train.trainer import PR2GRPOTrainer, grpo_args

    config = load_train_config(
        ROOT / "configs" / "laptop.yaml",
        ["start_adapter=null", "warm_start=false", f"dataset={folder}/train.jsonl", f"output_dir={folder}/run-{lean}",
         f"max_steps={steps}", "save_steps=100000", "logging_steps=1"],
    )  # fmt: skip

    def rollout(prompts, trainer):
        assert len(prompts) == len(episodes), (len(prompts), len(episodes))
        return {
            "prompt_ids": [t.prompt_ids for t in episodes],
            "completion_ids": [t.completion_ids for t in episodes],
            "logprobs": [t.completion_logprobs for t in episodes],
            "env_mask": [t.loss_mask for t in episodes],
        }

    class Clock(TrainerCallback):
        def __init__(self) -> None:
            self.seconds, self.began = [], 0.0

        def on_step_begin(self, args, state, control, **kwargs):
            self.began = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            self.seconds.append(time.perf_counter() - self.began)

    from transformers import set_seed

    set_seed(0)
    model, tokenizer = load_policy(config)
    clock = Clock()
    columns = [
        RewardColumn(PERSONALIZED, lambda completions, **kw: rewards[: len(completions)], 1.0),
        RewardColumn(R_NP, lambda completions, **kw: [0.0] * len(completions), 0.0),
    ]
    args = grpo_args(config)
    args.reward_weights = [c.weight for c in columns]
    trainer = PR2GRPOTrainer(
        model=model, pr2_columns=columns, args=args, processing_class=tokenizer, peft_config=lora_config(config),
        train_dataset=Dataset.from_list([{"prompt": f"q{i}"} for i in range(4)]), callbacks=[clock],
        rollout_func=rollout, pr2_advantage="group", pr2_std_floor=config.advantage_std_floor, pr2_lean_scoring=lean,
    )  # fmt: skip
    trainer.train()
    losses = [row["loss"] for row in trainer.state.log_history if "loss" in row]
    return clock.seconds[1:], losses[0]


def replay_comparison(steps: int, repeats: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        episodes, rewards = record_laptop_episodes(folder)
        lengths = [len(t.completion_ids) for t in episodes]
        counted = sum(sum(t.loss_mask) for t in episodes)
        print(
            f"episodes: {len(episodes)}, completion tokens {sum(lengths)} (longest {max(lengths)}), "
            f"policy tokens {counted}, prompt tokens {sum(len(t.prompt_ids) for t in episodes)}"
        )
        arms = {"TRL scoring": False, "pr2 scoring": True}
        seconds: dict[str, list[float]] = {name: [] for name in arms}
        for repeat in range(repeats):
            for name in list(arms)[repeat % 2 :] + list(arms)[: repeat % 2]:
                timed, first_loss = optimisation_steps(folder, episodes, rewards, arms[name], steps)
                seconds[name].extend(timed)
                print(
                    f"  repeat {repeat + 1} {name:<12} steps {', '.join(f'{s:.1f}' for s in timed)} s; first loss {first_loss:.6f}"
                )
    median = {name: statistics.median(s) for name, s in seconds.items()}
    print("| arm | GRPO step (median) |")
    print("|---|---|")
    for name, value in median.items():
        print(f"| {name} | {value:.1f} s |")
    print(f"pr2 scoring vs TRL scoring: {median['TRL scoring'] / median['pr2 scoring']:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--replay", action="store_true", help="the optimisation half on replayed laptop episodes")
    parser.add_argument("--repeats", type=int, default=2, help="with --replay: rounds of both arms")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--shape", default="smollm2", choices=["smollm2", "qwen0.5b"])
    parser.add_argument("--judge", default="embedding", choices=["embedding", "logprob", "served"])
    parser.add_argument("--judge-retries", type=int, default=2)
    args = parser.parse_args()
    if args.replay:
        replay_comparison(max(2, args.steps), args.repeats)
        return
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        from pr2.generation.models import bundled_smollm2

        url = stack.enter_context(transformers_serve(bundled_smollm2())) if args.judge == "served" else None
        model = "smollm2" if args.shape == "smollm2" else qwen05b_shaped(Path(tmp) / "model")
        config = load_train_config(
            ROOT / "configs" / "cpu-smoke.yaml",
            [f"output_dir={tmp}/run", f"max_steps={args.steps}", "save_steps=1000", f"model={model}", *FAST_EPISODES],
        )
        reward_judge = build_judge(args.judge, args.judge_retries, url, Path(tmp) / "judge-cache.jsonl")
        train(config, judge=reward_judge)
        rows = read_jsonl(Path(tmp) / "run" / "metrics.jsonl")
    step = statistics.median(r["step_seconds"] for r in rows)
    rollout = statistics.median(r["rollout_seconds"] for r in rows)
    judge = statistics.median(r["judge_seconds"] for r in rows)
    optim = step - rollout - judge
    answered = statistics.median(r["answer_rate"] for r in rows)
    print(f"model shape: {args.shape}, judge: {args.judge}, steps: {len(rows)} (medians)")
    print(f"answer rate {answered:.2f}; pairs sent to the judge in all (r_np included): {reward_judge.stats.pairs}")
    print(f"step      {step:7.1f}s  (reference: 100%)")
    for name, value in (("rollout", rollout), ("judging", judge), ("optimise", optim)):
        print(f"{name:<9} {value:7.2f}s  ratio: {value / step:.3f}")


if __name__ == "__main__":
    main()
