"""What bounds the agent's decoding on this machine: where a decode step's time goes, what more tokens a forward
would buy, and whether `torch.compile` wins.

`benchmarks/agent_speed.py` measures each engine against the floor of its own calls; this script asks whether any
engine could go much faster on the same 16 laptop-recipe episodes (the same recording, the same pinned settings):

1. Where a step's time goes: one recorded call (the fifth, 15 rows decoding 48 tokens each) replayed through pr2's
   cached loop under torch's profiler, split into matrix products (linear layers and the LM head), the attention
   kernel, and everything else (norms, rotary embeddings, sampling, Python).
2. More tokens a forward: the bare-matmul floor of one forward per token it carries, at 16 rows and 1 to 6 tokens a
   row (the shapes a speculative decoder would verify), next to how many tokens a row would advance a forward if
   each drafted the k tokens that followed the last occurrence of its last token in its own context (prompt-lookup
   drafting), accepted while they equal the recorded tokens. Under a replay the recorded token is what a sampler
   drew, so the acceptance is that of speculative sampling with such drafts (a draft is kept with the probability
   the target gives it). `speculative ceiling` = floor per token at one token a forward / floor per token at k + 1
   tokens a forward divided by the tokens advanced: above 1 only if speculation could win even at the floor.
3. `torch.compile` of a decode step: transformers' static cache (its documented compile path), 16 rows, 400 tokens
   of context, eager against compiled (default mode; a CPU has no CUDA graphs), and the largest logit difference.

Run: python benchmarks/decode_ceiling.py
"""

from __future__ import annotations

import statistics
import time

import torch
from agent_speed import QUESTIONS, Floor, record

from pr2.generation import GeneratorConfig, load_generator
from pr2.generation.packed import pack_linears, unpack_linears
from pr2.generation.turn_cache import TurnCache
from pr2.retrieval import load_retriever

PROFILED_CALL = 4
CONTEXT = 400


def breakdown(generator, calls) -> dict[str, float]:
    """Seconds per decode step of one recorded call, by kind of work."""
    from torch.profiler import profile

    store = TurnCache()

    def call(c):
        kwargs = {"turn_cache": store, "keys": c.keys, "budgets": c.budgets}
        return generator.generate(c.prompts, c.params, replay=c.tokens, **kwargs)

    for c in calls[:PROFILED_CALL]:
        call(c)
    target = calls[PROFILED_CALL]
    with profile() as prof:
        start = time.perf_counter()
        call(target)
        wall = time.perf_counter() - start
    kinds = {"matrix products": 0.0, "attention kernel": 0.0}
    for event in prof.key_averages():
        name = event.key
        if name in ("aten::mm", "aten::addmm", "aten::bmm", "mkldnn::_linear_pointwise"):
            kinds["matrix products"] += event.self_cpu_time_total / 1e6
        elif ("scaled_dot_product" in name and "flash" in name) or name == "aten::_scaled_dot_product_attention_math":
            kinds["attention kernel"] += event.self_cpu_time_total / 1e6
    steps = max(len(t) for t in target.tokens)
    kinds["everything else"] = wall - sum(kinds.values())
    return {kind: seconds / steps for kind, seconds in kinds.items()} | {"rows": len(target.prompts)}


def lookup_draft(context: list[int], k: int) -> list[int]:
    """The k tokens after the last earlier occurrence of the context's last token (none if it never occurred)."""
    last = context[-1]
    for i in range(len(context) - 2, -1, -1):
        if context[i] == last:
            return context[i + 1 : i + 1 + k]
    return []


def tokens_per_forward(calls, k: int) -> float:
    forwards = advanced = 0
    for c in calls:
        for prompt, tokens in zip(c.prompts, c.tokens, strict=True):
            context, i = list(prompt), 0
            while i < len(tokens):
                draft = lookup_draft(context, k)
                kept = 0
                while kept < len(draft) and i + kept < len(tokens) and draft[kept] == tokens[i + kept]:
                    kept += 1
                step = min(kept + 1, len(tokens) - i)
                context += tokens[i : i + step]
                i += step
                forwards += 1
                advanced += step
    return advanced / forwards


def compiled_step(
    model, rows: int = 16, context: int = CONTEXT, repeats: int = 10
) -> tuple[float, float, float, float]:
    """(packed eager ms, plain eager ms, compiled ms, largest logit difference compiled vs eager) of one decode step
    over transformers' StaticCache."""
    from transformers import StaticCache

    cache = StaticCache(config=model.config, max_cache_len=context + 8)
    ids = torch.randint(100, 5000, (rows, context), generator=torch.Generator().manual_seed(0))
    token = torch.randint(100, 5000, (rows, 1), generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        model(input_ids=ids, cache=cache, use_cache=True, logits_to_keep=1)

    def step(forward):
        with torch.inference_mode():
            logits = forward(input_ids=token, cache=cache, use_cache=True, logits_to_keep=1).logits
        for layer in cache.layers:  # the next step writes the same position again
            layer.cumulative_length.sub_(1)
        return logits

    def median_ms(forward) -> float:
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            step(forward)
            times.append(time.perf_counter() - start)
        return 1000 * statistics.median(times[2:])

    eager_logits = step(model.forward)
    packed = median_ms(model.forward)
    unpack_linears(model)  # the plain model is what inductor compiles (it packs weights by its own rules)
    eager = median_ms(model.forward)
    compiled_forward = torch.compile(model.forward)
    start = time.perf_counter()
    compiled_logits = step(compiled_forward)
    print(f"  compiling the step took {time.perf_counter() - start:.0f} s")
    compiled = median_ms(compiled_forward)
    pack_linears(model)
    return packed, eager, compiled, (eager_logits.float() - compiled_logits.float()).abs().max().item()


def main() -> None:
    torch.manual_seed(0)
    generator = load_generator(GeneratorConfig(model="smollm2", dtype="bf16", batch_size=QUESTIONS))
    generator.model.set_attn_implementation("sdpa")
    calls = record(generator, load_retriever("minilm"))
    tokens = sum(len(t) for c in calls for t in c.tokens)
    print(f"recorded: {len(calls[0].prompts)} episodes, {len(calls)} calls, {tokens} policy tokens")

    parts = breakdown(generator, calls)
    rows = parts.pop("rows")
    total = sum(parts.values())
    print(
        f"\n1. a decode step of call {PROFILED_CALL + 1} ({rows} rows), pr2's cached loop, packed bf16: {total * 1e3:.1f} ms"
    )
    for kind, seconds in parts.items():
        print(f"   {kind}: {seconds * 1e3:.1f} ms ({seconds / total:.0%})")

    floor = Floor(generator.model, packed=True)
    one = floor.seconds(16, 1, CONTEXT) / 16
    print(f"\n2. floor per token, 16 rows, {CONTEXT} tokens of context (bare packed bf16 matmuls)")
    print(
        "| tokens a forward | floor ms a forward | floor ms a token | prompt-lookup draft k | tokens advanced a forward | speculative ceiling |"
    )
    print("|---|---|---|---|---|---|")
    for new in range(1, 7):
        forward = floor.seconds(16, new, CONTEXT)
        per_token = forward / (16 * new)
        if new == 1:
            print(f"| 1 | {forward * 1e3:.1f} | {per_token * 1e3:.2f} | none | 1.00 | 1.00x |")
            continue
        advanced = tokens_per_forward(calls, new - 1)
        ceiling = one / (forward / (16 * advanced))
        print(f"| {new} | {forward * 1e3:.1f} | {per_token * 1e3:.2f} | {new - 1} | {advanced:.2f} | {ceiling:.2f}x |")

    packed, eager, compiled, diff = compiled_step(generator.model)
    print("\n3. one decode step over transformers' StaticCache, 16 rows, bf16")
    print(
        f"   eager plain {eager:.1f} ms, eager packed {packed:.1f} ms, torch.compile of the plain model {compiled:.1f} ms"
    )
    print(f"   compiled vs eager plain {eager / compiled:.2f}x, compiled vs eager packed {packed / compiled:.2f}x")
    print(f"   largest logit difference, compiled vs eager: {diff:.3g}")


if __name__ == "__main__":
    main()
