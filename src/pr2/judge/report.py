"""`pr2 report SCORES...`: one Markdown row per scores file (method), one column per category plus the macro "Avg"."""

from __future__ import annotations

import json
from pathlib import Path

from pr2.data.io import write_text_atomic
from pr2.data.lamp_qa import CATEGORIES
from pr2.errors import PR2Error

_SHORT = {"Art_and_Entertainment": "A&E", "Lifestyle_and_Personal_Development": "LPD", "Society_and_Culture": "S&C"}


def method_name(path: Path) -> str:
    """`runs/rag/scores.json` -> `rag`; `rag_scores.json` -> `rag_scores`."""
    return path.parent.name if path.stem in ("scores", "score") and path.parent.name else path.stem


def load_scores(path: str | Path) -> dict:
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PR2Error(f"{path}: file not found") from None
    except json.JSONDecodeError as err:
        raise PR2Error(f"{path}: malformed JSON ({err.msg} at line {err.lineno})") from None
    if not isinstance(data, dict) or "per_category" not in data:
        raise PR2Error(f"{path}: not a pr2 scores file (field 'per_category' missing)")
    return data


def judged_by(data: dict) -> str:
    """How a scores file was judged: protocol / model / mode (files from before protocols were recorded: '?')."""
    judge = data.get("judge", {})
    return f"{judge.get('protocol') or '-'} / {judge.get('model', '?')} / {judge.get('mode', '?')}"


def build_table(paths: list[Path]) -> tuple[list[str], list[tuple[str, list[float | None]]], bool]:
    rows, proxy = [], False
    present = set()
    loaded = [(p, load_scores(p)) for p in paths]
    for _, d in loaded:
        present.update(d["per_category"])
    columns = [c for c in CATEGORIES if c in present] + sorted(present - set(CATEGORIES))
    for p, d in loaded:
        proxy |= bool(d.get("judge", {}).get("proxy"))
        rows.append(
            (method_name(p), [d["per_category"].get(c) for c in columns] + [d.get("macro_average")], judged_by(d))
        )
    return columns, rows, proxy


def markdown(columns: list[str], rows: list[tuple[str, list[float | None]]], proxy: bool) -> str:
    head = ["method", *[_SHORT.get(c, c) for c in columns], "Avg", "judge (protocol / model / mode)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] + ["---:"] * (len(head) - 2) + ["---"]) + "|"]
    for name, values, judge in rows:
        cells = [name, *("-" if v is None else f"{v:.4f}" for v in values), judge]
        lines.append("| " + " | ".join(cells) + " |")
    if len({judge for _, _, judge in rows}) > 1:
        lines.append("\nWARNING: these rows were judged differently (see the judge column); they are not comparable.")
    if proxy:
        lines.append("\nScores from the embedding judge are a PROXY, not LaMP-QA scores.")
    return "\n".join(lines) + "\n"


def bar_chart(columns: list[str], rows, path: Path, proxy: bool) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    labels = [*(_SHORT.get(c, c) for c in columns), "Avg"]
    x = np.arange(len(labels))
    width = 0.8 / max(len(rows), 1)
    fig, ax = plt.subplots(figsize=(1.6 * len(labels) + 2, 4))
    for i, (name, values, _) in enumerate(rows):
        ax.bar(x + i * width - 0.4 + width / 2, [v or 0 for v in values], width, label=name)
    ax.set_xticks(x, labels)
    ax.set_ylabel("score (proxy)" if proxy else "LaMP-QA score")
    ax.set_ylim(0, 1)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp.png")
    fig.savefig(tmp, dpi=120)
    plt.close(fig)
    tmp.replace(path)


def write_report(paths: list[str | Path], output: str | Path = "report") -> tuple[str, Path, Path]:
    """Write OUTPUT.md and OUTPUT.png; return the Markdown table and both paths."""
    columns, rows, proxy = build_table([Path(p) for p in paths])
    table = markdown(columns, rows, proxy)
    md, png = Path(f"{output}.md"), Path(f"{output}.png")
    write_text_atomic(md, table)
    bar_chart(columns, rows, png, proxy)
    return table, md, png
