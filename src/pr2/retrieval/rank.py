"""Whole-profile ranking of a dataset (`pr2 rank`, `retrieval.py`): each profile sorted by relevance to its question.

Each item keeps its own id and text (the benchmark's script pairs sorted texts with unsorted ids). Progress goes
to `OUT.partial.jsonl` as questions finish, so a killed run resumes (only with the same retriever and input:
`OUT.fingerprint.json`); the output is written atomically at the end.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from pr2.data import fingerprint as fp
from pr2.data.io import JsonlWriter, load_questions, write_questions
from pr2.data.runs import unfinished_batches
from pr2.data.schema import Question, question_from_record
from pr2.retrieval.base import Retriever, rank_order

log = logging.getLogger(__name__)


RANKED_BY = "profile_ranked_by"
"""Extra record field `pr2 rank` writes: the retriever that ordered the profile (a candidate pool trusts it)."""


def is_ranked(question: Question) -> bool:
    return bool(question.extra.get(RANKED_BY))


def rank_questions(questions: Sequence[Question], retriever: Retriever, chunk_size: int = 64) -> Iterator[Question]:
    """Yield each question with its profile sorted by relevance to the question, `chunk_size` questions at a time."""
    for start in range(0, len(questions), chunk_size):
        chunk = questions[start : start + chunk_size]
        scores = retriever.score_many([q.question for q in chunk], [[p.text for p in q.profile] for q in chunk])
        for q, s in zip(chunk, scores, strict=True):
            ranked = q.with_profile([q.profile[i] for i in rank_order(s)])
            ranked.extra[RANKED_BY] = retriever.name
            yield ranked


@dataclass
class RankSummary:
    questions: int
    resumed: int
    documents: int
    seconds: float


def rank_file(
    input_path: str | Path,
    output_path: str | Path,
    retriever: Retriever,
    *,
    chunk_size: int = 64,
    identity: dict | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> RankSummary:
    """`identity`: what else decides the order besides the retriever's name (its dtype, ...), for the fingerprint."""
    output_path = Path(output_path)
    questions = load_questions(input_path)
    partial = output_path.with_name(output_path.name + ".partial.jsonl")
    fingerprint = {"retriever": retriever.name, **(identity or {}), "data": fp.file_digest(input_path)}
    fp.claim(output_path.with_name(output_path.name + ".fingerprint.json"), fingerprint, [partial], overwrite=overwrite)
    started = time.perf_counter()
    with JsonlWriter(partial) as writer:
        resumed = len(writer.done)
        if resumed:
            log.info("resuming: %d of %d questions already ranked in %s", resumed, len(questions), partial)
        docs = 0
        bar = tqdm(total=len(questions), initial=resumed, unit="q", disable=not progress, desc="ranking")
        chunks = unfinished_batches(questions, lambda q: q.id, writer.done, chunk_size)
        for q in (q for chunk in chunks for q in rank_questions(chunk, retriever, chunk_size)):
            if q.id in writer.done:  # ranked again only so that its chunk is the uninterrupted run's
                continue
            writer.write(q.to_record())
            docs += len(q.profile)
            bar.update(1)
            bar.set_postfix(docs_per_s=f"{docs / max(time.perf_counter() - started, 1e-9):.0f}")
        bar.close()
        ranked = {str(r["id"]): r for r in writer.records}
    # Re-validate the ranked records against the input order and categories, then write the output in one go.
    final = []
    for i, q in enumerate(questions):
        r = question_from_record(ranked[q.id], str(partial), i, category=q.category, split=q.split)
        r._written_keys = q._written_keys
        final.append(r)
    write_questions(output_path, final)
    partial.unlink()
    return RankSummary(len(questions), resumed, docs, time.perf_counter() - started)
