"""`pr2 report train RUN_DIR`: reward and searches per trajectory over steps, from RUN_DIR/metrics.jsonl.

`pr2 report train RUN_A RUN_B ... --output PREFIX` puts several runs on the same axes (PREFIX-reward.png, ...) and
writes PREFIX.md, a table of each run's means over blocks of steps: how two advantage estimators or two recipes
from one start compare, step for step."""

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


def _metrics(run_dir: Path) -> list[dict]:
    path = run_dir / "metrics.jsonl"
    rows = read_jsonl(path) if path.exists() else []
    if not rows:
        raise PR2Error(f"{path}: no training metrics (run pr2 train first)")
    return rows


def _series(rows: list[dict], key: str) -> tuple[tuple, tuple]:
    """(steps, values) of one metric, skipping the steps that did not log it."""
    pts = [(r["step"], r[key]) for r in rows if r.get(key) is not None]
    return tuple(zip(*pts, strict=True)) if pts else ((), ())


def _plot(path: Path, lines: list[tuple[tuple, tuple, dict]], figsize: tuple, legend: dict) -> Path:
    """One figure of (steps, values, matplotlib kwargs) lines over steps, written atomically to `path`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=figsize)
    for xs, ys, style in lines:
        if xs:
            ax.plot(xs, ys, **style)
    ax.set_xlabel("step")
    ax.legend(**legend)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}")  # a figure killed mid-write never replaces a good one
    fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    tmp.replace(path)
    return path


def plot_training(run_dir: str | Path) -> list[Path]:
    run_dir = Path(run_dir)
    rows = _metrics(run_dir)
    return [
        _plot(
            run_dir / name,
            [(*_series(rows, key), {"marker": "o", "label": label}) for key, label in series],
            figsize=(6, 3.5),
            legend={},
        )
        for name, series in PLOTS.items()
    ]


def compare_training(run_dirs: list[str | Path], output: str | Path, block: int = 4) -> list[Path]:
    """Each of PLOTS with every run on the same axes (one colour per run, one line style per series), and
    OUTPUT.md: per run and series, the mean over each block of `block` steps. Returns the files written."""
    runs = {Path(d).name or str(d): _metrics(Path(d)) for d in run_dirs}
    if len(runs) < len(run_dirs):
        raise PR2Error(f"two runs share a folder name ({', '.join(map(str, run_dirs))}); name them apart")
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    written = []
    for name, series in PLOTS.items():
        lines = [
            (*_series(rows, key), {"linestyle": style, "color": f"C{colour}", "marker": "o", "ms": 3,
                                   "label": f"{run}: {label}"})
            for colour, (run, rows) in enumerate(runs.items())
            for style, (key, label) in zip(("-", "--", ":"), series, strict=False)
        ]  # fmt: skip
        written.append(_plot(output.with_name(f"{output.name}-{name}"), lines, (7, 4), {"fontsize": "small"}))
    table = output.with_name(output.name + ".md")
    table.write_text(block_means_table(runs, block), encoding="utf-8")
    return [*written, table]


def block_means_table(runs: dict[str, list[dict]], block: int) -> str:
    """Markdown: one row per (series, run), one column per block of steps, each cell the block's mean."""
    last = max(r["step"] for rows in runs.values() for r in rows)
    starts = range(1, last + 1, block)
    head = [f"{a}–{min(a + block - 1, last)}" for a in starts]
    lines = ["| series | run | " + " | ".join(head) + " |", "|---|---|" + "---:|" * len(head)]
    for series in PLOTS.values():
        for key, label in series:
            for run, rows in runs.items():
                cells = []
                for a in starts:
                    ys = [r[key] for r in rows if a <= r["step"] < a + block and r.get(key) is not None]
                    cells.append(f"{sum(ys) / len(ys):.3f}" if ys else "")
                lines.append(f"| {label} | {run} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
