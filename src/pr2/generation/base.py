"""The generation interface every back end implements."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, Union

# A prompt is chat messages (templated by the back end), text already templated, or token ids already templated.
Message = dict[str, str]
Prompt = Union[list[Message], str, list[int]]  # noqa: UP007  (a runtime alias; | on list types is fine too)

FinishReason = Literal["stop", "eos", "length"]


@dataclass(frozen=True)
class SamplingParams:
    """How to sample. `temperature` 0 means greedy."""

    temperature: float = 0.0
    """Softmax temperature; 0 is greedy decoding."""
    top_p: float = 1.0
    """Nucleus sampling mass."""
    max_tokens: int = 256
    """New tokens at most per completion."""
    stop: tuple[str, ...] = ()
    """Stop strings; a completion that hits one ends with it (the string is kept in the text and ids)."""
    n: int = 1
    """Completions per prompt."""
    seed: int | None = None
    """Makes sampling reproducible for the same prompts and settings."""
    logprobs: bool = False
    """Return the log-probability of each sampled token."""

    def __post_init__(self) -> None:
        check_sampling(temperature=self.temperature, top_p=self.top_p, max_tokens=self.max_tokens, n=self.n)


def check_sampling(**settings) -> None:
    """Refuse, in one line naming the setting, a negative temperature, a top_p outside (0, 1], and a top_k, token
    budget, batch size or count below 1 (None means unset and passes)."""
    from pr2.errors import PR2Error

    for name, value in settings.items():
        if value is None:
            continue
        if name == "temperature" and not value >= 0:
            raise PR2Error(f"temperature must be 0 (greedy) or more, got {value}")
        if name == "top_p" and not 0 < value <= 1:
            raise PR2Error(f"top_p must be in (0, 1], got {value}")
        if name not in ("temperature", "top_p") and (isinstance(value, bool) or not value >= 1):
            raise PR2Error(f"{name} must be at least 1, got {value}")


@dataclass
class Completion:
    """One sampled continuation."""

    text: str
    token_ids: list[int] | None = None
    """Exactly the ids that were sampled (None where a server does not return them)."""
    logprobs: list[float] | None = None
    """Log-probability of each sampled token under the sampling distribution (when asked for)."""
    finish_reason: FinishReason = "eos"
    """`stop` (a stop string; see `stop_string`), `eos` (end of sequence) or `length` (max_tokens)."""
    stop_string: str | None = None
    extra: dict = field(default_factory=dict)


def is_chat(prompt: Prompt) -> bool:
    return isinstance(prompt, list) and bool(prompt) and isinstance(prompt[0], dict)


class Generator(Protocol):
    """`generate` returns `n` completions per prompt, prompt-major: [p0c0, p0c1, ..., p1c0, ...]."""

    model_name: str

    def generate(self, prompts: Sequence[Prompt], params: SamplingParams) -> list[Completion]: ...

    def score(self, prompts: Sequence[Prompt], candidates: Sequence[str]) -> list[dict[str, float]]:
        """Log-probability of each candidate's first token right after each prompt (the judge's logprob mode)."""
        ...
