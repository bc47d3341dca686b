"""Linear layers that multiply by weights packed once for oneDNN: the decode step's matmuls on a bf16 CPU.

A decode step multiplies a few rows (one token per episode) by every weight matrix of the model. On a CPU torch
hands each bf16 `linear` to oneDNN, which reorders the weight into its blocked layout at every call; packed once
ahead, the same products take about three quarters of the time at 16 rows (SmolLM2's shapes, AVX512-BF16: 57 vs 44
us for a 576x576 layer, 5.5 vs 3.3 ms for the 49,152-word head), with bit-identical results (the same kernel does
the same sums; tests/generation/test_packed.py checks the logits). `benchmarks/agent_speed.py` measures the whole
loop with and without.

Only where it is exact and safe: CPU, bf16 weights (layer by layer: a LoRA adapter's fp32 layers keep torch's own
product, since oneDNN's fp32 product sums in another order and changed a greedy answer), a torch built with
oneDNN's packed linear. A packed layer repacks when its weight changes (an optimizer step, a merged adapter's
refresh), and hands any call that needs gradients, or is being compiled, to the plain `linear`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def can_pack(model) -> bool:
    """Whether `model`'s linear layers can take packed weights here (CPU, bf16, native bf16, the op present)."""
    from pr2.generation.hf import cpu_has_native_bf16

    try:
        weight = next(model.parameters())
    except StopIteration:
        return False
    return (
        weight.device.type == "cpu"
        and weight.dtype == torch.bfloat16
        and torch.backends.mkldnn.is_available()
        and hasattr(torch.ops.mkldnn, "_reorder_linear_weight")
        and cpu_has_native_bf16()
    )


class PackedLinear:
    """The forward of one `nn.Linear`, multiplying by a packed copy of its weight (made at the first call and again
    whenever the weight has changed since)."""

    def __init__(self, module: torch.nn.Linear, rows: int) -> None:
        self.module, self.rows = module, rows
        self.packed: torch.Tensor | None = None
        self.packed_from: tuple[int, int] | None = None

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        weight, bias = self.module.weight, self.module.bias
        if torch.compiler.is_compiling():  # a compiled model: inductor packs (or not) by its own rules
            return F.linear(x, weight, bias)
        if weight.dtype != torch.bfloat16 or x.dtype != weight.dtype or x.device.type != "cpu":
            return F.linear(x, weight, bias)  # oneDNN's fp32 product sums in another order than torch's (MKL's)
        if torch.is_grad_enabled() and (x.requires_grad or weight.requires_grad):
            return F.linear(x, weight, bias)  # the packed product has no backward
        state = (weight.data_ptr(), _version(weight))
        if self.packed is None or state != self.packed_from:
            with torch.no_grad():
                self.packed = torch.ops.mkldnn._reorder_linear_weight(weight.detach(), self.rows)
            self.packed_from = state
        return torch.ops.mkldnn._linear_pointwise(x, self.packed, bias, "none", [], "")


def _version(tensor: torch.Tensor) -> int:
    try:
        return tensor._version
    except RuntimeError:  # an inference tensor keeps no version counter; it cannot be changed in place either
        return -1


def pack_linears(model, rows: int = 16) -> int:
    """Give every plain `nn.Linear` of `model` a packed forward (`rows`: the batch the packing is tuned for; other
    row counts work too). Returns how many layers took one; none where `can_pack` says no."""
    if not can_pack(model):
        return 0
    count = 0
    for module in model.modules():
        if (
            type(module) is torch.nn.Linear
            and module.weight.dtype == torch.bfloat16  # peft keeps a LoRA adapter's own layers in fp32
            and not isinstance(module.__dict__.get("forward"), PackedLinear)
        ):
            module.forward = PackedLinear(module, rows)
            count += 1
    return count


def unpack_linears(model) -> int:
    """Undo `pack_linears` (the benchmark's plain arm). Returns how many layers went back."""
    count = 0
    for module in model.modules():
        if isinstance(module.__dict__.get("forward"), PackedLinear):
            del module.forward
            count += 1
    return count


def is_packed(model) -> bool:
    return any(isinstance(m.__dict__.get("forward"), PackedLinear) for m in model.modules())
