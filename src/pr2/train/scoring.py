"""Scoring episodes for the GRPO loss without the work that cannot count.

TRL scores each completion token through the LM head in one padded block per micro-batch. Two kinds of waste show on
a CPU, where an episode's ~768 tokens hold ~90 the policy wrote: (1) TRL's fused head scores only the labelled
positions on Triton devices but every position elsewhere (its gate guards against recompiling on Neuron; an eager
CPU has nothing to recompile), and the inserted posts are labelled although the loss masks them; (2) every
micro-batch is as wide as the longest episode of the whole generation batch. Here each chunk of rows is cut to its
own real columns (rows in order of length, so that a chunk's rows are alike), only the positions that count are
labelled, and the compact head runs on a CPU too. What comes back has TRL's shape, zeros where nothing was scored.

Left padding cut from a chunk moves its rows' positions by the same amount; rotary attention depends only on
relative positions, so the scores change by rounding alone (tests/train/test_scoring.py holds them equal).
"""

from __future__ import annotations

import contextlib

import torch


@contextlib.contextmanager
def compact_head_on_cpu():
    """Within the block, TRL's fused LM head scores only the labelled positions on a CPU as it does on Triton
    devices (`trl.trainer.utils._use_triton` is the gate it reads)."""
    import trl.trainer.utils as trl_utils

    original = getattr(trl_utils, "_use_triton", None)
    if original is None:  # another TRL: its head decides alone
        yield
        return
    trl_utils._use_triton = lambda device: device.type == "cpu" or original(device)
    try:
        yield
    finally:
        trl_utils._use_triton = original


def score_counted(
    model,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    logits_to_keep: int,
    batch_size: int,
    counted: torch.Tensor | None = None,
    compute_entropy: bool = False,
    autocast=contextlib.nullcontext,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Per-token log-probabilities (and entropies) of the last `logits_to_keep` tokens of each row, as TRL's
    `_get_per_token_logps_and_entropies` returns them, for a model patched with TRL's fused LM head.

    `counted` (rows x logits_to_keep, 1 where the loss reads the token; default: every real completion token): the
    only positions scored. Rows are taken in order of length, `batch_size` at a time, each chunk cut to the columns
    where one of its rows has a token."""
    rows, width = input_ids.shape
    completion = attention_mask[:, width - logits_to_keep :]
    counted = completion.bool() if counted is None else counted.bool() & completion.bool()
    lengths = attention_mask.sum(dim=1)
    order = torch.argsort(lengths, descending=True, stable=True)
    logps = entropies = None
    for start in range(0, rows, batch_size):
        chunk = order[start : start + batch_size]
        mask = attention_mask[chunk]
        real = mask.any(dim=0).nonzero().flatten()
        left = int(real[0]) if len(real) else width - logits_to_keep
        right = max(int(real[-1]) + 1 if len(real) else 0, width - logits_to_keep + 1)  # keep a completion column
        ids, mask = input_ids[chunk, left:right], mask[:, left:right]
        keep = right - (width - logits_to_keep)
        labels = ids.masked_fill(mask == 0, -100)
        labels[:, : ids.shape[1] - keep] = -100
        labels[:, ids.shape[1] - keep :] = labels[:, ids.shape[1] - keep :].masked_fill(~counted[chunk, :keep], -100)
        with autocast():
            out = model(input_ids=ids, attention_mask=mask, labels=labels, fused_lm_head=True)
        if logps is None:
            logps = out.log_probs.new_zeros((rows, logits_to_keep))
            entropies = out.log_probs.new_zeros((rows, logits_to_keep)) if compute_entropy else None
        logps[chunk, :keep] = out.log_probs[:, -keep:]
        if compute_entropy:
            entropies[chunk, :keep] = out.entropy[:, -keep:]
    return logps, entropies


# Loss normalisations whose sum over a step's micro-batches does not depend on which episodes share one (a global
# token count, a per-episode mean over equal-sized micro-batches, a constant): for these, grouping episodes of like
# length changes no gradient, only the padding computed.
GROUPING_FREE_LOSSES = ("dapo", "grpo", "dr_grpo")


def regroup_by_length(batches: list[dict]) -> list[dict]:
    """The micro-batches of one generation batch (as TRL splits it: every per-row tensor or list cut along its
    first dimension, 0-d tensors shared) regrouped so that each holds episodes of like length, longest first."""
    from trl.trainer.utils import split_tensor_dict

    merged: dict = {}
    for key, value in batches[0].items():
        if value is None or (isinstance(value, torch.Tensor) and value.ndim == 0):
            merged[key] = value
        elif isinstance(value, list):
            merged[key] = [item for batch in batches for item in batch[key]]
        else:
            merged[key] = torch.cat([batch[key] for batch in batches])
    lengths = merged["prompt_mask"].sum(dim=1) + merged["completion_mask"].sum(dim=1)
    order = torch.argsort(lengths, descending=True, stable=True)
    for key, value in merged.items():
        if isinstance(value, list):
            merged[key] = [value[i] for i in order.tolist()]
        elif isinstance(value, torch.Tensor) and value.ndim > 0:
            merged[key] = value[order.to(value.device)]
    return split_tensor_dict(merged, len(batches))
