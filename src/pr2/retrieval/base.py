"""The retriever protocol: score one user's profile texts against a query, for many questions at once."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np


class SearchIndex(Protocol):
    """Documents prepared once (embeddings or a BM25 index); `scores` only has to process the query."""

    def scores(self, query: str) -> np.ndarray: ...


class Retriever(Protocol):
    name: str

    def score_many(self, queries: Sequence[str], profiles: Sequence[Sequence[str]]) -> list[np.ndarray]:
        """Scores of each query against its own profile's texts (never another's); higher is more relevant."""
        ...

    def index(self, documents: Sequence[str]) -> SearchIndex:
        """Prepare one profile for repeated searches."""
        ...


def rank_order(scores: np.ndarray) -> list[int]:
    """Indices by decreasing score; ties keep the original profile order, so rankings are deterministic."""
    return np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable").tolist()
