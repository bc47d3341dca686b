"""The LaMP-QA benchmark's own code, read at run time where pr2 must match it exactly (its judge and baselines).

Never copied into pr2 and never imported (it imports vLLM): a file comes from a checkout (`--lamp-qa-repo PATH` or
$LAMP_QA_REPO) or, once, from a download at the pinned commit into pr2's cache, checked against its sha256; its
string constants are read with `ast`.
"""

from __future__ import annotations

import ast
import hashlib
import os
import urllib.request
from pathlib import Path

from pr2.errors import PR2Error

REPO = "LaMP-Benchmark/LaMP-QA"
COMMIT = "504410d02e6f2d88312cbefdfec2c5adf31aa821"
# The sampling of the benchmark's judge and the defaults of its baselines.
TOP_P = 0.95
MAX_TOKENS = 4096
FILES = {  # sha256 of each file at COMMIT
    "evaluation/evaluator.py": "963261b0295051281b370ecee5db4dfe8a8e24eda03b4855f22f24d9e421629f",
    "data/formetters.py": "3cd6b32e1ecc7f7ac8caf64332e8369c409a4b5c843ac028b005af94cc850e91",
}


def _cache_root() -> Path:
    from pr2.generation.models import cache_dir

    return cache_dir() / "lamp-qa" / COMMIT


def benchmark_file(relative: str, repo: str | None = None) -> Path:
    """The benchmark's file: from a checkout when one is given (or $LAMP_QA_REPO), else the pinned, hash-checked
    copy in pr2's cache (downloaded once)."""
    repo = repo or os.environ.get("LAMP_QA_REPO")
    if repo:
        path = Path(repo).expanduser() / relative
        if not path.exists():
            raise PR2Error(f"--lamp-qa-repo {repo}: {relative} not found (a checkout of github.com/{REPO})")
        return path
    expected = FILES[relative]
    path = _cache_root() / relative
    if path.exists() and hashlib.sha256(path.read_bytes()).hexdigest() == expected:
        return path
    url = f"https://raw.githubusercontent.com/{REPO}/{COMMIT}/{relative}"
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            data = response.read()
    except OSError as err:
        raise PR2Error(
            f"the lamp-qa protocol reads the benchmark's {relative}, which is not here and could not be downloaded "
            f"({err}); pass --lamp-qa-repo PATH (or set LAMP_QA_REPO) to a checkout of github.com/{REPO} at {COMMIT[:8]}"
        ) from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != expected:
        raise PR2Error(f"downloaded {relative} has sha256 {digest}, not the pinned {expected}: refusing to use it")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    return path


def module_strings(path: Path, names: tuple[str, ...]) -> dict[str, str]:
    """The string constants `names` assigned at the top level of a Python file, read without running it."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except SyntaxError as err:
        raise PR2Error(f"{path}: not readable as Python ({err.msg}, line {err.lineno})") from None
    found: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            for target in node.targets:
                if isinstance(target, ast.Name) and target.id in names:
                    found[target.id] = node.value.value
    missing = [n for n in names if n not in found]
    if missing:
        raise PR2Error(f"{path}: no string constant {', '.join(missing)} (is this the benchmark's file?)")
    return found
