"""transformers in process: batched, left-padded generation; stop strings; CUDA bf16, CPU fp32 or bf16; LoRA adapters.

Multi-turn callers (the agent loop) pass a `TurnCache` so that each episode continues from its own keys and values
(generation/turn_cache.py); single-turn calls take transformers' `generate`.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from pathlib import Path

import torch

from pr2.errors import PR2Error, first_line
from pr2.generation.base import Completion, Prompt, SamplingParams
from pr2.generation.chat import encode_prompt
from pr2.generation.finish import end_of_turn_ids, finish_ids
from pr2.generation.turn_cache import TurnCache, generate_continued, supports_turn_cache

log = logging.getLogger(__name__)

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}


def cpu_has_native_bf16() -> bool:
    """Whether this CPU multiplies bf16 in hardware (AVX512-BF16 or AMX on x86; torch's own check)."""
    check = getattr(torch.backends.mkldnn, "is_bf16_supported", None)
    if check is not None:
        try:
            return bool(check())
        except Exception:  # an old build without the probe
            pass
    try:
        flags = Path("/proc/cpuinfo").read_text(encoding="utf-8")
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_dtype(dtype: str | None, device: str) -> str:
    """The dtype name a model runs in: `auto` (or None) is bf16 on CUDA and on CPUs with native bf16, else fp32."""
    if dtype not in (None, "auto", *DTYPES):
        raise PR2Error(f"unknown dtype {dtype!r}; choose from auto, {', '.join(DTYPES)}")
    if dtype in DTYPES:
        return dtype
    if device.startswith("cuda"):
        return "bf16"
    if dtype == "auto" and cpu_has_native_bf16():
        return "bf16"
    return "fp32"


def load_hf_model(
    path: str,
    *,
    name: str,
    device: str | None = None,
    adapter: str | None = None,
    trust_remote_code: bool = False,
    dtype: str | None = None,
    cache_dir: str | None = None,
):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    chosen = resolve_dtype(dtype, device)
    if dtype == "auto":
        log.info("model %s runs in %s on %s (--dtype auto)", name, chosen, device)
    torch_dtype = DTYPES[chosen]
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code, cache_dir=cache_dir)
        model = AutoModelForCausalLM.from_pretrained(
            path, dtype=torch_dtype, trust_remote_code=trust_remote_code, cache_dir=cache_dir
        )
    except Exception as err:
        first = first_line(err)
        raise PR2Error(f"cannot load model {name!r} ({path}): {first}") from None
    if adapter:
        from peft import PeftModel

        try:
            with warnings.catch_warnings():  # peft asks transformers a deprecated question; not the user's concern
                warnings.simplefilter("ignore", FutureWarning)
                model = PeftModel.from_pretrained(model, adapter)
        except Exception as err:
            first = first_line(err)
            raise PR2Error(f"cannot load adapter {adapter!r} for model {name!r}: {first}") from None
    return model.to(device).eval(), tokenizer


_STOP_CRITERIA: dict[tuple[int, tuple[str, ...]], tuple[object, object]] = {}


def stop_criteria(tokenizer, stop: tuple[str, ...]):
    """transformers' stop-string check, built once per tokenizer and set of strings: building it walks the whole
    vocabulary (about 60 ms for SmolLM2's), which the agent loop, one generate call per turn (and training, one
    generator per call), paid on every turn."""
    from transformers import StoppingCriteriaList, StopStringCriteria

    key = (id(tokenizer), stop)
    if key not in _STOP_CRITERIA:  # the tokenizer is kept in the value, so its id is never reused for another
        _STOP_CRITERIA[key] = (tokenizer, StoppingCriteriaList([StopStringCriteria(tokenizer, list(stop))]))
    return _STOP_CRITERIA[key][1]


class HFGenerator:
    """Token-in/token-out where possible: completions carry exactly the sampled ids and their log-probabilities."""

    def __init__(self, model, tokenizer, *, model_name: str, batch_size: int = 16) -> None:
        self.model, self.tokenizer, self.model_name = model, tokenizer, model_name
        self.batch_size = batch_size
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        self.eos_ids = end_of_turn_ids(tokenizer, model.generation_config)
        self.keeps_turns = supports_turn_cache(model)
        self.decode_attention: str | None = None
        """The cached path's kernel for one-token steps (None: the model's own; see `generate_continued`)."""

    @property
    def dtype_name(self) -> str:
        dtype = next(self.model.parameters()).dtype
        return next((name for name, d in DTYPES.items() if d == dtype), str(dtype))

    def turn_cache(self) -> TurnCache | None:
        """A store for multi-turn callers, or None where this model cannot continue a cache (sliding windows)."""
        return TurnCache() if self.keeps_turns else None

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def encode_prompt(self, prompt: Prompt) -> list[int]:
        return encode_prompt(self.tokenizer, prompt)

    def _left_pad(self, rows: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        width = max(len(r) for r in rows)
        pad = self.tokenizer.pad_token_id
        ids = torch.tensor([[pad] * (width - len(r)) + r for r in rows], device=self.device)
        mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows], device=self.device)
        return ids, mask

    @torch.inference_mode()
    def generate(
        self,
        prompts: Sequence[Prompt],
        params: SamplingParams,
        *,
        turn_cache: TurnCache | None = None,
        keys=None,
        replay: Sequence[Sequence[int]] | None = None,
        budgets: Sequence[int] | None = None,
    ) -> list[Completion]:
        """`turn_cache` and `keys` (one per prompt): continue each prompt from what the cache holds for its key
        (every token prefilled once across turns), the whole list in one batch. `replay` (one token list per prompt,
        n = 1): decode exactly these tokens, the sampler still running (benchmarks compare engines on the same
        episodes with it). `budgets` (with `turn_cache`): each row's own token limit, at most `params.max_tokens`,
        so rows with different room left decode in one batch."""
        encoded = [self.encode_prompt(p) for p in prompts]
        if replay is not None and (params.n != 1 or len(replay) != len(encoded)):
            raise PR2Error("replay takes one token list per prompt, with n = 1")
        if budgets is not None and (turn_cache is None or params.n != 1):
            raise PR2Error("budgets per row need the turn cache and n = 1")
        if turn_cache is not None and params.n == 1:
            return generate_continued(
                self.model, self.tokenizer, encoded, keys, params, turn_cache, frozenset(self.eos_ids),
                decode_attention=self.decode_attention, replay=replay, budgets=budgets,
            )  # fmt: skip
        out: list[Completion] = []
        if params.seed is not None:
            torch.manual_seed(params.seed)
        for start in range(0, len(encoded), self.batch_size):
            forced = None if replay is None else replay[start : start + self.batch_size]
            out.extend(self._generate_batch(encoded[start : start + self.batch_size], params, forced))
        return out

    def _generate_batch(
        self, rows: list[list[int]], params: SamplingParams, replay: Sequence[Sequence[int]] | None = None
    ) -> list[Completion]:
        from transformers import GenerationConfig, LogitsProcessorList

        ids, mask = self._left_pad(rows)
        sample = params.temperature > 0
        # The request alone decides: transformers fills every setting left unset from the model's own
        # generation_config (Qwen2.5-Instruct's sets a repetition penalty, top_k, ...), which would change this path
        # and not the cached one (turn_cache.py), so every one is set here, to its neutral value where the request
        # says nothing.
        settings = {k: v for k, v in GenerationConfig()._get_default_generation_params().items() if v is not None}
        settings.pop("max_length", None)
        settings.update(
            suppress_tokens=[],
            begin_suppress_tokens=[],
            do_sample=sample,
            max_new_tokens=params.max_tokens,
            num_return_sequences=params.n,
            pad_token_id=self.tokenizer.pad_token_id,
            eos_token_id=sorted(self.eos_ids),  # every end-of-turn id of the model, not only the first
            return_dict_in_generate=True,
            output_logits=params.logprobs,
        )
        if sample:  # greedy keeps the neutral values above (warpers only act when sampling)
            settings.update(temperature=params.temperature, top_p=params.top_p, top_k=0)
        config = GenerationConfig(**settings)
        stopping = stop_criteria(self.tokenizer, tuple(params.stop)) if params.stop else None
        forcing = LogitsProcessorList([_Replay(replay, ids.shape[1])]) if replay is not None else None
        result = self.model.generate(
            input_ids=ids, attention_mask=mask, generation_config=config, stopping_criteria=stopping,
            logits_processor=forcing,
        )  # fmt: skip
        new = result.sequences[:, ids.shape[1] :].tolist()
        logprobs = None
        if params.logprobs:
            logits = torch.stack(result.logits, dim=1).float()  # (rows, steps, vocab), raw model logits
            scale = params.temperature if sample else 1.0
            logprobs = torch.log_softmax(logits / scale, dim=-1)
        completions = []
        for r, seq in enumerate(new):
            completion = self._finish(seq, params)
            if logprobs is not None:
                n = len(completion.token_ids)
                completion.logprobs = logprobs[r, torch.arange(n), torch.tensor(seq[:n])].tolist()
            completions.append(completion)
        return completions

    def _finish(self, seq: list[int], params: SamplingParams) -> Completion:
        return finish_ids(seq, tokenizer=self.tokenizer, end_ids=self.eos_ids, stop=params.stop)

    @torch.inference_mode()
    def score(self, prompts: Sequence[Prompt], candidates: Sequence[str]) -> list[dict[str, float]]:
        cand_ids = {c: self.tokenizer(c, add_special_tokens=False)["input_ids"][0] for c in candidates}
        encoded = [self.encode_prompt(p) for p in prompts]
        out = []
        for start in range(0, len(encoded), self.batch_size):
            ids, mask = self._left_pad(encoded[start : start + self.batch_size])
            logits = self.model(input_ids=ids, attention_mask=mask).logits[:, -1, :].float()
            lp = torch.log_softmax(logits, dim=-1)
            out.extend({c: lp[r, t].item() for c, t in cand_ids.items()} for r in range(len(ids)))
        return out


class _Replay:
    """A logits processor that leaves each row only its recorded next token (the warpers and the draw still run)."""

    def __init__(self, tokens: Sequence[Sequence[int]], prompt_width: int) -> None:
        self.tokens, self.prompt_width = tokens, prompt_width

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        step = input_ids.shape[1] - self.prompt_width
        forced = torch.full_like(scores, float("-inf"))
        for row, tokens in enumerate(self.tokens):
            forced[row, tokens[min(step, len(tokens) - 1)]] = 0.0
        return forced
