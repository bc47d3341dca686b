"""Judge prompts: our own text (prompt.txt) or any user file with the same placeholders."""

from __future__ import annotations

import string
from importlib import resources
from pathlib import Path

from pr2.errors import PR2Error

PLACEHOLDERS = ("question", "details", "response", "aspect", "reason", "evidence")

GENERATE_SUFFIX = (
    '\n\nAnswer with a JSON object and nothing else: {{"rationale": "<one sentence>", "score": <0, 1 or 2>}}'
)
LOGPROB_SUFFIX = "\n\nAnswer with the score alone, a single digit: 0, 1 or 2."


def load_template(path: str | None = None) -> str:
    if path is None:
        return resources.files("pr2.judge").joinpath("prompt.txt").read_text(encoding="utf-8")
    file = Path(path)
    if not file.exists():
        raise PR2Error(f"judge prompt file {path} does not exist")
    text = file.read_text(encoding="utf-8")
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(text) if name}
    except ValueError as err:
        raise PR2Error(
            f"judge prompt file {path}: bad placeholder syntax ({err}); write literal braces as {{{{ }}}}"
        ) from None
    unknown = names - set(PLACEHOLDERS)
    if unknown:
        raise PR2Error(
            f"judge prompt file {path}: unknown placeholder(s) {sorted(unknown)}; use {', '.join(PLACEHOLDERS)}"
        )
    missing = {"response", "aspect"} - names
    if missing:
        raise PR2Error(f"judge prompt file {path}: missing placeholder(s) {sorted(missing)}")
    return text


def render(template: str, suffix: str, **fields: str) -> str:
    return (template + suffix).format(**fields)
