"""Reading and writing LaMP-QA files: `.json` (a list, as the benchmark ships it) or `.jsonl` (one record a line).

Writers never leave a half-written file: whole files go to a temporary file that is renamed into place, and a
JSONL writer appends one complete line at a time, so a killed job can be re-run and skip what is already there.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from pr2.data.fault_injection import write_point
from pr2.data.lamp_qa import parse_lamp_filename
from pr2.data.schema import Question, question_from_record
from pr2.errors import PR2Error

log = logging.getLogger(__name__)


def _read_text(path: Path) -> str:
    if not path.exists():
        raise PR2Error(f"{path}: file not found")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise PR2Error(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from None


def iter_json_records(path: str | os.PathLike) -> Iterator[tuple[int, Any]]:
    """Yield (index, record) from a `.json` list or a `.jsonl` file, with one-line errors naming file and line."""
    path = Path(path)
    text = _read_text(path)
    if path.suffix == ".jsonl":
        index = 0
        # Split on "\n" only: splitlines() also breaks at U+2028, U+0085 and other characters that JSON strings
        # written with ensure_ascii=False hold as they are.
        for lineno, line in enumerate(text.split("\n"), start=1):
            if not line.strip():
                continue
            try:
                yield index, json.loads(line)
            except json.JSONDecodeError as err:
                raise PR2Error(f"{path}: line {lineno}: malformed JSON ({err.msg}, column {err.colno})") from None
            index += 1
        return
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise PR2Error(f"{path}: malformed JSON ({err.msg} at line {err.lineno}, column {err.colno})") from None
    if not isinstance(data, list):
        raise PR2Error(f"{path}: must hold a JSON list of records, got {type(data).__name__}")
    yield from enumerate(data)


def load_questions(path: str | os.PathLike, *, warn: bool = True) -> list[Question]:
    """Load and validate a LaMP-QA dataset file; category and split default to those in a `{category}_{split}.json` name."""
    path = Path(path)
    category, split = parse_lamp_filename(path.name)
    questions: list[Question] = []
    seen: dict[str, int] = {}
    for index, record in iter_json_records(path):
        q = question_from_record(record, str(path), index, category=category, split=split)
        if q.id in seen:
            raise PR2Error(f"{path}: record {index} (id {q.id!r}): field 'id' duplicates record {seen[q.id]}")
        seen[q.id] = index
        if warn and not q.profile:
            log.warning("%s: record %d (id %r): empty profile", path, index, q.id)
        if warn and not q.rubric_aspects:
            log.warning("%s: record %d (id %r): no rubric aspects", path, index, q.id)
        questions.append(q)
    return questions


def select_questions(
    path: str | os.PathLike | None, *, split: str | None = None, subsets=None, limit: int | None = None
) -> list[Question]:
    """The questions a command works on: a file (None: the bundled sample), one split, some categories, the first
    `limit`; an empty selection is an error, not a silent no-op."""
    from pr2.data.lamp_qa import filter_questions
    from pr2.data.sample import sample_questions

    source = str(path) if path else "the bundled sample"
    questions = load_questions(path) if path else sample_questions()
    questions = filter_questions(questions, split=split, subsets=subsets, limit=limit)
    if not questions:
        raise PR2Error(f"{source}: no questions left after split {split!r} and subsets {subsets!r}")
    return questions


def write_json_atomic(path: str | os.PathLike, data: Any, *, indent: int | None = 2) -> None:
    """Write JSON to a temporary file beside `path`, then rename it into place (never half-written)."""
    write_text_atomic(path, json.dumps(data, ensure_ascii=False, indent=indent) + "\n")


def write_folder_atomic(target: str | os.PathLike, *parts: Any, json_files: dict[str, Any] | None = None) -> Path:
    """Save a model folder whole or not at all: each part's `save_pretrained` (a model, a tokenizer) and each JSON
    file go to a temporary folder beside `target`, renamed into place at the end, so a killed save never leaves a
    folder that looks complete. Where another process finished the same folder first, its folder is kept. Other
    temporaries are left alone (another process may be writing one): a caller that is the folder's only writer
    removes what killed saves left with `remove_partial_folders`."""
    import shutil

    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"))
    try:
        for part in parts:
            part.save_pretrained(tmp)
        for name, data in (json_files or {}).items():
            (tmp / name).write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        try:
            tmp.rename(target)
        except OSError:
            if not target.exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def remove_partial_folders(target: str | os.PathLike) -> None:
    """Remove the temporaries `write_folder_atomic(target, ...)` left when a kill came before its rename; only for a
    caller that is the folder's one writer (a concurrent writer's temporary looks the same)."""
    import shutil

    target = Path(target)
    for stale in target.parent.glob(f".{target.name}.*.tmp"):
        shutil.rmtree(stale, ignore_errors=True)


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        write_point()  # a kill here leaves the old file whole and a stray temporary, removed below next time
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    for stale in path.parent.glob(f".{path.name}.*.tmp"):  # left by a process killed before its rename
        stale.unlink(missing_ok=True)


def write_questions(path: str | os.PathLike, questions: Iterable[Question]) -> None:
    """Write questions in the format the suffix names (`.jsonl` one a line, otherwise a JSON list), atomically."""
    path = Path(path)
    records = [q.to_record() for q in questions]
    if path.suffix == ".jsonl":
        write_text_atomic(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    else:
        write_json_atomic(path, records)


def read_jsonl_ids(path: str | os.PathLike, key: str = "id") -> list[str]:
    """Ids of the complete records of a JSONL file (a torn last line from a killed writer is ignored)."""
    return [str(r[key]) for r in read_jsonl(path) if key in r]


def read_jsonl(path: str | os.PathLike, *, skip_damaged: bool = False) -> list[dict[str, Any]]:
    """Complete records of a JSONL file; a torn last line (no newline, from a killed writer) is dropped. A damaged
    line elsewhere is a one-line error naming file and line, or, with `skip_damaged` (a cache, whose entries are
    made again when missing), skipped with a warning."""
    path = Path(path)
    if not path.exists():
        return []
    records = []
    lines = _read_text(path).split("\n")
    # The last element is "" after a complete file; anything else there is a partial line.
    for lineno, line in enumerate(lines[:-1], start=1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as err:
            message = f"{path}: line {lineno}: malformed JSON ({err.msg}, column {err.colno})"
            if not skip_damaged:
                raise PR2Error(message) from None
            log.warning("%s; skipped (its entry is made again)", message)
    return records


class JsonlWriter:
    """Append-only JSONL writer that resumes: records already in the file (by `key`) are reported as done.

    A torn last line left by a killed run is cut off on open, so the file stays valid JSONL.
    """

    def __init__(self, path: str | os.PathLike, key: str = "id", *, skip_damaged: bool = False) -> None:
        self.path = Path(path)
        self.key = key
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.records = read_jsonl(self.path, skip_damaged=skip_damaged)
        self.done: set[str] = {str(r[key]) for r in self.records if key in r}
        self._truncate_torn_tail()
        self._handle = self.path.open("a", encoding="utf-8")

    def _truncate_torn_tail(self) -> None:
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        cut = data.rfind(b"\n") + 1
        if cut != len(data):
            log.warning("%s: dropping a partial last line left by an interrupted run", self.path)
            with self.path.open("r+b") as handle:
                handle.truncate(cut)

    def write(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, ensure_ascii=False) + "\n"
        write_point(self._handle, line)  # a kill here leaves a torn last line, cut off on the next open
        self._handle.write(line)
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self.records.append(record)
        if self.key in record:
            self.done.add(str(record[self.key]))

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> JsonlWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
