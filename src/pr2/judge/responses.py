"""The LaMP-QA responses file: {question_id: [{"output": text}, ...]} (the first output is judged)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from pr2.errors import PR2Error


def load_responses(path: str | Path, question_ids: Sequence[str], *, allow_missing: bool = False) -> dict[str, str]:
    path = Path(path)
    if not path.exists():
        raise PR2Error(f"{path}: file not found")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise PR2Error(f"{path}: malformed JSON ({err.msg} at line {err.lineno}, column {err.colno})") from None
    if not isinstance(data, dict):
        raise PR2Error(
            f'{path}: must be a JSON object {{"question_id": [{{"output": "..."}}]}}, got {type(data).__name__}'
        )
    known = set(question_ids)
    unknown = [k for k in data if k not in known]
    if unknown:
        raise PR2Error(f"{path}: id {unknown[0]!r} is not in the dataset ({len(unknown)} unknown id(s))")
    out: dict[str, str] = {}
    for qid in question_ids:
        if qid not in data:
            if allow_missing:
                out[qid] = ""  # scored 0
                continue
            missing = [q for q in question_ids if q not in data]
            raise PR2Error(
                f"{path}: id {qid!r} has no response ({len(missing)} missing; --allow-missing scores them 0)"
            )
        entry = data[qid]
        if not isinstance(entry, list):
            raise PR2Error(f'{path}: id {qid!r}: must be a list of {{"output": text}}, got {type(entry).__name__}')
        if not entry:
            raise PR2Error(f"{path}: id {qid!r}: empty list of outputs")
        first = entry[0]
        if not isinstance(first, dict) or "output" not in first:
            raise PR2Error(f"{path}: id {qid!r}: first entry has no 'output' field")
        if not isinstance(first["output"], str):
            raise PR2Error(f"{path}: id {qid!r}: field 'output' must be a string, got {type(first['output']).__name__}")
        out[qid] = first["output"]
    return out
