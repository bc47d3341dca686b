"""Time per GRPO step, split into rollout (agent loop with retrieval), judging (reward) and optimisation (the rest
of TRL's step: log-probs, loss, backward, optimizer), so users see where the time goes.

Reference: the step's total wall time (TRL's `step_time`); each part is printed as a share of it.
Default: the CPU smoke config (SmolLM2-135M, bundled sample). On a GPU, `--shape qwen0.5b` trains a randomly
initialised model of Qwen2.5-0.5B's shape (no download: config and tokenizer are built locally).
Run: python benchmarks/train_speed.py [--steps 3] [--shape smollm2|qwen0.5b]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from pr2.data.io import read_jsonl
from pr2.train import load_train_config
from pr2.train.trainer import train

ROOT = Path(__file__).resolve().parents[1]


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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--shape", default="smollm2", choices=["smollm2", "qwen0.5b"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        model = "smollm2" if args.shape == "smollm2" else qwen05b_shaped(Path(tmp) / "model")
        config = load_train_config(
            ROOT / "configs" / "cpu-smoke.yaml",
            [f"output_dir={tmp}/run", f"max_steps={args.steps}", "save_steps=1000", f"model={model}"],
        )
        train(config)
        rows = read_jsonl(Path(tmp) / "run" / "metrics.jsonl")
    step = statistics.median(r["step_seconds"] for r in rows)
    rollout = statistics.median(r["rollout_seconds"] for r in rows)
    judge = statistics.median(r["judge_seconds"] for r in rows)
    optim = step - rollout - judge
    print(f"model shape: {args.shape}, steps: {len(rows)} (medians)")
    print(f"step      {step:7.1f}s  (reference: 100%)")
    for name, value in (("rollout", rollout), ("judging", judge), ("optimise", optim)):
        print(f"{name:<9} {value:7.1f}s  ratio: {value / step:.2f}")


if __name__ == "__main__":
    main()
