"""BM25 over one profile with `bm25s` (English stop words, Snowball stemming); needs no model."""

from __future__ import annotations

from collections.abc import Sequence

import bm25s
import numpy as np
import Stemmer


class _Bm25Index:
    def __init__(self, documents: Sequence[str], stemmer: Stemmer.Stemmer, k1: float, b: float) -> None:
        self._stemmer = stemmer
        self._n = len(documents)
        self._bm25: bm25s.BM25 | None = None
        if self._n:
            tokens = bm25s.tokenize(list(documents), stopwords="en", stemmer=stemmer, show_progress=False)
            self._bm25 = bm25s.BM25(k1=k1, b=b)
            self._bm25.index(tokens, show_progress=False)

    def scores(self, query: str) -> np.ndarray:
        if self._bm25 is None:
            return np.zeros(0, dtype=np.float32)
        tokenized = bm25s.tokenize(
            [query], stopwords="en", stemmer=self._stemmer, return_ids=False, show_progress=False
        )
        vocab = self._bm25.vocab_dict
        terms = [t for t in tokenized[0] if t and t in vocab]
        if not terms:  # only stop words or words no post uses: nothing is relevant, keep profile order
            return np.zeros(self._n, dtype=np.float32)
        return np.asarray(self._bm25.get_scores(terms), dtype=np.float32)


class BM25Retriever:
    """Lucene BM25 (k1=1.5, b=0.75 by default), an index per profile."""

    name = "bm25"

    def __init__(self, k1: float = 1.5, b: float = 0.75) -> None:
        self.k1, self.b = k1, b
        self._stemmer = Stemmer.Stemmer("english")

    def index(self, documents: Sequence[str]) -> _Bm25Index:
        return _Bm25Index(documents, self._stemmer, self.k1, self.b)

    def score_many(self, queries: Sequence[str], profiles: Sequence[Sequence[str]]) -> list[np.ndarray]:
        return [self.index(docs).scores(query) for query, docs in zip(queries, profiles, strict=True)]
