"""What made an output: a fingerprint saved beside it, so that resuming never mixes records of two different runs.

A stage that resumes (rank, run, baseline, train) writes `pr2-fingerprint.json` next to its outputs the first time:
the model and adapter, back end, sampling, retriever, protocol, prompt and a hash of the input data. Re-run with
the same settings, it resumes; with any difference, it stops with one line naming the first difference; with
`--overwrite`, it removes its own outputs (only those it names) and starts over. Settings that do not change a
record (batch size, concurrency, progress bars, how many questions) are left out on purpose: a run may be
resumed with a larger `--limit` or on a bigger batch.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pr2.data.io import write_json_atomic
from pr2.errors import PR2Error
from pr2.secrets import redact_value

log = logging.getLogger(__name__)

NAME = "pr2-fingerprint.json"


def file_digest(path: str | Path) -> str:
    """sha256 of a file's bytes (the input data a run reads)."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return "sha256:" + digest.hexdigest()


def folder_digest(path: str | Path) -> str:
    """sha256 over the names and bytes of a folder's files (a LoRA adapter: a few MB)."""
    root = Path(path)
    digest = hashlib.sha256()
    for file in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(str(file.relative_to(root)).encode() + b"\0")
        digest.update(file_digest(file).encode())
    return "sha256:" + digest.hexdigest()


def text_digest(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def data_digest(path: str | Path | None) -> str:
    """The input data's hash (None: the bundled sample's files)."""
    if path is not None:
        return file_digest(path)
    from pr2.data.sample import sample_files

    return text_digest("".join(file_digest(p) for p in sample_files()))


def model_identity(model: str, backend: str | None = None, base_url: str | None = None, adapter=None) -> dict:
    """Which model answered: its name, back end, server and adapter (with a hash of the adapter's files)."""
    out: dict[str, Any] = {"model": model}
    if backend is not None:
        out["backend"] = backend
    if base_url:
        out["base_url"] = base_url
    if adapter:
        out["adapter"] = str(adapter)
        if Path(adapter).is_dir():
            out["adapter_digest"] = folder_digest(adapter)
    return out


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key in value:
            out.update(_flatten(value[key], f"{prefix}{key}."))
        return out
    return {prefix.rstrip("."): value}


def first_difference(old: dict, new: dict) -> str | None:
    """The first key (dotted) whose value differs, as `key: old -> new`; None when equal."""
    a, b = _flatten(old), _flatten(new)
    for key in list(b) + [k for k in a if k not in b]:
        if a.get(key, "<absent>") != b.get(key, "<absent>"):
            return f"{key}: {a.get(key, '<absent>')!r} before, {b.get(key, '<absent>')!r} now"
    return None


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def claim(
    fingerprint_path: str | Path, fingerprint: dict, outputs: Iterable[str | Path], *, overwrite: bool = False
) -> bool:
    """Make `fingerprint_path` guard `outputs` for this run. Returns True when earlier outputs are resumed.

    - `overwrite`: remove `outputs` and the old fingerprint, then start over.
    - none of `outputs` there: start (a fingerprint left by a finished run is replaced).
    - a saved fingerprint equal to this one: resume.
    - a different one: a one-line error naming the first difference.
    - no fingerprint but some outputs there (another tool, or a pr2 before fingerprints): a one-line error, as
      nothing says they were made the same way.
    """
    path = Path(fingerprint_path)
    fingerprint = json.loads(json.dumps(redact_value(fingerprint), ensure_ascii=False))  # as it reads back
    outputs = [Path(p) for p in outputs]
    if overwrite:
        for output in outputs:
            _remove(output)
        path.unlink(missing_ok=True)
    existing = [p for p in outputs if p.exists()]
    if path.exists() and existing:
        try:
            saved = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise PR2Error(f"{path}: damaged fingerprint ({err}); pass --overwrite to start over") from None
        difference = first_difference(saved, fingerprint)
        if difference:
            raise PR2Error(
                f"{path.parent}: made by a different run ({difference}); resume with the same settings, "
                "write elsewhere, or pass --overwrite to start over"
            )
        return bool(existing)
    if existing:
        raise PR2Error(
            f"{existing[0]}: already there, with no {NAME} to say what made it; "
            "write elsewhere or pass --overwrite to start over"
        )
    write_json_atomic(path, fingerprint)
    return False
