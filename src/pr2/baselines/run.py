"""`pr2 baseline`: answer a dataset with a baseline into an output folder (resumable, LaMP-QA responses format)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pr2.baselines.methods import BaselineConfig, BaselineOutput, run_baseline
from pr2.data.runs import run_into
from pr2.data.schema import Question
from pr2.generation.base import Generator


def run_baseline_file(
    questions: Sequence[Question],
    output_dir: str | Path,
    generator: Generator,
    config: BaselineConfig,
    *,
    retriever=None,
    planner: Generator | None = None,
    progress: bool = True,
) -> tuple[list[BaselineOutput], int]:
    """Answers in DIR/responses.json and DIR/outputs.jsonl; returns (outputs in dataset order, resumed count)."""
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
        progress=progress,
    )
