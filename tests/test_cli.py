import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from pr2.cli import app
from pr2.data import sample_path
from tests.conftest import make_record

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[1]


def test_help_lists_commands():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("download", "validate"):
        assert command in result.output


def test_validate_prints_summary_per_category_and_split():
    files = sorted(str(p) for p in sample_path().glob("*.json"))
    result = runner.invoke(app, ["validate", *files])
    assert result.exit_code == 0, result.output
    assert "Society_and_Culture" in result.output and "validation" in result.output
    row = next(
        line for line in result.output.splitlines() if line.startswith("Art_and_Entertainment") and " train " in line
    )
    assert row.split()[2] == "3"  # questions in that group


def test_validate_bad_file_is_one_line_error_without_traceback(tmp_path):
    bad = make_record("a")
    bad["profile"][0].pop("text")
    path = tmp_path / "bad.json"
    path.write_text(json.dumps([bad]))
    result = subprocess.run(
        [sys.executable, "-m", "pr2.cli", "validate", str(path)], capture_output=True, text=True, cwd=ROOT
    )
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "Traceback" not in result.stderr
    assert "bad.json: record 0 (id 'a'): field 'profile[0].text' missing" in result.stderr


def test_download_script_keeps_the_paper_command_line(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "download.py",
            "--dataset_save_directory",
            str(tmp_path / "d"),
            "--cache_dir",
            str(tmp_path / "c"),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    # Offline here: the paper's flags are accepted and the Hub failure is one clear line.
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("error: cannot load 'alireza7/LaMP-QA'")
    assert "Traceback" not in result.stderr
