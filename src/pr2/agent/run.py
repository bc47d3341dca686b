"""`pr2 run` / `PR2.py`: run the agent over a dataset; write responses.json, trajectories.jsonl, summary, scores.

Trajectories are appended to DIR/trajectories.jsonl batch by batch, so a crashed run continues where it stopped;
responses.json (the LaMP-QA format the benchmark's evaluator reads) is rewritten atomically after every batch.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from pr2.agent.loop import LoopTimings, run_agent
from pr2.agent.protocol import AgentConfig
from pr2.agent.summary import RunSummary, summarize
from pr2.agent.trajectory import Trajectory
from pr2.data.fingerprint import text_digest
from pr2.data.io import write_json_atomic
from pr2.data.runs import run_into
from pr2.data.schema import Question
from pr2.generation.base import Generator

log = logging.getLogger(__name__)


@dataclass
class RunResult:
    trajectories: list[Trajectory]
    summary: RunSummary
    resumed: int
    timings: LoopTimings


def agent_fingerprint(config: AgentConfig) -> dict:
    """What of the loop changes a trajectory: every setting but the batch size, and the prompt's text."""
    from pr2.agent.protocol import EXAMPLE_EPISODE, EXAMPLE_ONE_SEARCH, EXAMPLE_QUESTION, SYSTEM_PROMPT

    example = EXAMPLE_EPISODE if config.max_searches >= 2 else EXAMPLE_ONE_SEARCH

    settings = {k: v for k, v in asdict(config).items() if k != "batch_size"}
    return {
        "agent": settings,
        "prompt": text_digest(SYSTEM_PROMPT + EXAMPLE_QUESTION + example),
    }


def run_agent_file(
    questions: Sequence[Question],
    output_dir: str | Path,
    generator: Generator,
    config: AgentConfig,
    *,
    retriever=None,
    fingerprint: dict | None = None,
    overwrite: bool = False,
    progress: bool = True,
    desc: str | None = None,
) -> RunResult:
    """`fingerprint`: what the caller knows made the records (model, data; see `data/fingerprint.py`); the loop's
    settings and prompt are added here. None leaves the folder unguarded (library use)."""
    from pr2.retrieval import load_retriever

    retriever = retriever or load_retriever(config.retriever)
    timings = LoopTimings()
    trajectories, resumed = run_into(
        output_dir,
        questions,
        lambda batch: run_agent(batch, generator, config, retriever=retriever, timings=timings),
        records_name="trajectories.jsonl",
        from_record=Trajectory.from_record,
        answer_of=lambda t: t.answer,
        batch_size=config.batch_size,
        fingerprint=None if fingerprint is None else {**fingerprint, **agent_fingerprint(config)},
        overwrite=overwrite,
        progress=progress,
        desc=desc,
    )
    summary = summarize(trajectories)
    write_json_atomic(Path(output_dir) / "summary.json", summary.to_record())
    return RunResult(trajectories, summary, resumed, timings)
