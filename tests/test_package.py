"""What a package carries besides its code: a license that matches its metadata, a citation, a version."""

import tomllib
from pathlib import Path

import yaml
from typer.testing import CliRunner

import pr2
from pr2.cli import app

ROOT = Path(__file__).resolve().parents[1]


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def test_the_license_file_is_the_license_pyproject_declares():
    assert _project()["license"] == {"text": "Apache-2.0"}
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License" in text and "Version 2.0, January 2004" in text and "END OF TERMS AND CONDITIONS" in text


def test_citation_names_the_paper_and_the_benchmark_and_this_version():
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf-8"))
    assert cff["version"] == _project()["version"] and cff["license"] == "Apache-2.0"
    cited = {ident["value"] for ref in cff["references"] for ident in ref["identifiers"]}
    assert cited == {"arXiv:2602.19317", "arXiv:2506.00137"}  # PR² and LaMP-QA


def test_pr2_version_prints_the_installed_version():
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"pr2 {pr2.__version__}" == f"pr2 {_project()['version']}"
