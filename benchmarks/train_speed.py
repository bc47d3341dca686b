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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--shape", default="smollm2", choices=["smollm2", "qwen0.5b"])
    parser.add_argument("--judge", default="embedding", choices=["embedding", "logprob", "served"])
    parser.add_argument("--judge-retries", type=int, default=2)
    args = parser.parse_args()
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
