"""Resumable runs that answer questions: the loop `pr2 run`, `pr2 baseline` and the demo share.

Records go to a JSONL file in the output folder as each batch finishes (a crashed run skips what is there), and
`responses.json`, the LaMP-QA responses format the benchmark's evaluator reads, is rewritten atomically after
every batch.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path

from tqdm.auto import tqdm

from pr2.data.io import JsonlWriter, write_json_atomic
from pr2.data.schema import Question

log = logging.getLogger(__name__)


def write_responses(path: Path, questions: Sequence[Question], answers: dict[str, list[dict]]) -> None:
    """The LaMP-QA responses format ({id: [{"output": ...}, ...]}), in dataset order, for questions answered so far."""
    write_json_atomic(path, {q.id: answers[q.id] for q in questions if q.id in answers})


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
    progress: bool = True,
) -> tuple[list, int]:
    """The resumable loop every method shares: skip ids already in DIR/records_name, produce the rest batch by
    batch, append them, rewrite DIR/responses.json (each id's `entries_of(record)`, by default its answer alone).
    Returns (records of all questions in order, resumed count)."""
    entries_of = entries_of or (lambda record: [{"output": answer_of(record)}])
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    with JsonlWriter(out / records_name) as writer:
        done = {str(r["id"]): from_record(r) for r in writer.records}
        resumed = sum(q.id in done for q in questions)
        if resumed:
            log.info("resuming: %d of %d questions already in %s", resumed, len(questions), out / records_name)
        todo = [q for q in questions if q.id not in done]
        answers = {qid: entries_of(r) for qid, r in done.items()}
        bar = tqdm(total=len(questions), initial=resumed, unit="q", disable=not progress, desc=records_name)
        for start in range(0, len(todo), batch_size):
            for record in produce(todo[start : start + batch_size]):
                row = record.to_record()  # a trajectory's record copies every token id: build it once
                writer.write(row)
                done[row["id"]] = record
                answers[row["id"]] = entries_of(record)
            write_responses(out / "responses.json", questions, answers)
            bar.update(min(batch_size, len(todo) - start))
        bar.close()
    write_responses(out / "responses.json", questions, answers)
    return [done[q.id] for q in questions], resumed
