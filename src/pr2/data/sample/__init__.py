"""The bundled SYNTHETIC sample dataset (see README.md in this folder)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pr2.data.schema import Question

SAMPLE_DIR = Path(__file__).resolve().parent


def sample_path() -> Path:
    """The folder holding the sample's `{category}_{split}.json` files."""
    return SAMPLE_DIR


def sample_files(split: str | None = None) -> list[Path]:
    return sorted(p for p in SAMPLE_DIR.glob("*.json") if split is None or p.stem.endswith(f"_{split}"))


def sample_questions(split: str | None = None) -> list[Question]:
    """All sample questions (of one split), with category and split set from the file names."""
    from pr2.data.io import load_questions

    return [q for path in sample_files(split) for q in load_questions(path)]
