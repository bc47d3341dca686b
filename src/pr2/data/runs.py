"""Resumable runs that answer questions: the loop `pr2 run`, `pr2 baseline` and the demo share.

Records go to a JSONL file in the output folder as each batch finishes (a crashed run skips what is there), and
`responses.json`, the LaMP-QA responses format the benchmark's evaluator reads, is rewritten atomically after
every batch. The folder's `pr2-fingerprint.json` says what made the records, so a run is only ever resumed by
the same settings (`data/fingerprint.py`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path

from tqdm.auto import tqdm

from pr2.data import fingerprint as fp
from pr2.data.io import JsonlWriter, write_json_atomic
from pr2.data.schema import Question

log = logging.getLogger(__name__)

RUN_OUTPUTS = ("responses.json", "summary.json", "scores.json", "judge-cache.jsonl")
"""Files a run folder holds besides its records (what `--overwrite` removes; nothing else in the folder)."""


SOURCE = "pr2-source.json"
"""Which questions file a run folder answered (`pr2 view` shows the questions' text from it)."""


def record_source(output_dir: str | Path, questions_path: str | Path) -> None:
    """Note in the run folder which questions file it answers: its absolute path and the digest it had."""
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    source = {"questions": str(Path(questions_path).resolve()), "data": fp.data_digest(questions_path)}
    write_json_atomic(out / SOURCE, source)


def recorded_questions(run_dir: str | Path) -> Path | None:
    """The questions file a run folder answered, when it is still where it was and unchanged; else None (with a
    warning when it moved or changed: its text would not be what the run answered)."""
    path = Path(run_dir) / SOURCE
    if not path.is_file():
        return None
    try:
        source = json.loads(path.read_text(encoding="utf-8"))
        questions = Path(source["questions"])
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError):
        log.warning("%s: unreadable; pass the questions file with --questions", path)
        return None
    if not questions.is_file():
        log.warning("%s: the questions file %s is gone; pass it with --questions", path, questions)
        return None
    if fp.data_digest(questions) != source.get("data"):
        log.warning("%s: %s changed since the run; pass the file it answered with --questions", path, questions)
        return None
    return questions


def write_responses(path: Path, questions: Sequence[Question], answers: dict[str, list[dict]]) -> None:
    """The LaMP-QA responses format ({id: [{"output": ...}, ...]}), in dataset order, for questions answered so far."""
    write_json_atomic(path, {q.id: answers[q.id] for q in questions if q.id in answers})


def unfinished_batches(items: Sequence, key: Callable, done, batch_size: int):
    """The fixed batches of `items` (by position, as an uninterrupted run cuts them) that still lack a record in
    `done`. A batch cut short by a kill is made whole again, its finished records dropped by the caller: a record
    depends on its batch (padding, the sampling stream), so it is only ever made in the batch it would have been
    made in without the kill, and the resumed output equals the uninterrupted one."""
    for start in range(0, len(items), max(1, batch_size)):
        batch = items[start : start + batch_size]
        if any(key(item) not in done for item in batch):
            yield batch


def run_into(
    output_dir: str | Path,
    questions: Sequence[Question],
    produce: Callable,
    *,
    records_name: str,
    from_record: Callable[[dict], object],
    answer_of: Callable[[object], str],
    batch_size: int,
    entries_of: Callable[[object], list[dict]] | None = None,
    fingerprint: dict | None = None,
    overwrite: bool = False,
    progress: bool = True,
    desc: str | None = None,
) -> tuple[list, int]:
    """The resumable loop every method shares: skip ids already in DIR/records_name, produce the rest batch by
    batch, append them, rewrite DIR/responses.json (each id's `entries_of(record)`, by default its answer alone).
    `fingerprint` (what makes the records) guards the folder; `overwrite` starts it over.
    Returns (records of all questions in order, resumed count)."""
    entries_of = entries_of or (lambda record: [{"output": answer_of(record)}])
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    if fingerprint is not None or overwrite:
        outputs = [out / records_name, *(out / name for name in RUN_OUTPUTS)]
        fp.claim(out / fp.NAME, fingerprint or {}, outputs, overwrite=overwrite)
    with JsonlWriter(out / records_name) as writer:
        done = {str(r["id"]): from_record(r) for r in writer.records}
        resumed = sum(q.id in done for q in questions)
        if resumed:
            log.info("resuming: %d of %d questions already in %s", resumed, len(questions), out / records_name)
        answers = {qid: entries_of(r) for qid, r in done.items()}
        bar = tqdm(total=len(questions), initial=resumed, unit="q", disable=not progress, desc=desc or records_name)
        for batch in unfinished_batches(questions, lambda q: q.id, done, batch_size):
            for record in produce(batch):
                row = record.to_record()  # a trajectory's record copies every token id: build it once
                if row["id"] in done:  # made again only so that its batch is the uninterrupted run's
                    continue
                writer.write(row)
                done[row["id"]] = record
                answers[row["id"]] = entries_of(record)
                bar.update(1)
            write_responses(out / "responses.json", questions, answers)
        bar.close()
    write_responses(out / "responses.json", questions, answers)
    return [done[q.id] for q in questions], resumed
