"""transformers' continuous batching (paged attention, `generate_batch`) against one padded `generate`, on the agent
loop's own prompts: is it the faster engine for the hf back end on this machine?

Same model (bundled SmolLM2-135M-Instruct, fp32), the same 16 first-turn prompts of the bundled sample, greedy,
64 new tokens each, no early stop (so static batching wastes nothing here and the two engines do the same work;
in the agent loop rows do stop early, which is what continuous batching would recover). Reference: the padded
`generate` call, in the same process. Prints the median seconds of each over `--repeats` runs after one warm-up,
whether their tokens agree, and the ratio (padded time over continuous-batching time: above 1 means continuous
batching is faster).
Run: python benchmarks/continuous_batching.py [--repeats 3] [--tokens 64]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, ContinuousBatchingConfig, GenerationConfig

from pr2.agent import AgentConfig
from pr2.agent.loop import episode_prompt_ids
from pr2.data import sample_questions
from pr2.generation.models import bundled_smollm2


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=64)
    args = parser.parse_args()
    path = bundled_smollm2()
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    prompts = [episode_prompt_ids(q.question, AgentConfig(), tokenizer) for q in sample_questions()[:16]]
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    width = max(map(len, prompts))
    ids = torch.tensor([[pad] * (width - len(p)) + p for p in prompts])
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])

    def padded():
        with torch.inference_mode():
            out = model.generate(
                input_ids=ids,
                attention_mask=mask,
                max_new_tokens=args.tokens,
                do_sample=False,
                pad_token_id=pad,
                eos_token_id=None,
            )
        return [row[width:] for row in out.tolist()]

    generation = GenerationConfig(max_new_tokens=args.tokens, do_sample=False, eos_token_id=None)
    # Its defaults, and the smaller pages and batch budget that did best of what was tried on this CPU.
    configs = {
        "continuous (default)": ContinuousBatchingConfig(return_logprobs=True),
        "continuous (tuned)": ContinuousBatchingConfig(
            return_logprobs=True, page_size=64, num_blocks=512, max_batch_tokens=2048
        ),
    }

    def continuous(name):
        def run():
            results = model.generate_batch(
                inputs=prompts,
                generation_config=generation,
                continuous_batching_config=configs[name],
                progress_bar=False,
            )
            return [results[f"req_{i}"].generated_tokens for i in range(len(prompts))]

        return run

    times: dict[str, list[float]] = {"padded generate": [], **{name: [] for name in configs}}
    outputs = {}
    for name, run in (("padded generate", padded), *((name, continuous(name)) for name in configs)):
        run()  # warm-up
        for _ in range(args.repeats):
            start = time.perf_counter()
            outputs[name] = run()
            times[name].append(time.perf_counter() - start)
    for name, values in times.items():
        print(f"{name:<20} median {statistics.median(values):6.2f}s over {len(values)} runs")
    for name in configs:
        same = sum(a == b for a, b in zip(outputs["padded generate"], outputs[name], strict=True))
        ratio = statistics.median(times["padded generate"]) / statistics.median(times[name])
        print(f"{name}: identical greedy tokens {same}/{len(prompts)}, ratio (padded / continuous): {ratio:.2f}")


if __name__ == "__main__":
    main()
