"""Reading a judge's answer: a JSON object with a `score` of 0, 1 or 2, possibly fenced or followed by text."""

from __future__ import annotations

import json
import re

import json5

_FENCE = re.compile(r"```(?:json5?|JSON)?\s*(.*?)```", re.DOTALL)


def _objects(text: str):
    """Candidate `{...}` spans, outermost first, found by brace matching (JSON inside prose or fences)."""
    for match in _FENCE.finditer(text):
        yield match.group(1).strip()
    depth, start = 0, None
    for i, ch in enumerate(text):
        if ch == "{":
            if depth == 0:
                start = i
            depth += 1
        elif ch == "}" and depth:
            depth -= 1
            if depth == 0 and start is not None:
                yield text[start : i + 1]


def parse_score(text: str) -> tuple[int, str] | None:
    """(score, rationale) from a judge's answer, or None when no valid score can be read."""
    for candidate in _objects(text):
        try:
            obj = json.loads(candidate)
        except ValueError:
            try:
                obj = json5.loads(candidate)
            except ValueError:
                continue
        if not isinstance(obj, dict) or "score" not in obj:
            continue
        value = obj["score"]
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value.strip())
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, int) and not isinstance(value, bool) and value in (0, 1, 2):
            return value, str(obj.get("rationale", obj.get("reason", "")))
    return None
