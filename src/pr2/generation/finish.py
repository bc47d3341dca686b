"""How a completion ended, worked out once for every back end and the training rollout.

A completion ends at the first of:
- an end-of-turn id of the model: every id of `generation_config.eos_token_id` (an int or a list: Gemma-2-it ends
  turns with `<end_of_turn>`, Qwen2.5 with `<|im_end|>` or `<|endoftext|>`, Llama-3.1 with `<|eot_id|>` or
  `<|eom_id|>`) and the tokenizer's `eos_token_id` -> "eos", the id kept;
- a stop string found anywhere in the new text, the earliest one winning (an engine that runs a token past
  `</search>` still searches) -> "stop", the ids cut after the first token that completes it;
- otherwise the token budget -> "length".
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from pr2.generation.base import Completion, FinishReason


def end_of_turn_ids(tokenizer, generation_config=None) -> frozenset[int]:
    """The ids that end a turn for this model: its generation config's eos ids and the tokenizer's eos id."""
    found: list[int | None] = [getattr(tokenizer, "eos_token_id", None)]
    eos = getattr(generation_config, "eos_token_id", None)
    found.extend(eos if isinstance(eos, list | tuple) else [eos])
    return frozenset(int(i) for i in found if i is not None)


def first_stop(text: str, stops: Iterable[str]) -> tuple[int, str] | None:
    """(position, stop string) of the stop string that starts earliest in `text` (longest on a tie), or None."""
    hits = [(text.find(s), -len(s), s) for s in stops if s and s in text]
    if not hits:
        return None
    pos, _, stop = min(hits)
    return pos, stop


def finish_ids(
    token_ids: Sequence[int],
    *,
    tokenizer,
    end_ids: Iterable[int],
    stop: Sequence[str] = (),
    logprobs: Sequence[float] | None = None,
) -> Completion:
    """Cut what an engine sampled (it may run past the end) at its end and say why it ended."""
    ids = list(token_ids)
    end_ids = set(end_ids)
    end, reason = len(ids), "length"
    for i, tok in enumerate(ids):
        if tok in end_ids:
            end, reason = i + 1, "eos"
            break
    stop_string = None
    if stop and first_stop(tokenizer.decode(ids[:end], skip_special_tokens=True), stop) is not None:
        # The shortest prefix whose text holds a stop string: the token that completed it ends the turn.
        lo, hi = 1, end
        while lo < hi:
            mid = (lo + hi) // 2
            if first_stop(tokenizer.decode(ids[:mid], skip_special_tokens=True), stop) is not None:
                hi = mid
            else:
                lo = mid + 1
        end, reason = lo, "stop"
        stop_string = first_stop(tokenizer.decode(ids[:end], skip_special_tokens=True), stop)[1]  # type: ignore[index]
    kept = ids[:end]
    return Completion(
        tokenizer.decode(kept, skip_special_tokens=True),
        kept,
        None if logprobs is None else list(logprobs[:end]),
        reason,
        stop_string,
    )


def finish_text(
    text: str, *, server_reason: str | None, stop: Sequence[str] = (), named: str | None = None
) -> Completion:
    """The same rule for a server that returns text only (OpenAI-compatible): the text is cut after the earliest
    stop string in it; a server that dropped the stop string but names it (vLLM's `stop_reason`) counts as stopped.
    `server_reason` is the API's finish_reason ("stop" = end of turn or a stop string, "length")."""
    hit = first_stop(text, stop) if stop else None
    if hit is not None:
        pos, stop_string = hit
        return Completion(text[: pos + len(stop_string)], None, None, "stop", stop_string)
    if isinstance(named, str) and named in stop and server_reason != "length":
        return Completion(text + named, None, None, "stop", named)  # pr2 completions keep their stop string
    reason: FinishReason = "length" if server_reason == "length" else "eos"
    return Completion(text, None, None, reason, None)
