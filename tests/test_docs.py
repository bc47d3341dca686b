"""The documentation a newcomer follows is checked against the code: every `pr2` command shown in a shell block of
README.md or docs/ exists and takes each flag shown, every script shown takes its flags, every repository path named
exists, the README's results table is the shipped files', the command reference is what the CLI says, the site
builds with `mkdocs build --strict`, and no page speaks in the words of our own work rounds."""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import typer
from typer.testing import CliRunner

from pr2.cli import app
from pr2.demo import results_table

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]
CURRENT = [p for p in PAGES if "experiments" not in p.parts]
"""The pages that describe the code as it is; dated experiment logs name scripts of their own commit."""
WRAPPERS = {
    "download.py": ["download"],
    "retrieval.py": ["rank"],
    "PR2.py": ["run"],
    "evaluate_responses.py": ["evaluate"],
}
"""The paper's and the benchmark's command lines: each script is a `pr2` command."""
runner = CliRunner()


def shell_blocks(text: str) -> list[str]:
    return re.findall(r"```(?:bash|sh|shell|console)\n(.*?)```", text, flags=re.S)


def commands(block: str) -> list[list[str]]:
    """Each command of a shell block as its words: continuations joined, comments dropped, split at && ; |."""
    joined = re.sub(r"\\\n\s*", " ", block)
    out = []
    for line in joined.splitlines():
        try:
            words = shlex.split(line, comments=True)
        except ValueError:  # an unbalanced quote in prose-like output: not a command
            continue
        current: list[str] = []
        for word in [*words, ";"]:
            if word in ("&&", ";", "|", "||") or word.endswith(";"):
                if word.endswith(";") and word != ";":
                    current.append(word[:-1])
                if current:
                    out.append(current)
                current = []
            else:
                current.append(word)
    return out


def pr2_invocation(words: list[str]) -> tuple[list[str], list[str]] | None:
    """(the `pr2` command path, the words after it) for `pr2 ...`, `python -m pr2.cli ...` (under torchrun or
    accelerate launch too) and the root scripts that wrap a pr2 command; None for anything else."""
    if words and words[0] == "pr2":
        return _command_path(words[1:])
    if "-m" in words and words.index("-m") + 1 < len(words) and words[words.index("-m") + 1] == "pr2.cli":
        return _command_path(words[words.index("-m") + 2 :])
    if len(words) >= 2 and words[0] == "python" and words[1] in WRAPPERS:
        return WRAPPERS[words[1]], words[2:]
    return None


def _command_path(rest: list[str]) -> tuple[list[str], list[str]]:
    group = typer.main.get_command(app)
    path = []
    while rest and hasattr(group, "commands") and not rest[0].startswith("-"):
        if rest[0] not in group.commands:
            return [*path, rest[0]], rest[1:]  # reported as unknown below
        path.append(rest[0])
        group = group.commands[rest[0]]
        rest = rest[1:]
    return path, rest


def flags_of(words: list[str]) -> list[str]:
    return [w.split("=", 1)[0] for w in words if w.startswith("--") and len(w) > 2]


def command_problems(pages: list[Path]) -> list[str]:
    """What a reader copying the shell blocks would hit: unknown pr2 commands, flags a command does not take."""
    problems = []
    root = typer.main.get_command(app)
    for page in pages:
        for block in shell_blocks(page.read_text(encoding="utf-8")):
            for words in commands(block):
                found = pr2_invocation(words)
                if found is None:
                    continue
                path, rest = found
                command = root
                for name in path:
                    if not hasattr(command, "commands") or name not in command.commands:
                        problems.append(f"{page.name}: `pr2 {' '.join(path)}`: no such command")
                        break
                    command = command.commands[name]
                else:
                    known = {o for p in command.params for o in (*p.opts, *p.secondary_opts)} | {"--help"}
                    for flag in flags_of(rest):
                        if flag not in known:
                            problems.append(f"{page.name}: `pr2 {' '.join(path)}` has no option {flag}")
    return problems


def test_every_pr2_command_and_flag_shown_exists():
    assert command_problems(PAGES) == []


def test_every_pr2_command_shown_answers_help():
    shown = set()
    for page in PAGES:
        for block in shell_blocks(page.read_text(encoding="utf-8")):
            for words in commands(block):
                found = pr2_invocation(words)
                if found:
                    shown.add(tuple(found[0]))
    assert {("run",), ("train",), ("serve",), ("demo",), ("heldout",)} <= shown
    for path in sorted(shown):
        result = runner.invoke(app, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)


def test_a_renamed_flag_is_caught(tmp_path):
    """The check above fails when a page shows a flag the command does not take (as after a rename)."""
    page = tmp_path / "page.md"
    page.write_text(
        "```bash\npr2 run --questions_address q.jsonl --output_address out \\\n    --max-tokens-per-turn 48\n"
        "python PR2.py --questions-address q.jsonl --judge_model x && pr2 keys create --db x.db --user ana\n"
        "pr2 nosuch --flag\n```\n",
        encoding="utf-8",
    )
    assert command_problems([page]) == [
        "page.md: `pr2 run` has no option --max-tokens-per-turn",
        "page.md: `pr2 nosuch`: no such command",
    ]


def _script_flags_ok(script: Path, flags: list[str]) -> list[str]:
    source = script.read_text(encoding="utf-8")
    return [f for f in flags if f"{f!r}"[1:-1] not in source and f'"{f}"' not in source and f"'{f}'" not in source]


def test_every_script_shown_exists_and_takes_its_flags():
    problems = []
    for page in CURRENT:
        for block in shell_blocks(page.read_text(encoding="utf-8")):
            for words in commands(block):
                if len(words) < 2 or words[0] != "python" or words[1] in WRAPPERS or words[1] == "-m":
                    continue
                script = ROOT / words[1]
                if not script.is_file():
                    problems.append(f"{page.name}: {words[1]} does not exist")
                    continue
                missing = _script_flags_ok(script, flags_of(words[2:]))
                problems += [f"{page.name}: {words[1]} has no option {flag}" for flag in missing]
    assert problems == []


PATH = re.compile(r"(?<![\w/.-])((?:src|scripts|configs|benchmarks|tests|docs|\.ci)/[\w./*-]*[\w*])")


def test_every_repository_path_named_exists():
    missing = []
    for page in CURRENT:
        text = page.read_text(encoding="utf-8")
        for match in PATH.finditer(text):
            name = match.group(1).split("::")[0]
            if "..." in name or "…" in name:
                continue
            if not list(ROOT.glob(name)) and not (page.parent / name).exists():
                missing.append(f"{page.relative_to(ROOT)}: {name}")
    for name in ("LICENSE", "CITATION.cff", "mkdocs.yml"):
        assert (ROOT / name).is_file(), name
    assert missing == []


def test_the_readme_results_table_is_the_shipped_files():
    """The table is built from src/pr2/assets/laptop/heldout.json (the demo's rows and the ablations), whose
    per-question scores tests/test_demo.py recomputes; README and docs/laptop.md show it unchanged."""
    table = results_table()
    assert "warm start alone" in table and "stage 2" in table and "PR² trained" in table
    for page in (ROOT / "README.md", DOCS / "laptop.md"):
        assert table in page.read_text(encoding="utf-8"), page


def test_the_readme_is_a_front_page():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 210


def test_the_command_reference_is_what_the_cli_says():
    spec = importlib.util.spec_from_file_location("cli_reference", ROOT / "scripts" / "cli_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.PAGE.read_text(encoding="utf-8") == module.reference(), "run: python scripts/cli_reference.py"


# Our own work's words, which mean nothing to a reader: assembled here so that this file does not hold them.
INTERNAL = [w.replace("_", " ") for w in ("last_round", "this_round", "next_round", "Count_1", "Count_2", "Item_3")]
INTERNAL += ["goal " + "count", "this " + "session"]


def test_no_text_speaks_in_our_internal_words():
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    found = []
    for name in files:
        path = ROOT / name
        if path.suffix not in {".md", ".py", ".yaml", ".yml", ".txt", ".toml", ".cff", ""} or not path.is_file():
            continue
        text = path.read_text(encoding="utf-8", errors="replace").lower()
        found += [f"{name}: {word!r}" for word in INTERNAL if word.lower() in text]
    assert found == []


def test_figures_name_their_machine_not_this_one():
    """A figure read on another machine says which (cores, CPU flags): none says "this CPU"."""
    found = [
        f"{p.relative_to(ROOT)}: {w!r}"
        for p in [*PAGES, ROOT / "benchmarks" / "RESULTS.md"]
        for w in ("this " + "CPU", "this 2-core " + "CPU", "this " + "machine")
        if w.lower() in p.read_text(encoding="utf-8").lower()
    ]
    assert found == []


def test_the_site_builds_strictly(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "site" / "laptop" / "index.html").is_file()


def test_the_serving_api_reference_names_every_route_the_app_serves(tmp_path):
    from pr2.serve.app import create_app
    from pr2.serve.store import Store

    app = create_app(Store(f"sqlite:///{tmp_path / 'pr2.db'}"), None)
    served = {
        f"{method} {route.path}"
        for route in app.routes
        if getattr(route, "include_in_schema", False) or route.path in ("/healthz", "/metrics")
        for method in getattr(route, "methods", ()) - {"HEAD", "OPTIONS"}
    }
    page = (DOCS / "serving.md").read_text(encoding="utf-8")
    table = page[page.index("## API reference") :]
    documented = set(re.findall(r"^\| `(GET|POST|PUT|PATCH|DELETE) ([^`]+)` \|", table, flags=re.M))
    assert {f"{m} {p}" for m, p in documented} == served
