"""How far two judgements of the same responses agree, aspect by aspect (`pr2 report agreement A B`).

The paper configs train on one judge mode (say `logprob`: the expected 0/1/2 score in one forward pass) while the
benchmark evaluates with another (`generate`: the judge writes its score). Given two scores files of the same
responses, this pairs their per-aspect scores (question id, aspect) and reports how many pairs both judged, the
Spearman rank correlation, the mean absolute difference (on the 0–2 scale) and how often they agree exactly once the
first is rounded to the nearest of 0/1/2. Pairs a judge could not read (a generate-mode score that fell to 0 after its
retries: `failed`) are left out and counted apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pr2.errors import PR2Error
from pr2.judge.report import judged_by, load_scores


@dataclass
class Agreement:
    pairs: int
    unreadable: int
    spearman: float | None
    mean_abs_diff: float | None
    exact: float | None
    first: str
    second: str

    def lines(self) -> list[str]:
        if not self.pairs:
            return [f"{self.first} vs {self.second}: no aspect judged by both ({self.unreadable} unreadable)"]
        rho = "undefined (a judge gave one score to every pair)" if self.spearman is None else f"{self.spearman:.3f}"
        return [
            f"{self.first} vs {self.second}: {self.pairs} aspects judged by both ({self.unreadable} unreadable, left out)",
            f"Spearman rank correlation: {rho}",
            f"mean absolute difference (0-2 scale): {self.mean_abs_diff:.3f}",
            f"exact agreement (first rounded to 0/1/2): {self.exact:.1%}",
        ]


def _aspect_scores(data: dict, path: Path) -> dict[tuple[str, int], tuple[float, bool]]:
    out = {}
    for row in data.get("per_question_scores", []):
        for i, detail in enumerate(row.get("details", [])):
            out[(str(row["id"]), i)] = (float(detail["score"]), bool(detail.get("failed")))
    if not out:
        raise PR2Error(f"{path}: no per-aspect scores (details) to compare")
    return out


def spearman(a: list[float], b: list[float]) -> float | None:
    """Spearman's rank correlation (scipy's, ties at their mean rank); None where either side is constant."""
    if len(set(a)) < 2 or len(set(b)) < 2:
        return None
    from scipy.stats import spearmanr

    return float(spearmanr(a, b).statistic)


def agreement(first: str | Path, second: str | Path) -> Agreement:
    """The agreement of two scores files over the aspects both judged (same questions, aspects in the same order)."""
    a_data, b_data = load_scores(first), load_scores(second)
    a, b = _aspect_scores(a_data, Path(first)), _aspect_scores(b_data, Path(second))
    if set(a) != set(b):
        raise PR2Error(f"{first} and {second} judged different questions or aspects: compare scores of one dataset")
    keys = sorted(a)
    both = [k for k in keys if not a[k][1] and not b[k][1]]
    xs, ys = [a[k][0] for k in both], [b[k][0] for k in both]
    if not both:
        return Agreement(0, len(keys), None, None, None, judged_by(a_data), judged_by(b_data))
    return Agreement(
        pairs=len(both),
        unreadable=len(keys) - len(both),
        spearman=spearman(xs, ys) if len(both) > 1 else None,
        mean_abs_diff=sum(abs(x - y) for x, y in zip(xs, ys, strict=True)) / len(both),
        exact=sum(min((0, 1, 2), key=lambda s: abs(s - x)) == y for x, y in zip(xs, ys, strict=True)) / len(both),
        first=judged_by(a_data),
        second=judged_by(b_data),
    )
