"""The training package's modules each have one job and depend one way: no module of `pr2.train` imports a module
that imports it back (directly or through others, at module level or inside a function), and `pr2.train` reaches
no layer above it (the CLI, reports, the service, the demo)."""

import ast
from pathlib import Path

import pr2.train

PACKAGE = Path(pr2.train.__file__).parent
ABOVE = ("pr2.cli", "pr2.report", "pr2.serve", "pr2.demo", "pr2.heldout")


def imports_of(path: Path) -> set[str]:
    """Every pr2 module a file imports, wherever the import statement stands."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("pr2"):
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)  # `from pr2.train import trainer`
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("pr2"))
    return out


def graph() -> dict[str, set[str]]:
    modules = {f"pr2.train.{p.stem}": p for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    return {name: {m for m in imports_of(path) if m in modules and m != name} for name, path in modules.items()}


def cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import cycle, as the modules along it, or None."""
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt] if nxt in path else [*path, nxt]
            if nxt not in state and (found := visit(nxt, [*path, nxt])):
                return found
        state[node] = 2
        return None

    for start in sorted(edges):
        if start not in state and (found := visit(start, [start])):
            return found
    return None


def test_no_module_of_pr2_train_imports_one_that_imports_it_back():
    edges = graph()
    assert {"pr2.train.trainer", "pr2.train.warm_start", "pr2.train.policy"} <= set(edges)
    assert cycle(edges) is None, " -> ".join(cycle(edges))


def test_the_check_finds_a_cycle_through_a_function_level_import():
    assert cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert cycle({"a": {"b"}, "b": set()}) is None
    tree = imports_of(PACKAGE / "trainer.py")  # its warm start import stands inside `train`
    assert "pr2.train.warm_start" in tree


def test_pr2_train_reaches_no_layer_above_it():
    for path in PACKAGE.glob("*.py"):
        above = sorted(m for m in imports_of(path) if m.startswith(ABOVE))
        assert above == [], f"{path.name} imports {above}"
