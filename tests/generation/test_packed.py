"""Packed linear layers (generation/packed.py): the same products as the plain `linear`, never stale, never in a
gradient's way."""

from __future__ import annotations

import pytest
import torch

from pr2.generation import GeneratorConfig, load_generator
from pr2.generation.packed import can_pack, is_packed, pack_linears, unpack_linears


@pytest.fixture(scope="module")
def bf16_tiny(tiny_llama_dir):
    generator = load_generator(GeneratorConfig(model=str(tiny_llama_dir), backend="hf", device="cpu", dtype="bf16"))
    if not can_pack(generator.model):
        pytest.skip("this CPU or torch build has no native bf16 packed linear")
    return generator


def _logits(model, ids: torch.Tensor) -> torch.Tensor:
    with torch.inference_mode():
        return model(input_ids=ids).logits


def test_packed_linears_give_the_plain_logits_bit_for_bit(bf16_tiny):
    model = bf16_tiny.model
    assert is_packed(model)  # load_generator packs a bf16 model on a CPU
    ids = torch.randint(0, 1000, (3, 11), generator=torch.Generator().manual_seed(0))
    packed = _logits(model, ids)
    try:
        assert unpack_linears(model) == 2 * 7 + 1  # every projection of both layers and the LM head
        plain = _logits(model, ids)
    finally:
        pack_linears(model)
    assert torch.equal(packed, plain)


def test_a_weight_written_in_place_is_repacked(bf16_tiny):
    """An optimizer step or a merged adapter's refresh writes the weights in place: the next product uses them."""
    model = bf16_tiny.model
    ids = torch.randint(0, 1000, (2, 5), generator=torch.Generator().manual_seed(1))
    before = _logits(model, ids)
    layer = model.model.layers[0].mlp.up_proj
    saved = layer.weight.detach().clone()
    try:
        with torch.no_grad():
            layer.weight.mul_(-3.0)
        after = _logits(model, ids)
        unpack_linears(model)
        plain_after = _logits(model, ids)
    finally:
        with torch.no_grad():
            layer.weight.copy_(saved)
        pack_linears(model)
    assert not torch.equal(before, after)
    assert torch.equal(after, plain_after)
    assert torch.equal(_logits(model, ids), before)  # and back again


def test_a_forward_that_needs_gradients_takes_the_plain_product(bf16_tiny):
    """The packed product has no backward: training through a packed model still gets the plain gradients."""
    model = bf16_tiny.model
    ids = torch.randint(0, 1000, (2, 6), generator=torch.Generator().manual_seed(2))

    def grads():
        model.zero_grad()
        model(input_ids=ids).logits.float().logsumexp(-1).sum().backward()
        return [p.grad.clone() for p in model.parameters() if p.grad is not None]

    packed = grads()
    try:
        unpack_linears(model)
        plain = grads()
    finally:
        model.zero_grad()
        pack_linears(model)
    assert len(packed) == len(plain) > 0
    assert all(torch.equal(a, b) for a, b in zip(packed, plain, strict=True))


def test_only_bf16_on_a_cpu_is_packed(tiny_llama_dir):
    fp32 = load_generator(GeneratorConfig(model=str(tiny_llama_dir), backend="hf", device="cpu", dtype="fp32"))
    assert not can_pack(fp32.model) and not is_packed(fp32.model)
    assert pack_linears(fp32.model) == 0


def test_the_cached_loop_decodes_the_same_tokens_packed_or_plain_and_batched_or_alone(bf16_tiny):
    """The batched-equals-one-at-a-time invariant on the packed engine (temperature 0), and the packed engine
    writes what the plain one writes."""
    from pr2.generation.base import SamplingParams
    from pr2.generation.chat import apply_chat_template
    from pr2.generation.turn_cache import TurnCache

    tok = bf16_tiny.tokenizer
    rows = [
        apply_chat_template(tok, [{"role": "user", "content": text}])
        for text in ("Name a colour.", "What is the capital of France? Think first.", "Hi")
    ]
    params = SamplingParams(temperature=0.0, max_tokens=12)

    def decode(batch: list[int]) -> list[list[int]]:
        out = bf16_tiny.generate([rows[i] for i in batch], params, turn_cache=TurnCache(), keys=batch)
        return [c.token_ids for c in out]

    together = decode([0, 1, 2])
    assert [decode([i])[0] for i in range(3)] == together
    try:
        unpack_linears(bf16_tiny.model)
        assert decode([0, 1, 2]) == together
    finally:
        pack_linears(bf16_tiny.model)


def test_a_lora_adapter_kept_in_fp32_keeps_torchs_own_product(bf16_tiny):
    """peft keeps an adapter's layers in fp32 over a bf16 base; oneDNN's fp32 product sums in another order than
    torch's, which changed a shipped greedy answer: only the bf16 layers are packed, and the logits stay exact."""
    import copy

    from peft import LoraConfig, get_peft_model

    model = get_peft_model(
        copy.deepcopy(bf16_tiny.model), LoraConfig(r=4, target_modules="all-linear", task_type="CAUSAL_LM")
    ).eval()
    for name, param in model.named_parameters():
        if "lora_B" in name:
            param.data.normal_(0, 0.5)
    assert {p.dtype for n, p in model.named_parameters() if "lora_" in n} == {torch.float32}
    unpack_linears(model)
    ids = torch.randint(0, 1000, (4, 50), generator=torch.Generator().manual_seed(3))
    plain = _logits(model, ids)
    assert pack_linears(model) == 2 * 7 + 1  # the base layers and the head; none of the adapter's
    assert torch.equal(_logits(model, ids), plain)
