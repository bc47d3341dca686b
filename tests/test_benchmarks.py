"""Every benchmark script still imports: they share helpers (agent_speed's recording and floor), and a helper renamed
in one broke another unnoticed until it was run."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.mark.parametrize("script", sorted(p.stem for p in BENCHMARKS.glob("*.py")))
def test_the_benchmark_imports_and_documents_its_command(script, monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    module = importlib.import_module(script)
    assert callable(getattr(module, "main", None)), f"benchmarks/{script}.py has no main()"
    assert f"python benchmarks/{script}.py" in (module.__doc__ or ""), (
        f"benchmarks/{script}.py: its docstring names no command"
    )
    sys.modules.pop(script, None)
