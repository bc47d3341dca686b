"""One LoRA training step (forward + backward) of SmolLM2-135M in bf16 on this CPU, against the same step in fp32, in
one process: whether bf16 training pays here (it does for decoding: benchmarks/agent_speed.py).

The step: a batch of 2 x 350 token ids, LoRA r 16 on every linear layer (fp32 adapter weights, as pr2 train keeps
them), loss = the model's own next-token loss. bf16 = bf16 base weights under `torch.autocast("cpu", bf16)`, as
TRL's `bf16: true` runs them (the laptop recipe's warm start and GRPO). Prints the median seconds of each and the
ratio bf16 / fp32 (below 1: bf16 faster).

Run: python benchmarks/bf16_train_step.py [--repeats 2] [--timeout 400]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch


def step_seconds(dtype: torch.dtype, repeats: int, budget: float) -> list[float]:
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from pr2.generation.models import bundled_smollm2

    model = AutoModelForCausalLM.from_pretrained(bundled_smollm2(), dtype=dtype)
    model = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, target_modules="all-linear", task_type="CAUSAL_LM"))
    for param in model.parameters():
        if param.requires_grad:
            param.data = param.data.float()
    ids = torch.randint(0, 49_000, (2, 350), generator=torch.Generator().manual_seed(0))
    times = []
    began = time.perf_counter()
    for _ in range(repeats):
        t0 = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype == torch.bfloat16):
            loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        times.append(time.perf_counter() - t0)
        if time.perf_counter() - began > budget:
            break
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=400.0, help="Stop repeating a dtype after this many s.")
    args = parser.parse_args()
    fp32 = step_seconds(torch.float32, args.repeats, args.timeout)
    bf16 = step_seconds(torch.bfloat16, args.repeats, args.timeout)
    a, b = statistics.median(fp32), statistics.median(bf16)
    print(f"fp32 (reference): {a:.2f} s per step {[round(t, 2) for t in fp32]}")
    print(f"bf16 + autocast:  {b:.2f} s per step {[round(t, 2) for t in bf16]}")
    print(f"bf16 / fp32: {b / a:.2f}x the time")


if __name__ == "__main__":
    main()
