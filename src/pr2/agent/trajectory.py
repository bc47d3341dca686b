"""A trajectory: the ordered segments of one question's episode, and what training needs from it."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Literal

EndReason = Literal["answer", "search_limit", "length", "no_answer"]


@dataclass
class Segment:
    kind: Literal["model", "information"]
    text: str
    token_ids: list[int]
    logprobs: list[float] | None = None
    """Sampling log-probabilities of model tokens (None for information, or when the back end gives none)."""


@dataclass
class Trajectory:
    question_id: str
    prompt_ids: list[int] = field(default_factory=list)
    segments: list[Segment] = field(default_factory=list)
    searches: list[str] = field(default_factory=list)
    retrieved_ids: list[list[str]] = field(default_factory=list)
    answer: str = ""
    ended: EndReason | None = None

    @property
    def completion_ids(self) -> list[int]:
        return [t for s in self.segments for t in s.token_ids]

    @property
    def loss_mask(self) -> list[int]:
        """1 on tokens the policy wrote, 0 on inserted information: retrieved text is never trained on."""
        return [1 if s.kind == "model" else 0 for s in self.segments for _ in s.token_ids]

    @property
    def completion_logprobs(self) -> list[float]:
        """One value per completion token: the sampler's log-probability (the full-vocabulary log-softmax of
        logits / T), NaN where there is none (inserted information, a turn the loop opened, a back end that returned
        none). Never 0.0, which is a real log-probability (a certain token); TRL leaves NaN tokens uncorrected."""
        out: list[float] = []
        for s in self.segments:
            if s.kind == "model" and s.logprobs is not None and len(s.logprobs) == len(s.token_ids):
                out.extend(s.logprobs)
            else:
                out.extend([math.nan] * len(s.token_ids))
        return out

    @property
    def text(self) -> str:
        return "".join(s.text for s in self.segments)

    def to_record(self) -> dict:
        record = asdict(self)
        record["id"] = record.pop("question_id")
        return record

    @classmethod
    def from_record(cls, record: dict) -> Trajectory:
        segments = [Segment(**s) for s in record.get("segments", [])]
        return cls(
            record["id"],
            record.get("prompt_ids", []),
            segments,
            record.get("searches", []),
            record.get("retrieved_ids", []),
            record.get("answer", ""),
            record.get("ended"),
        )
