"""LaMP-QA scores: per question sum(aspect scores) / (2 x aspects); per file the mean; per category and macro."""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from pr2.data.schema import Question
from pr2.judge.judge import Judge, Pair


def question_score(aspect_scores: Sequence[float]) -> float | None:
    """Sum over aspects / (2 x number of aspects); None for a question without aspects (left out of means)."""
    if not aspect_scores:
        return None
    return sum(aspect_scores) / (2 * len(aspect_scores))


def bootstrap_interval(
    scores: Sequence[float], level: float = 0.95, resamples: int = 2000, seed: int = 0
) -> tuple[float, float] | None:
    """Percentile bootstrap interval of the mean of `scores` (questions drawn with replacement); None when empty."""
    import numpy as np

    if not scores:
        return None
    values = np.asarray(scores, dtype=float)
    draws = np.random.default_rng(seed).integers(0, len(values), size=(resamples, len(values)))
    means = values[draws].mean(axis=1)
    tail = (1 - level) / 2
    return float(np.quantile(means, tail)), float(np.quantile(means, 1 - tail))


@dataclass
class ScoreReport:
    per_question: list[dict]
    judge: dict
    stats: dict = field(default_factory=dict)

    @property
    def per_category(self) -> dict[str, float]:
        groups: dict[str, list[float]] = defaultdict(list)
        for row in self.per_question:
            if row["score"] is not None:
                groups[row.get("category") or "all"].append(row["score"])
        return {c: statistics.fmean(v) for c, v in sorted(groups.items())}

    @property
    def macro(self) -> float | None:
        cats = self.per_category
        return statistics.fmean(cats.values()) if cats else None

    def interval(self, level: float = 0.95, resamples: int = 2000, seed: int = 0) -> tuple[float, float] | None:
        """Percentile bootstrap interval of the micro average, resampling questions."""
        return bootstrap_interval(
            [r["score"] for r in self.per_question if r["score"] is not None], level, resamples, seed
        )

    @property
    def micro(self) -> float | None:
        scores = [r["score"] for r in self.per_question if r["score"] is not None]
        return statistics.fmean(scores) if scores else None

    def to_record(self) -> dict:
        """The benchmark's shape (`score`, `per_question_scores`) plus per-category and macro figures."""
        record = {
            "score": self.micro,
            "per_question_scores": self.per_question,
            "per_category": self.per_category,
            "macro_average": self.macro,
            "micro_average": self.micro,
            "judge": self.judge,
            "judge_stats": self.stats,
        }
        if self.judge.get("note"):
            record["note"] = self.judge["note"]
        return record


def score_questions(questions: Sequence[Question], responses: Mapping[str, str], judge: Judge) -> ScoreReport:
    """Judge every (question, aspect) pair of a file in one batch and aggregate."""
    pairs, owners = [], []
    for q in questions:
        for a in q.rubric_aspects:
            pairs.append(Pair.of(q, a, responses.get(q.id, "")))
            owners.append(q.id)
    judgements = judge.judge(pairs) if pairs else []
    details: dict[str, list[dict]] = defaultdict(list)
    for qid, pair, j in zip(owners, pairs, judgements, strict=True):
        details[qid].append(
            {
                "aspect": pair.aspect,
                "score": j.score,
                "rationale": j.rationale,
                **({"failed": True} if j.failed else {}),
            }
        )
    rows = []
    for q in questions:
        d = details.get(q.id, [])
        rows.append(
            {"id": q.id, "category": q.category, "score": question_score([x["score"] for x in d]), "details": d}
        )
    stats = judge.stats.__dict__.copy()
    return ScoreReport(rows, judge.describe(), stats)
