"""Multi-turn decoding that prefills each token once: an episode's keys and values are kept between its turns.

The agent loop calls the back end once per turn with the whole episode so far (prompt, earlier turns, inserted
information). `generate(..., turn_cache=TurnCache(), keys=...)` finds what each row already has cached (the
longest common prefix with what it held after its previous turn), feeds only the rest, and decodes with a plain
token loop over one batched cache: rows that reach their end leave the batch (their keys and values are kept for
their next turn), so a finished row stops costing compute.

Why a hand-written loop and not `model.generate(past_key_values=...)`: `generate` takes one cache for a batch that
must share its past, while here every row has its own past length and its own new text (a different number of
inserted tokens per row), and it decodes every row to the longest one's end. The batched cache below holds each row
right-aligned with holes (padding between its past and its new chunk); the 2D attention mask and explicit
position ids tell the model which positions are real, so each row sees exactly its own tokens at their positions.

Measured in benchmarks/agent_speed.py; held to the reference path by tests/generation/test_turn_cache.py (same
tokens at temperature 0 in fp32).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import torch

from pr2.generation.base import Completion, SamplingParams
from pr2.generation.finish import finish_ids, first_stop

# A stop string ends within the last few tokens of what was decoded; decoding only that tail each step keeps the
# check O(1) per token (every stop tag pr2 uses is under 12 characters, every token at least one).
_STOP_TAIL_TOKENS = 16


@dataclass
class _Entry:
    ids: list[int]
    """The tokens whose keys and values are held, in order (everything fed to the model so far)."""
    kv: list[tuple[torch.Tensor, torch.Tensor]]
    """Per layer: keys and values of this row alone, (heads, len(ids), head_dim), no padding."""


class TurnCache:
    """Each episode's keys and values between its turns, by the caller's key (the agent loop: one per episode).

    Owned by the caller: dropped with it, so a batch of episodes frees its memory when the batch ends.
    """

    def __init__(self) -> None:
        self.entries: dict[Hashable, _Entry] = {}


def supports_turn_cache(model) -> bool:
    """Full-attention decoders only: a sliding-window layer (Gemma-2) keeps a bounded window that the holes in the
    batched cache would misplace, so such models take the reference path."""
    config = model.config.get_text_config(decoder=True) if hasattr(model.config, "get_text_config") else model.config
    types = getattr(config, "layer_types", None)
    if types is not None:
        return all(t == "full_attention" for t in types)
    return not getattr(config, "sliding_window", None) or not getattr(config, "use_sliding_window", True)


def attention_of(model) -> str | None:
    config = getattr(model, "config", None)
    return getattr(config, "_attn_implementation", None)


def set_attention(model, kernel: str) -> None:
    """transformers' own switch (every attention layer reads the config's kernel at each forward)."""
    if attention_of(model) != kernel:
        model.set_attn_implementation(kernel)


@contextlib.contextmanager
def own_attention_after(model):
    """Whatever kernel the block switches the model to, the model leaves it with its own."""
    own = attention_of(model)
    try:
        yield
    finally:
        if own is not None:
            set_attention(model, own)


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    """How many leading ids `a` and `b` share."""
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def sample_tokens(
    logits: torch.Tensor,
    params: SamplingParams,
    streams: Sequence[int] | None = None,
    log_probs: torch.Tensor | None = None,
) -> torch.Tensor:
    """One token per row: argmax at temperature 0, else temperature then nucleus (top_p) sampling. `streams` (one
    integer per row, see `row_stream`) make each row's draws its own: the same whatever its slot in the batch.
    `log_probs`: the log-softmax of logits / temperature, when the caller has it already (one pass, not two)."""
    if params.temperature <= 0:
        return logits.argmax(dim=-1)
    probs = log_probs.exp() if log_probs is not None else torch.softmax(logits / params.temperature, dim=-1)
    if params.top_p >= 1.0:
        ids = torch.arange(probs.shape[-1], device=probs.device).expand_as(probs)
        return _race(probs, ids, streams)
    chosen = torch.empty(probs.shape[0], dtype=torch.long, device=probs.device)
    for rows, weights, ids in nucleus(probs, params.top_p):
        draws = _race(weights, ids, None if streams is None else [streams[r] for r in rows.tolist()])
        chosen[rows] = ids.gather(-1, draws[:, None]).squeeze(-1)
    return chosen


def nucleus(probs: torch.Tensor, top_p: float):
    """The nucleus of each row, as transformers' TopPLogitsWarper keeps it: a token stays while the mass of the
    tokens more likely than it is below top_p (so the most likely always stays, and a token that would only reach
    exactly top_p is left out). Yields (rows, weights, ids): candidate token ids per row and their probabilities,
    0 outside the nucleus. Which of several equally likely tokens straddling the boundary stay is, there as here, the
    sort's choice; how many stay is the same.

    The nucleus is almost always within the few hundred most likely tokens: a top-k finds them without sorting the
    whole vocabulary (the full sort took a quarter of a CPU decoding step); a row whose nucleus is wider takes the
    full sort, alone (so a row's draws never depend on the other rows of its batch)."""
    k = min(_NUCLEUS_CANDIDATES, probs.shape[-1])
    top, order = probs.topk(k, dim=-1)
    wide = (top.sum(dim=-1) < top_p) if k < probs.shape[-1] else torch.zeros_like(top[:, 0], dtype=torch.bool)
    for rows, narrow in (((~wide).nonzero().flatten(), True), (wide.nonzero().flatten(), False)):
        if len(rows):
            w, o = (top[rows], order[rows]) if narrow else probs[rows].sort(dim=-1, descending=True)
            yield rows, w.masked_fill(w.cumsum(dim=-1) - w >= top_p, 0.0), o


_NUCLEUS_CANDIDATES = 256


def _race(weights: torch.Tensor, ids: torch.Tensor, streams: Sequence[int] | None = None) -> torch.Tensor:
    """One index per row drawn in proportion to `weights` (unnormalised; `ids`: the token id of each column): the
    exponential race, argmax of w / E with E ~ Exp(1), the same law as `multinomial` at a fraction of its cost on a
    CPU. With `streams`, row i's E for a token is a function of streams[i] and the token's id alone (a counter-based
    draw), so neither the row's batch slot nor the order in which near-equal probabilities happen to sort changes
    what it draws: a one-ulp difference between a batched and a lone forward reordered a flat row's sort, and noise
    drawn in sorted order then went to other tokens."""
    if streams is None:
        noise = torch.empty_like(weights).exponential_()
    else:
        keys = torch.tensor([_signed(s) for s in streams], dtype=torch.long, device=weights.device)
        noise = _exponential(keys[:, None] ^ ids.to(torch.long))
    return (weights / noise.to(weights.dtype)).argmax(dim=-1)


_GAMMA = 0x9E3779B97F4A7C15
_MASK64 = (1 << 64) - 1


def _signed(value: int) -> int:
    value &= _MASK64
    return value - (1 << 64) if value >= 1 << 63 else value


def _shift(x: torch.Tensor, bits: int) -> torch.Tensor:
    """x >> bits as an unsigned 64-bit shift (torch's is arithmetic on int64)."""
    return (x >> bits) & ((1 << (64 - bits)) - 1)


def _exponential(x: torch.Tensor) -> torch.Tensor:
    """Exp(1) draws from 64-bit counters, one per element: splitmix64's mixer (integer products wrap around in
    int64 as in uint64), then the top 53 bits as a uniform in (0, 1)."""
    x = x * _signed(_GAMMA)
    x = (x ^ _shift(x, 30)) * _signed(0xBF58476D1CE4E5B9)
    x = (x ^ _shift(x, 27)) * _signed(0x94D049BB133111EB)
    x = x ^ _shift(x, 31)
    uniform = (_shift(x, 11).to(torch.float64) + 0.5) * 2.0**-53
    return -torch.log(uniform)


def row_stream(seed: int, key, position: int) -> int:
    """The random stream of one row's draw: from the run's seed, the row's episode key and how many tokens it holds
    (each token its own stream), never from its slot in the batch nor the process's global RNG."""
    digest = hashlib.sha256(repr((seed, key, position)).encode()).digest()
    return int.from_bytes(digest[:8], "little")


@functools.cache  # one class per process, not one per generate call
def _growing_layer_class():
    from transformers.cache_utils import DynamicLayer

    class GrowingLayer(DynamicLayer):
        """A DynamicLayer that writes each new token into room reserved ahead instead of concatenating: the
        concatenation copied the whole cache at every decoded token (a tenth of a CPU decoding step at 600 tokens
        of context)."""

        def __init__(self, reserve: int) -> None:
            self._k = self._v = None
            self._n = 0
            super().__init__()
            self.reserve = reserve

        @property
        def keys(self):
            return None if self._k is None else self._k[:, :, : self._n]

        @keys.setter
        def keys(self, value):  # DynamicLayer's own methods (select, crop, reset) assign whole tensors
            self._k = value if value is not None and value.dim() == 4 else None
            self._n = 0 if self._k is None else self._k.shape[-2]

        @property
        def values(self):
            return None if self._v is None else self._v[:, :, : self._n]

        @values.setter
        def values(self, value):
            self._v = value if value is not None and value.dim() == 4 else None

        def update(self, key_states, value_states, *args, **kwargs):
            if not self.is_initialized:
                self.lazy_initialization(key_states, value_states)
            new = key_states.shape[-2]
            if self._k is None or self._n + new > self._k.shape[-2]:
                b, h, _, d = key_states.shape
                room = self._n + new + self.reserve
                k, v = key_states.new_empty((b, h, room, d)), value_states.new_empty((b, h, room, d))
                if self._n:
                    k[:, :, : self._n], v[:, :, : self._n] = self._k[:, :, : self._n], self._v[:, :, : self._n]
                self._k, self._v = k, v
            self._k[:, :, self._n : self._n + new] = key_states
            self._v[:, :, self._n : self._n + new] = value_states
            self._n += new
            return self.keys, self.values

    return GrowingLayer


class _Batch:
    """The rows decoding together: a DynamicCache with holes, its attention mask and each row's next position."""

    def __init__(self, model, cache, mask: torch.Tensor, next_pos: torch.Tensor, rows: list[int]) -> None:
        self.model, self.cache, self.mask, self.next_pos, self.rows = model, cache, mask, next_pos, rows

    def row_kv(self, j: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Row j's keys and values without its holes (copies: the batch may be cut down afterwards)."""
        real = self.mask[j].bool()
        return [(layer.keys[j][:, real].clone(), layer.values[j][:, real].clone()) for layer in self.cache.layers]

    def keep(self, js: list[int]) -> None:
        index = torch.tensor(js, device=self.mask.device)
        self.cache.batch_select_indices(index)
        self.mask, self.next_pos = self.mask[index], self.next_pos[index]
        self.rows = [self.rows[j] for j in js]


def _assemble(model, pasts, keeps: list[int], chunks: list[list[int]], pad_id: int, reserve: int):
    """The first forward's inputs: every row's kept past right-aligned in one cache, its new tokens right-aligned in
    one chunk, holes masked."""
    from transformers import DynamicCache

    device = next(model.parameters()).device
    b = len(chunks)
    width_past, width_new = max(keeps), max(len(c) for c in chunks)
    config = model.config.get_text_config(decoder=True) if hasattr(model.config, "get_text_config") else model.config
    cache = DynamicCache()
    layer_class = _growing_layer_class()
    cache.layers = [layer_class(reserve + width_new) for _ in range(config.num_hidden_layers)]
    if width_past:
        first = next(p for p, k in zip(pasts, keeps, strict=True) if k)
        for layer, (k0, v0) in enumerate(first.kv):
            keys = k0.new_zeros((b, k0.shape[0], width_past, k0.shape[2]))
            values = v0.new_zeros((b, v0.shape[0], width_past, v0.shape[2]))
            for i, (past, keep) in enumerate(zip(pasts, keeps, strict=True)):
                if keep:
                    keys[i, :, width_past - keep :] = past.kv[layer][0][:, :keep]
                    values[i, :, width_past - keep :] = past.kv[layer][1][:, :keep]
            cache.layers[layer].update(keys, values)
    mask = torch.zeros((b, width_past + width_new), dtype=torch.long, device=device)
    ids = torch.full((b, width_new), pad_id, dtype=torch.long, device=device)
    pos = torch.ones((b, width_new), dtype=torch.long, device=device)
    for i, (keep, chunk) in enumerate(zip(keeps, chunks, strict=True)):
        mask[i, width_past - keep : width_past] = 1
        mask[i, width_past + width_new - len(chunk) :] = 1
        ids[i, width_new - len(chunk) :] = torch.tensor(chunk, device=device)
        pos[i, width_new - len(chunk) :] = torch.arange(keep, keep + len(chunk), device=device)
    next_pos = torch.tensor([k + len(c) for k, c in zip(keeps, chunks, strict=True)], device=device)
    return cache, mask, ids, pos, next_pos


@torch.inference_mode()
def generate_continued(
    model,
    tokenizer,
    rows: list[list[int]],
    keys: Sequence[Hashable],
    params: SamplingParams,
    store: TurnCache,
    end_ids: frozenset[int],
    *,
    decode_attention: str | None = None,
    replay: Sequence[Sequence[int]] | None = None,
    budgets: Sequence[int] | None = None,
) -> list[Completion]:
    """Continue each row from what `store` holds for its key; afterwards `store` holds each row's new state.

    `decode_attention`: the attention kernel of the one-token steps (the first forward, which prefills each row's new
    chunk, keeps the model's own); None keeps the model's own throughout. Measured on this loop (bf16, 2 cores,
    benchmarks/agent_speed.py) sdpa decoded fastest, so pr2 sets none; the switch stays for models and machines
    where another kernel wins. `replay` (one token list per row): decode these tokens instead of
    the sampled ones, the sampler still running so that its cost counts; benchmarks use it to run several engines on
    the very same episodes. `budgets`: each row's own token limit (at most `params.max_tokens`), so that rows with
    different room left share the batch."""
    budgets = [params.max_tokens] * len(rows) if budgets is None else [min(b, params.max_tokens) for b in budgets]
    if max(budgets, default=0) <= 0:
        return [Completion("", [], [] if params.logprobs else None, "length") for _ in rows]
    pasts, keeps, chunks = [], [], []
    for row, key in zip(rows, keys, strict=True):
        past = store.entries.pop(key, None)
        keep = 0 if past is None else min(common_prefix(past.ids, row), len(row) - 1)  # the last token is fed
        pasts.append(past)
        keeps.append(keep)
        chunks.append(row[keep:])
    cache, mask, ids, pos, next_pos = _assemble(model, pasts, keeps, chunks, tokenizer.pad_token_id, max(budgets) + 1)
    del pasts
    batch = _Batch(model, cache, mask, next_pos, list(range(len(rows))))
    generated: list[list[int]] = [[] for _ in rows]
    logprobs: list[list[float]] = [[] for _ in rows]
    fed: list[list[int]] = [list(r) for r in rows]  # what each row's cache holds (plus what is fed next)
    finished_unpruned: list[int] = []  # batch positions of rows that are done but still in the batch
    done = [False] * len(rows)
    seeded = params.seed is not None and params.temperature > 0
    scale = params.temperature if params.temperature > 0 else 1.0
    enders = stop_enders(tokenizer, tuple(params.stop)) if params.stop else None
    with own_attention_after(model) if decode_attention is not None else contextlib.nullcontext():
        for step in range(max(budgets)):
            if step == 1 and decode_attention is not None:
                set_attention(model, decode_attention)
            out = model(
                input_ids=ids, attention_mask=batch.mask, position_ids=pos, cache=batch.cache, use_cache=True,
                logits_to_keep=1,
            )  # fmt: skip
            logits = out.logits[:, -1, :].float()
            log_probs = torch.log_softmax(logits / scale, dim=-1) if params.logprobs else None
            streams = None
            if seeded:  # each row's draw from its episode and how far it has come, whatever its slot
                streams = [row_stream(params.seed, keys[r], len(rows[r]) + len(generated[r])) for r in batch.rows]
            tokens = sample_tokens(logits, params, streams, log_probs)
            if replay is not None:
                tokens = torch.tensor(
                    [replay[r][min(len(generated[r]), len(replay[r]) - 1)] for r in batch.rows], device=tokens.device
                )
            token_lps = None
            if log_probs is not None:
                token_lps = log_probs.gather(-1, tokens[:, None]).squeeze(-1).tolist()
            tokens_list = tokens.tolist()
            for j, r in enumerate(batch.rows):
                if done[r]:
                    continue
                generated[r].append(tokens_list[j])
                if token_lps is not None:
                    logprobs[r].append(token_lps[j])
                if _row_ends(generated[r], tokenizer, end_ids, params, enders, budgets[r]):
                    done[r] = True
                    store.entries[keys[r]] = _Entry(fed[r], batch.row_kv(j))  # all but the token just sampled
                    finished_unpruned.append(j)
                else:
                    fed[r].append(tokens_list[j])
            if all(done):
                break
            # Finished rows leave the batch once they are a quarter of it: cutting the cache copies it, so cutting at
            # every single finish would cost more than the few wasted row-steps it saves.
            if finished_unpruned and len(finished_unpruned) * 4 >= len(batch.rows):
                staying = [j for j in range(len(batch.rows)) if j not in set(finished_unpruned)]
                batch.keep(staying)
                tokens = tokens[torch.tensor(staying, device=tokens.device)]
                finished_unpruned = []
            one = torch.ones((len(batch.rows), 1), dtype=batch.mask.dtype, device=batch.mask.device)
            batch.mask = torch.cat([batch.mask, one], dim=1)
            ids, pos = tokens[:, None], batch.next_pos[:, None]
            batch.next_pos = batch.next_pos + 1
    return [
        finish_ids(g, tokenizer=tokenizer, end_ids=end_ids, stop=params.stop, logprobs=lp if params.logprobs else None)
        for g, lp in zip(generated, logprobs, strict=True)
    ]


_STOP_ENDERS: dict[tuple[int, tuple[str, ...]], tuple[object, frozenset[int] | None]] = {}


def stop_enders(tokenizer, stops: tuple[str, ...]) -> frozenset[int] | None:
    """The ids whose text holds the last character of one of `stops`: a stop string can only be completed by one of
    them, so a row's tail is decoded only when it samples one (not at every step). None (check every step) where a
    last character is not ASCII (a byte-level token may hold only part of it). Built once per tokenizer and stops."""
    key = (id(tokenizer), stops)
    if key not in _STOP_ENDERS:  # the tokenizer is kept in the value, so its id is never reused for another
        lasts = {s[-1] for s in stops}
        enders = None
        if all(c.isascii() for c in lasts):
            texts = tokenizer.batch_decode([[i] for i in range(len(tokenizer))], skip_special_tokens=True)
            enders = frozenset(i for i, text in enumerate(texts) if any(c in text for c in lasts))
        _STOP_ENDERS[key] = (tokenizer, enders)
    return _STOP_ENDERS[key][1]


def _row_ends(
    generated: list[int],
    tokenizer,
    end_ids: frozenset[int],
    params: SamplingParams,
    enders: frozenset[int] | None,
    budget: int,
) -> bool:
    if generated[-1] in end_ids:
        return True
    if params.stop and (enders is None or generated[-1] in enders):
        tail = tokenizer.decode(generated[-_STOP_TAIL_TOKENS:], skip_special_tokens=True)
        if first_stop(tail, params.stop) is not None:
            return True
    return len(generated) >= budget
