"""The embedding judge: a PROXY for machines without a capable LLM judge. Never the LaMP-QA score.

Cosine similarity (sentence-transformers, the bundled MiniLM by default) between the response and the aspect
(its title, reason and evidence) is mapped to 0/1/2 by two thresholds calibrated on the bundled sample:
- below `low` (95th percentile of aspect vs off-topic posts): 0, not covered;
- at or above `high` (median of aspect vs the user's own narrative, which states every need): 2;
- in between: 1.
`smooth=True` gives 2 * clip((cos - low) / (high - low), 0, 1) instead, a graded reward for training.
Deterministic, offline and fast.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from pr2.judge.judge import Judge, JudgeConfig, Judgement, Pair

# From calibrate() on the bundled sample's train split with the bundled all-MiniLM-L6-v2 (0.199, 0.422); tests/judge
# checks them on the validation and test splits, which they were not fitted on.
DEFAULT_THRESHOLDS = (0.20, 0.42)


def aspect_text(aspect: str, reason: str, evidence: str) -> str:
    return f"{aspect}. {reason} {evidence}"


def _load_model(name: str):
    from sentence_transformers import SentenceTransformer

    from pr2.errors import PR2Error, first_line
    from pr2.retrieval.registry import bundled_minilm_path

    source = str(bundled_minilm_path()) if name in ("minilm", "embedding") else name
    try:
        return SentenceTransformer(source, device="cpu")
    except Exception as err:
        first = first_line(err)
        raise PR2Error(f"cannot load embedding judge model {name!r}: {first}") from None


def calibrate(questions: Sequence, model) -> tuple[float, float]:
    """(low, high) from a dataset whose records list their `relevant_profile_ids` (the bundled sample does)."""
    off, narrative = [], []
    for q in questions:
        aspects = model.encode(
            [aspect_text(a.aspect, a.reason, a.evidence) for a in q.rubric_aspects], normalize_embeddings=True
        )
        relevant = set(q.extra.get("relevant_profile_ids", []))
        others = [p.text for p in q.profile if p.id not in relevant]
        if others:
            off.extend((aspects @ model.encode(others, normalize_embeddings=True, show_progress_bar=False).T).ravel())
        narrative.extend(
            (aspects @ model.encode([q.narrative], normalize_embeddings=True, show_progress_bar=False).T).ravel()
        )
    return float(np.percentile(off, 95)), float(np.median(narrative))


class EmbeddingJudge(Judge):
    mode = "embedding"
    proxy = True

    def __init__(
        self,
        config: JudgeConfig,
        *,
        thresholds: tuple[float, float] = DEFAULT_THRESHOLDS,
        smooth: bool = False,
        model=None,
    ) -> None:
        super().__init__(config)
        self.model = model if model is not None else _load_model(config.model)
        self.low, self.high = thresholds
        self.smooth = smooth
        if smooth:
            self.mode = "embedding-smooth"

    def input_text(self, pair: Pair) -> str:
        return f"{pair.response}\x1e{aspect_text(pair.aspect, pair.reason, pair.evidence)}"

    def map_cosine(self, cos: float) -> float:
        if self.smooth:
            return float(2 * np.clip((cos - self.low) / (self.high - self.low), 0.0, 1.0))
        return 0.0 if cos < self.low else (1.0 if cos < self.high else 2.0)

    def _judge_uncached(self, pairs: list[Pair], texts: list[str]) -> list[Judgement]:
        responses = list(dict.fromkeys(p.response for p in pairs))
        aspects = list(dict.fromkeys(aspect_text(p.aspect, p.reason, p.evidence) for p in pairs))
        r = dict(
            zip(
                responses, self.model.encode(responses, normalize_embeddings=True, show_progress_bar=False), strict=True
            )
        )
        a = dict(
            zip(aspects, self.model.encode(aspects, normalize_embeddings=True, show_progress_bar=False), strict=True)
        )
        out = []
        for p in pairs:
            if not p.response.strip():
                out.append(Judgement(0.0, "empty response"))
                continue
            cos = float(r[p.response] @ a[aspect_text(p.aspect, p.reason, p.evidence)])
            out.append(Judgement(self.map_cosine(cos), f"cosine={cos:.3f} (proxy)"))
        return out
