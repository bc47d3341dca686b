"""Grouped-query attention without copying keys and values: pr2's kernel for one-token decode steps on a CPU.

transformers' eager attention repeats each key/value head for every query head that shares it (`repeat_kv`): with
SmolLM2's 9 query heads over 3 key/value heads, a 16-row decode step at 700 tokens of context copies about 28 MB a
layer, every step, before one small matmul reads it. Here the query heads are grouped under their key/value head
instead, so the matmuls read the cache where it lies. sdpa avoids the copy but is slow at one query token on a CPU
(FACTS.md: 134.6 ms a step against eager's 60.0 ms). The mask is eager's (additive floats), so transformers builds
it as it does for eager.
"""

from __future__ import annotations

import functools

import torch

NAME = "pr2_grouped"


def grouped_attention(module, query, key, value, attention_mask, scaling, dropout=0.0, **kwargs):
    """query (rows, heads, q, dim); key, value (rows, kv_heads, k, dim); mask (rows, 1, q, k) additive. Returns
    (rows, q, heads, dim), as transformers' attention functions do, and no weights."""
    rows, heads, q_len, dim = query.shape
    kv_heads = key.shape[1]
    grouped = query.view(rows, kv_heads, heads // kv_heads, q_len, dim)
    scores = torch.matmul(grouped, key.unsqueeze(2).transpose(-1, -2)) * scaling  # (rows, kv, groups, q, k)
    if attention_mask is not None:
        scores = scores + attention_mask[:, :, None, :, : key.shape[-2]]
    weights = torch.softmax(scores, dim=-1, dtype=torch.float32).to(query.dtype)
    out = torch.matmul(weights, value.unsqueeze(2))  # (rows, kv, groups, q, dim)
    return out.reshape(rows, heads, q_len, dim).transpose(1, 2).contiguous(), None


@functools.cache
def register() -> str:
    """Make the kernel known to transformers (once per process) and return its name for `set_attn_implementation`."""
    from transformers import AttentionInterface
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, eager_mask

    AttentionInterface.register(NAME, grouped_attention)
    ALL_MASK_ATTENTION_FUNCTIONS.register(NAME, eager_mask)
    return NAME
