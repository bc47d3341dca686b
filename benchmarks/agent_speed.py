"""Agent decoding speed on the same tokens: episodes recorded once, then replayed through every engine.

Why a replay: engines that sample (the reference `generate` and the cached loop draw differently, fp32 and bf16 see
different logits) would write different episodes, and tokens/s can favour an arm whose episodes are cheaper. Here the
agent loop runs once (cached bf16, untimed) and every call it made to the model is recorded: the prompt ids of each
row, its episode key, the sampling settings and the tokens sampled. Each arm then makes the same calls with
`replay=` those tokens: its sampler still runs (its cost counts) but the recorded token is decoded, so every arm
prefills and decodes exactly the same tokens. The script checks that each arm's output equals the recording.

Arms: the reference (every turn re-encodes the whole episode with transformers' `generate`) in fp32 and bf16; the
cached loop (`generation/turn_cache.py`: each token prefilled once) in fp32 and bf16 with sdpa attention throughout
(pr2's loop); the cached loop decoding its one-token steps with eager attention (the kernel a probe of a fresh
DynamicCache found faster, FACTS.md); the cached loop with packed linear layers (generation/packed.py: oneDNN's
weights packed once, pr2's default for bf16 on a CPU since 2026-12-05; every other arm multiplies plainly, as pr2 did
before); and the cached loop through an unmerged LoRA r16 PeftModel (how training rollouts decoded before they took
a merged copy). `--arm NAME` (repeatable) runs a subset. Each arm has an untimed warm-up (the first call), the arms
run in a rotating order, `--repeats` times; medians are printed.

The ceiling of each arm: during its replay every forward call's shape is recorded (rows, new tokens, context); the
same calls are then timed as bare matmuls on the model's own weights (q, k, v, o, gate, up, down of every layer, the
attention products over the live keys and values, the LM head on the rows that produce logits), with the arm's own
kind of product (packed or plain): `fraction of the matmul floor` = that time / the arm's measured time. Beside it
the bandwidth bound: the bytes each call must read (weights and the live keys and values) / the measured copy
bandwidth.

Settings are pinned here (the laptop recipe's agent as of 2026-12-05): 16 questions of `pr2 synth --users 300
--seed 0`'s training split advanced together, SmolLM2-135M-Instruct (no adapter), MiniLM search, 3 searches of 3 posts,
48 tokens a turn, 768 in all, posts cut to 32 tokens, temperature 0.7, top_p 0.9, seed 0.

Run: python benchmarks/agent_speed.py [--repeats 3] [--arm NAME ...]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from pr2.agent import AgentConfig, run_agent
from pr2.data.io import select_questions
from pr2.generation import GeneratorConfig, load_generator
from pr2.generation.packed import pack_linears, unpack_linears
from pr2.generation.turn_cache import TurnCache
from pr2.retrieval import load_retriever

QUESTIONS = 16
AGENT = AgentConfig(
    retriever="minilm", top_k=3, max_searches=3, max_turn_tokens=48, max_model_len=768, item_tokens=32,
    answer_on_stop=True, example_turn=False, answer_prefill="About you:", batch_size=QUESTIONS,
    temperature=0.7, top_p=0.9, seed=0,
)  # fmt: skip


@dataclass
class Call:
    prompts: list[list[int]]
    keys: list | None
    params: object
    tokens: list[list[int]]
    budgets: list[int] | None


class Recorder:
    """The generator the agent loop talks to while recording: every call and what it sampled."""

    def __init__(self, inner) -> None:
        self.inner, self.calls = inner, []

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def generate(self, prompts, params, **kwargs):
        out = self.inner.generate(prompts, params, **kwargs)
        ids = [self.inner.encode_prompt(p) for p in prompts]
        self.calls.append(Call(ids, kwargs.get("keys"), params, [c.token_ids for c in out], kwargs.get("budgets")))
        return out


def synth_training_questions(data: str | None, n: int, prefix: str) -> list:
    """The first `n` training questions of `data`, or of `pr2 synth --users 300 --seed 0` made in a temporary folder."""
    if data is None:
        from pr2.data.synth import SynthConfig, write_benchmark

        folder = tempfile.mkdtemp(prefix=prefix)
        write_benchmark(SynthConfig(users=300, seed=0), folder)
        data = str(Path(folder) / "train.jsonl")
    return select_questions(data, split="train", limit=n)


def record(generator, retriever) -> list[Call]:
    questions = synth_training_questions(None, QUESTIONS, "pr2-agent-speed-")
    recorder = Recorder(generator)
    run_agent(questions, recorder, AGENT, retriever=retriever)
    return recorder.calls


class Shapes:
    """Every forward call of the model: (rows, new tokens, context), from its inputs."""

    def __init__(self, model) -> None:
        self.calls: list[tuple[int, int, int]] = []
        self.handle = model.register_forward_pre_hook(self._hook, with_kwargs=True)

    def _hook(self, module, args, kwargs):
        ids = kwargs.get("input_ids", args[0] if args else None)
        mask = kwargs.get("attention_mask")
        context = mask.shape[-1] if mask is not None else ids.shape[1]
        self.calls.append((ids.shape[0], ids.shape[1], context))


def replay(generator, calls: list[Call], cached: bool, decode_attention: str | None, shapes: Shapes) -> float:
    """Seconds to make every call of the recording, after an untimed warm-up (the first call, on a cache of its
    own); `shapes` holds the timed forward calls afterwards."""
    generator.decode_attention = decode_attention
    for warm_up in (True, False):
        store = TurnCache() if cached else None
        shapes.calls.clear()
        start = time.perf_counter()
        for call in calls[:1] if warm_up else calls:
            if cached:
                kwargs = {"turn_cache": store, "keys": call.keys, "budgets": call.budgets}
                got = [c.token_ids for c in generator.generate(call.prompts, call.params, replay=call.tokens, **kwargs)]
            else:  # one call per token budget, as the loop makes them without a turn cache
                got = [None] * len(call.prompts)
                budgets = call.budgets or [call.params.max_tokens] * len(call.prompts)
                for budget in sorted(set(budgets), reverse=True):
                    rows = [i for i, b in enumerate(budgets) if b == budget]
                    params = replace(call.params, max_tokens=budget)
                    out = generator.generate(
                        [call.prompts[i] for i in rows], params, replay=[call.tokens[i] for i in rows]
                    )
                    for i, c in zip(rows, out, strict=True):
                        got[i] = c.token_ids
            if got != call.tokens:
                raise AssertionError("an arm decoded other tokens than the recording: the comparison is not fair")
    return time.perf_counter() - start


def weights(model):
    """Per layer, the weight matrices a forward multiplies by (as the model holds them), and the LM head."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    layers = []
    for layer in base.model.layers:
        a, m = layer.self_attn, layer.mlp
        layers.append([a.q_proj.weight, a.k_proj.weight, a.v_proj.weight, a.o_proj.weight,
                       m.gate_proj.weight, m.up_proj.weight, m.down_proj.weight])  # fmt: skip
    return layers, base.lm_head.weight


def _median_seconds(fn, repeats: int = 3) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


class Floor:
    """Bare-matmul time of a forward call of a given shape, on the model's own weights (memoised by shape, context
    rounded up to 64)."""

    def __init__(self, model, packed: bool = False) -> None:
        self.layers, self.head = weights(model)
        self.packed = packed  # the arm multiplies by oneDNN-packed weights: its floor does too
        config = model.config
        self.kv_heads, self.heads = config.num_key_value_heads, config.num_attention_heads
        self.head_dim = config.hidden_size // config.num_attention_heads
        self.dtype = self.head.dtype
        self.weight_count = sum(w.numel() for layer in self.layers for w in layer) + self.head.numel()
        self.memo: dict[tuple[int, int, int], float] = {}
        self.packs: dict[int, tuple] = {}

    def seconds(self, rows: int, new: int, context: int) -> float:
        key = (rows, new, -(-context // 64) * 64)
        if key not in self.memo:
            self.memo[key] = _median_seconds(self._step(*key))
        return self.memo[key]

    def _step(self, rows: int, new: int, context: int):
        """The call's matmuls as a function of no arguments (its inputs made beforehand, off the clock)."""
        hidden = self.head.shape[1]
        x = torch.randn(rows * new, hidden, dtype=self.dtype)
        inner = torch.randn(rows * new, self.layers[0][6].shape[1], dtype=self.dtype)
        last = torch.randn(rows, hidden, dtype=self.dtype)
        groups = self.heads // self.kv_heads
        q = torch.randn(rows, self.kv_heads, groups * new, self.head_dim, dtype=self.dtype)
        k = torch.randn(rows, self.kv_heads, self.head_dim, context, dtype=self.dtype)
        v = torch.randn(rows, self.kv_heads, context, self.head_dim, dtype=self.dtype)

        if self.packed:
            layers, head = self._packed_for(rows)

            def mul(a, w):
                return torch.ops.mkldnn._linear_pointwise(a, w, None, "none", [], "")
        else:
            layers, head = self.layers, self.head

            def mul(a, w):
                return a @ w.T

        @torch.inference_mode()
        def run() -> None:
            for q_w, k_w, v_w, o_w, gate_w, up_w, down_w in layers:
                mul(x, q_w), mul(x, k_w), mul(x, v_w)
                (q @ k) @ v  # scores over the live keys, then the values (grouped query heads share their keys)
                mul(x, o_w), mul(x, gate_w), mul(x, up_w), mul(inner, down_w)
            mul(last, head)  # logits of one position a row

        return run

    def _packed_for(self, rows: int):
        """The weights packed for `rows`, once per row count (many shapes share one)."""
        if rows not in self.packs:
            pack = torch.ops.mkldnn._reorder_linear_weight
            self.packs[rows] = ([[pack(w, rows) for w in layer] for layer in self.layers], pack(self.head, rows))
        return self.packs[rows]

    def bytes_read(self, rows: int, new: int, context: int) -> int:
        element = torch.finfo(self.dtype).bits // 8
        kv = rows * context * len(self.layers) * 2 * self.kv_heads * self.head_dim
        return (self.weight_count + kv) * element


def copy_bandwidth(megabytes: int = 512) -> float:
    """Bytes read per second by a large tensor copy."""
    source = torch.empty(megabytes * 2**20, dtype=torch.uint8).fill_(1)
    target = torch.empty_like(source)
    return source.numel() / _median_seconds(lambda: target.copy_(source), repeats=5)


def lora_policy(generator):
    """The bf16 model under the laptop recipe's LoRA (r 16 on every linear layer, a trained-looking B), unmerged, as
    training rollouts decoded before they took a merged copy (train/policy.py MergedDecoder)."""
    import copy

    from peft import LoraConfig, get_peft_model

    from pr2.generation.hf import HFGenerator

    config = LoraConfig(r=16, lora_alpha=32, target_modules="all-linear", task_type="CAUSAL_LM")
    model = get_peft_model(copy.deepcopy(generator.model), config).eval()
    for name, param in model.named_parameters():
        if "lora_B" in name:
            param.data.normal_(0, 0.01)
    return HFGenerator(model, generator.tokenizer, model_name="smollm2+lora", batch_size=QUESTIONS)


ARMS = {  # name: (model, cached, decode attention, packed linears)
    "reference fp32": ("fp32", False, None, False),
    "reference bf16": ("bf16", False, None, False),
    "cached fp32": ("fp32", True, None, False),
    "cached bf16": ("bf16", True, None, False),
    "cached bf16, packed linears": ("bf16", True, None, True),
    "cached bf16, eager decode": ("bf16", True, "eager", False),
    "cached bf16, LoRA unmerged": ("bf16, LoRA unmerged", True, None, False),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--arm", action="append", choices=list(ARMS), help="run this arm (repeat the flag for several; default: all)"
    )
    args = parser.parse_args()
    names = args.arm or list(ARMS)
    arms = {name: ARMS[name] for name in names}
    torch.manual_seed(0)
    retriever = load_retriever(AGENT.retriever)
    models = {
        d: load_generator(GeneratorConfig(model="smollm2", dtype=d, batch_size=QUESTIONS)) for d in ("fp32", "bf16")
    }
    for generator in models.values():
        generator.model.set_attn_implementation("sdpa")
        unpack_linears(generator.model)  # each arm says whether it packs
    if any(model == "bf16, LoRA unmerged" for model, *_ in arms.values()):
        models["bf16, LoRA unmerged"] = lora_policy(models["bf16"])
    calls = record(models["bf16"], retriever)
    episodes = len(calls[0].prompts)
    tokens = sum(len(t) for c in calls for t in c.tokens)
    print(f"recorded: {episodes} episodes, {len(calls)} calls, {tokens} policy tokens")
    seconds: dict[str, list[float]] = {name: [] for name in arms}
    shapes: dict[str, list] = {}
    for repeat in range(args.repeats):
        order = names[repeat % len(names) :] + names[: repeat % len(names)]
        for name in order:
            model, cached, kernel, packed = arms[name]
            generator = models[model]
            (pack_linears if packed else unpack_linears)(generator.model)
            recorder = Shapes(generator.model)
            try:
                took = replay(generator, calls, cached, kernel, recorder)
            finally:
                recorder.handle.remove()
                unpack_linears(generator.model)
            seconds[name].append(took)
            shapes[name] = recorder.calls
            print(f"  repeat {repeat + 1} {name:<30} {took:7.2f} s")
    bandwidth = copy_bandwidth()
    floors = {}
    print(f"copy bandwidth: {bandwidth / 1e9:.1f} GB/s read")
    print("| arm | episodes/s | policy tokens/s | fraction of the matmul floor | bandwidth bound |")
    print("|---|---|---|---|---|")
    median = {name: statistics.median(s) for name, s in seconds.items()}
    for name, (model, _, _, packed) in arms.items():
        dtype = model.split(",")[0]  # a LoRA arm's floor: the base matmuls, as a merged copy does them
        if (dtype, packed) not in floors:
            floors[dtype, packed] = Floor(models[dtype].model, packed=packed)
        floor = floors[dtype, packed]
        least = sum(floor.seconds(*shape) for shape in shapes[name])
        bound = sum(floor.bytes_read(*shape) for shape in shapes[name]) / bandwidth
        print(
            f"| {name} | {episodes / median[name]:.3f} | {tokens / median[name]:.1f} | "
            f"{least / median[name]:.1%} | {bound / median[name]:.1%} |"
        )
    ratios = [
        ("cached fp32 vs reference fp32", "reference fp32", "cached fp32"),
        ("cached bf16 vs reference bf16", "reference bf16", "cached bf16"),
        ("engine bf16 (packed linears) vs cached bf16", "cached bf16", "cached bf16, packed linears"),
        ("cached bf16, eager decode vs cached bf16 (sdpa)", "cached bf16", "cached bf16, eager decode"),
        ("merged LoRA (a plain model) vs the unmerged PeftModel", "cached bf16, LoRA unmerged", "cached bf16"),
    ]
    for label, slower, faster in ratios:
        if slower in median and faster in median:
            print(f"{label}: {median[slower] / median[faster]:.2f}x")


if __name__ == "__main__":
    main()
