"""Dense retrieval: Contriever-style encoders (mean pooling, dot product) and sentence-transformers models.

Speed without changing results: inference mode, every text of a batch of questions encoded once (duplicates
skipped), texts sorted by token length so batches carry little padding, truncation to the encoder's limit, and an
optional bf16/fp16 autocast (fp32 stays the default because it is exact).
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext
from typing import Protocol

import numpy as np
import torch

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


class Encoder(Protocol):
    def encode(self, texts: Sequence[str]) -> torch.Tensor:
        """One float32 row per text, in input order."""
        ...

    def similarity(self, queries: torch.Tensor, documents: torch.Tensor) -> torch.Tensor: ...


def pick_device(device: str | None) -> str:
    if device:
        return device
    return "cuda" if torch.cuda.is_available() else "cpu"


class MeanPoolingEncoder:
    """Any transformers encoder used as Contriever is meant to be: mean of token states over the mask, dot product."""

    def __init__(
        self,
        model,
        tokenizer,
        *,
        device: str = "cpu",
        batch_size: int = 32,
        dtype: str = "fp32",
        max_length: int | None = None,
    ) -> None:
        self.model = model.to(device).eval()
        self.tokenizer = tokenizer
        self.device = device
        self.batch_size = batch_size
        self.dtype = DTYPES[dtype]
        limits = [
            x
            for x in (max_length, getattr(model.config, "max_position_embeddings", None), tokenizer.model_max_length)
            if x
        ]
        # Some tokenizers report a huge sentinel; BERT-like position tables hold 512.
        self.max_length = min(min(limits), 512) if limits else 512

    @torch.inference_mode()
    def encode(self, texts: Sequence[str]) -> torch.Tensor:
        if not texts:
            return torch.zeros(0, self.model.config.hidden_size)
        features = self.tokenizer(list(texts), truncation=True, max_length=self.max_length)["input_ids"]
        order = sorted(range(len(texts)), key=lambda i: len(features[i]))
        out = torch.empty(len(texts), self.model.config.hidden_size)
        autocast = (
            torch.autocast(device_type=self.device.split(":")[0], dtype=self.dtype)
            if self.dtype != torch.float32
            else nullcontext()
        )
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            batch = self.tokenizer.pad({"input_ids": [features[i] for i in idx]}, return_tensors="pt")
            batch = {k: v.to(self.device) for k, v in batch.items()}
            with autocast:
                hidden = self.model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1)
            out[idx] = pooled.float().cpu()
        return out

    def similarity(self, queries: torch.Tensor, documents: torch.Tensor) -> torch.Tensor:
        return queries @ documents.T


class SentenceTransformerEncoder:
    """A sentence-transformers model with its own pooling, normalisation and similarity function."""

    def __init__(self, model, *, batch_size: int = 32, dtype: str = "fp32") -> None:
        self.model = model.eval()
        if dtype != "fp32":
            self.model = self.model.to(DTYPES[dtype])
        self.batch_size = batch_size

    @torch.inference_mode()
    def encode(self, texts: Sequence[str]) -> torch.Tensor:
        if not texts:
            return torch.zeros(0, self.model.get_sentence_embedding_dimension() or 0)
        # sentence-transformers already sorts by length and truncates to max_seq_length.
        emb = self.model.encode(
            list(texts), batch_size=self.batch_size, convert_to_tensor=True, show_progress_bar=False
        )
        return emb.float().cpu()

    def similarity(self, queries: torch.Tensor, documents: torch.Tensor) -> torch.Tensor:
        return self.model.similarity(queries, documents).float()


class _DenseIndex:
    def __init__(self, encoder: Encoder, documents: Sequence[str] = (), embeddings: torch.Tensor | None = None) -> None:
        self.encoder = encoder
        self.embeddings = embeddings if embeddings is not None else _encode_unique(encoder, documents)

    def scores(self, query: str) -> np.ndarray:
        if len(self.embeddings) == 0:
            return np.zeros(0, dtype=np.float32)
        q = self.encoder.encode([query])
        return self.encoder.similarity(q, self.embeddings)[0].numpy()


def _encode_unique(encoder: Encoder, texts: Sequence[str]) -> torch.Tensor:
    """Encode each distinct text once and scatter the rows back to every occurrence."""
    unique = list(dict.fromkeys(texts))
    if len(unique) == len(texts):
        return encoder.encode(texts)
    position = {t: i for i, t in enumerate(unique)}
    emb = encoder.encode(unique)
    return emb[[position[t] for t in texts]]


class DenseRetriever:
    def __init__(self, name: str, encoder: Encoder) -> None:
        self.name = name
        self.encoder = encoder

    def index(self, documents: Sequence[str]) -> _DenseIndex:
        return _DenseIndex(self.encoder, documents)

    def embed_documents(self, documents: Sequence[str]) -> torch.Tensor:
        """Document embeddings as `index` computes them, to be stored and given back to `index_embeddings`."""
        return _encode_unique(self.encoder, documents)

    def index_embeddings(self, embeddings: torch.Tensor) -> _DenseIndex:
        """An index over documents embedded earlier (`embed_documents`): a search encodes only its query."""
        return _DenseIndex(self.encoder, embeddings=embeddings)

    def score_many(self, queries: Sequence[str], profiles: Sequence[Sequence[str]]) -> list[np.ndarray]:
        # All texts of these questions form one pool: shared posts are encoded once, and length-sorted batches
        # span questions, which matters when profiles are small (as most LaMP-QA profiles are).
        docs = [t for profile in profiles for t in profile]
        all_emb = _encode_unique(self.encoder, [*queries, *docs])
        q_emb, d_emb = all_emb[: len(queries)], all_emb[len(queries) :]
        scores, start = [], 0
        for i, profile in enumerate(profiles):
            block = d_emb[start : start + len(profile)]
            start += len(profile)
            if len(profile) == 0:
                scores.append(np.zeros(0, dtype=np.float32))
                continue
            scores.append(self.encoder.similarity(q_emb[i : i + 1], block)[0].numpy())
        return scores
