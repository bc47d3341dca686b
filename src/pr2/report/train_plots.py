"""`pr2 report train RUN_DIR`: reward and searches per trajectory over steps, from RUN_DIR/metrics.jsonl."""

from __future__ import annotations

from pathlib import Path

from pr2.data.io import read_jsonl
from pr2.errors import PR2Error

PLOTS = {
    "reward.png": (
        ("reward_mean", "reward"),
        ("r_minus_r_np", "r - r_np"),
        ("judged_reward", "judge's part (without a shaping bonus)"),
    ),
    "searches.png": (("searches_per_trajectory", "searches per trajectory"), ("answer_rate", "answer rate")),
    "evidence.png": (
        ("evidence_retrieved", "share of evidence posts retrieved"),
        ("searches_finding_evidence", "share of searches that find an evidence post"),
    ),
}


def plot_training(run_dir: str | Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    run_dir = Path(run_dir)
    rows = read_jsonl(run_dir / "metrics.jsonl")
    if not rows:
        raise PR2Error(f"{run_dir / 'metrics.jsonl'}: no training metrics (run pr2 train first)")
    steps = [r["step"] for r in rows]
    written = []
    for name, series in PLOTS.items():
        fig, ax = plt.subplots(figsize=(6, 3.5))
        for key, label in series:
            ys = [r.get(key) for r in rows]
            pts = [(s, y) for s, y in zip(steps, ys, strict=True) if y is not None]
            if pts:
                ax.plot(*zip(*pts, strict=True), marker="o", label=label)
        ax.set_xlabel("step")
        ax.legend()
        ax.grid(alpha=0.3)
        fig.tight_layout()
        path = run_dir / name
        tmp = run_dir / f".{name}"
        fig.savefig(tmp, dpi=110, format="png")
        plt.close(fig)
        tmp.replace(path)
        written.append(path)
    return written
