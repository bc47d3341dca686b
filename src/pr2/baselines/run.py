"""`pr2 baseline`: answer a dataset with a baseline into an output folder (resumable, LaMP-QA responses format)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from pr2.baselines.methods import BaselineConfig, BaselineOutput, run_baseline
from pr2.data.fingerprint import text_digest
from pr2.data.runs import run_into
from pr2.data.schema import Question
from pr2.generation.base import Generator


def baseline_fingerprint(config: BaselineConfig) -> dict:
    """What of a baseline changes an answer: every setting but the batch size, and pr2's prompt texts (the
    lamp-qa protocol's come from the benchmark's files, pinned by hash)."""
    from pr2.baselines import methods

    prompts = methods.NONE_SYSTEM + methods.PERSONAL_SYSTEM + methods.PLAN_PROMPT + methods.ANSWER_PROMPT
    settings = {k: v for k, v in asdict(config).items() if k != "batch_size"}
    return {"baseline": settings, "prompt": text_digest(prompts)}


def run_baseline_file(
    questions: Sequence[Question],
    output_dir: str | Path,
    generator: Generator,
    config: BaselineConfig,
    *,
    retriever=None,
    planner: Generator | None = None,
    fingerprint: dict | None = None,
    overwrite: bool = False,
    progress: bool = True,
    desc: str | None = None,
) -> tuple[list[BaselineOutput], int]:
    """Answers in DIR/responses.json and DIR/outputs.jsonl; returns (outputs in dataset order, resumed count).
    `fingerprint` (model, data) guards the folder with the method's settings and prompts added."""
    needs_retriever = config.method != "none" and config.retriever != "ranked" and config.protocol != "lamp-qa"
    if retriever is None and needs_retriever:
        from pr2.retrieval import load_retriever

        retriever = load_retriever(config.retriever)  # once here, not once per batch in run_baseline
    return run_into(
        output_dir,
        questions,
        lambda batch: run_baseline(batch, generator, config, retriever=retriever, planner=planner),
        records_name="outputs.jsonl",
        from_record=BaselineOutput.from_record,
        answer_of=lambda o: o.answer,
        entries_of=BaselineOutput.responses_entries,
        batch_size=config.batch_size,
        fingerprint=None if fingerprint is None else {**fingerprint, **baseline_fingerprint(config)},
        overwrite=overwrite,
        progress=progress,
        desc=desc,
    )
