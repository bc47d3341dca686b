"""Evaluate a responses file against a dataset with a judge and write the scores file (atomically).

The scores file records the judge (model, mode, protocol) and hashes of the two files it judged. What resumes is
the judge's cache, keyed by the exact judge input with the judge's model, mode and protocol, so a resumed
evaluation can reuse only judgements of the same text by the same judge.
"""

from __future__ import annotations

from pathlib import Path

from pr2.data.fingerprint import file_digest
from pr2.data.io import load_questions, write_json_atomic
from pr2.judge.judge import Judge
from pr2.judge.responses import load_responses
from pr2.judge.scoring import ScoreReport, score_questions


def evaluate_file(
    dataset: str | Path,
    responses_path: str | Path,
    score_addr: str | Path,
    judge: Judge,
    *,
    allow_missing: bool = False,
) -> ScoreReport:
    questions = load_questions(dataset)
    responses = load_responses(responses_path, [q.id for q in questions], allow_missing=allow_missing)
    report = score_questions(questions, responses, judge)
    record = report.to_record()
    record["inputs"] = {"dataset": file_digest(dataset), "responses": file_digest(responses_path)}
    write_json_atomic(score_addr, record)
    return report


def score_and_write(questions, answers: dict[str, str], score_addr: str | Path, judge: Judge) -> ScoreReport:
    """Score answers already in memory (pr2 run --judge-model, the demo) and write the scores file."""
    report = score_questions(questions, answers, judge)
    write_json_atomic(score_addr, report.to_record())
    return report


def summary_lines(report: ScoreReport) -> list[str]:
    lines = [f"{c}: {v:.4f}" for c, v in report.per_category.items()]
    if report.macro is not None:
        lines.append(f"macro average (Avg): {report.macro:.4f}   micro average: {report.micro:.4f}")
    s = report.stats
    lines.append(
        f"pairs judged: {s.get('pairs', 0)} (cached {s.get('cached', 0)}, needed retries "
        f"{s.get('retried', 0)}, fell to 0 {s.get('failed', 0)})"
    )
    if report.judge.get("note"):
        lines.append(report.judge["note"])
    return lines
