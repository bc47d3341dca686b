"""Per-(category, split) statistics of a dataset, as `pr2 validate` prints them."""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from pr2.data.schema import Question


@dataclass(frozen=True)
class GroupSummary:
    category: str
    split: str
    questions: int
    profile_min: int
    profile_median: float
    profile_max: int
    aspects_mean: float
    aspects_min: int
    aspects_max: int


def summarize(questions: Iterable[Question]) -> list[GroupSummary]:
    groups: dict[tuple[str, str], list[Question]] = defaultdict(list)
    for q in questions:
        groups[(q.category or "-", q.split or "-")].append(q)
    rows = []
    for (category, split), qs in sorted(groups.items()):
        sizes = [len(q.profile) for q in qs]
        aspects = [len(q.rubric_aspects) for q in qs]
        rows.append(
            GroupSummary(
                category,
                split,
                len(qs),
                min(sizes),
                statistics.median(sizes),
                max(sizes),
                statistics.fmean(aspects),
                min(aspects),
                max(aspects),
            )
        )
    return rows


def format_summary(rows: list[GroupSummary]) -> str:
    header = (
        f"{'category':<36} {'split':<10} {'questions':>9} {'profile min/median/max':>24} {'aspects mean (min-max)':>24}"
    )
    lines = [header, "-" * len(header)]
    for r in rows:
        profile = f"{r.profile_min}/{r.profile_median:g}/{r.profile_max}"
        aspects = f"{r.aspects_mean:.2f} ({r.aspects_min}-{r.aspects_max})"
        lines.append(f"{r.category:<36} {r.split:<10} {r.questions:>9} {profile:>24} {aspects:>24}")
    return "\n".join(lines)
