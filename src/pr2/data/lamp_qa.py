"""LaMP-QA facts: categories, splits, file names, filtering, and the download from the Hugging Face Hub."""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from pr2.errors import PR2Error, first_line

if TYPE_CHECKING:
    from pr2.data.schema import Question

log = logging.getLogger(__name__)

HUB_REPO = "alireza7/LaMP-QA"
CATEGORIES = ("Art_and_Entertainment", "Lifestyle_and_Personal_Development", "Society_and_Culture")
SPLITS = ("train", "validation", "test")

_FILENAME = re.compile(rf"^({'|'.join(CATEGORIES)})_({'|'.join(SPLITS)})\.jsonl?$")


def parse_lamp_filename(name: str) -> tuple[str | None, str | None]:
    """(category, split) from a benchmark file name such as `Society_and_Culture_test.json`, else (None, None)."""
    match = _FILENAME.match(name)
    return (match.group(1), match.group(2)) if match else (None, None)


def parse_subsets(subsets: str | Sequence[str] | None) -> list[str]:
    """`ALL`, None or a comma list of category names -> the list of categories, checked."""
    if subsets is None or subsets == "ALL" or subsets == ["ALL"]:
        return list(CATEGORIES)
    names = [s.strip() for s in (subsets.split(",") if isinstance(subsets, str) else subsets) if s.strip()]
    for name in names:
        if name not in CATEGORIES:
            raise PR2Error(f"unknown LaMP-QA subset {name!r}; choose ALL or from {', '.join(CATEGORIES)}")
    return names


def parse_splits(splits: str | Sequence[str]) -> list[str]:
    names = [s.strip() for s in (splits.split(",") if isinstance(splits, str) else splits) if s.strip()]
    for name in names:
        if name not in SPLITS:
            raise PR2Error(f"unknown split {name!r}; choose from {', '.join(SPLITS)}")
    return names


def filter_questions(
    questions: Iterable[Question],
    split: str | None = None,
    subsets: str | Sequence[str] | None = None,
    limit: int | None = None,
) -> list[Question]:
    """Keep the questions of one split and some categories (questions without the field pass), then the first `limit`."""
    categories = set(parse_subsets(subsets))
    kept = [
        q
        for q in questions
        if (split is None or q.split is None or q.split == split) and (q.category is None or q.category in categories)
    ]
    return kept[:limit] if limit is not None else kept


def download(
    save_dir: str | os.PathLike,
    *,
    cache_dir: str | None = None,
    subsets: str | Sequence[str] | None = "ALL",
    splits: str | Sequence[str] = SPLITS,
    source: str = HUB_REPO,
) -> list[Path]:
    """Fetch LaMP-QA with `datasets` and write `{category}_{split}.json` plus one combined `{split}.jsonl` per split.

    `source` is the Hub repository id, or a local folder laid out like it (the same `load_dataset` path is used).
    """
    import datasets  # heavy; only needed here

    from pr2.data.io import write_json_atomic, write_text_atomic
    from pr2.data.schema import question_from_record

    save = Path(save_dir)
    written: list[Path] = []
    split_names = parse_splits(splits)
    combined: dict[str, list[str]] = {s: [] for s in split_names}

    for category in parse_subsets(subsets):
        for split in split_names:
            try:
                ds = datasets.load_dataset(source, category, split=split, cache_dir=cache_dir)
            except Exception as err:  # datasets raises many types for an unreachable or missing repo
                first = first_line(err)
                raise PR2Error(f"cannot load {source!r} config {category!r} split {split!r}: {first}") from None
            records = ds.to_list()
            name = f"{category}_{split}.json"
            for i, record in enumerate(records):  # validate before writing anything of this file
                question_from_record(record, f"{source}:{category}/{split}", i)
            path = save / name
            write_json_atomic(path, records)
            written.append(path)
            log.info("wrote %s (%d questions)", path, len(records))
            for record in records:
                combined[split].append(json.dumps({**record, "category": category, "split": split}, ensure_ascii=False))
    for split, lines in combined.items():
        path = save / f"{split}.jsonl"
        write_text_atomic(path, "".join(line + "\n" for line in lines))
        written.append(path)
    return written
