import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pr2.cli import app
from pr2.data import sample_path
from pr2.errors import PR2Error
from pr2.judge.report import write_report
from pr2.judge.responses import load_responses

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[2]
IDS = ["a", "b"]


def write(tmp_path, data, name="r.json"):
    path = tmp_path / name
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return path


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"a": [{"output": "x"}]}, r"id 'b' has no response \(1 missing; --allow-missing"),
        ({"a": [{"output": "x"}], "b": [{"output": "y"}], "z": [{"output": "?"}]}, r"id 'z' is not in the dataset"),
        ({"a": [], "b": [{"output": "y"}]}, r"id 'a': empty list of outputs"),
        ({"a": [{"text": "x"}], "b": [{"output": "y"}]}, r"id 'a': first entry has no 'output' field"),
        ({"a": "x", "b": [{"output": "y"}]}, r"id 'a': must be a list"),
        ({"a": [{"output": 3}], "b": [{"output": "y"}]}, r"id 'a': field 'output' must be a string"),
        ([["x"]], r"must be a JSON object"),
        ("{oops", r"malformed JSON"),
    ],
)
def test_every_response_file_error_is_one_line_naming_the_id(tmp_path, data, message):
    with pytest.raises(PR2Error, match=message) as info:
        load_responses(write(tmp_path, data), IDS)
    assert "\n" not in str(info.value)


def test_documented_format_loads_and_allow_missing_scores_zero(tmp_path):
    assert load_responses(write(tmp_path, {"b": [{"output": "y"}, {"output": "z"}], "a": [{"output": "x"}]}), IDS) == {
        "a": "x",
        "b": "y",
    }
    assert load_responses(write(tmp_path, {"a": [{"output": "x"}]}), IDS, allow_missing=True) == {"a": "x", "b": ""}


def _responses_for(dataset: Path, tmp_path: Path, text_of) -> Path:
    records = json.loads(dataset.read_text())
    return write(tmp_path, {r["id"]: [{"output": text_of(r)}] for r in records}, "responses.json")


def test_cli_evaluate_with_embedding_judge_writes_benchmark_shape(tmp_path):
    dataset = sample_path() / "Art_and_Entertainment_test.json"
    # "responses" that restate the user's narrative cover their aspects; a generic one does not
    good = _responses_for(dataset, tmp_path, lambda r: r["narrative"])
    out = tmp_path / "good" / "scores.json"
    result = runner.invoke(
        app, ["evaluate", "--inputs_addr", str(dataset), "--response_addr", str(good), "--score_addr", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "PROXY" in result.output
    scores = json.loads(out.read_text())
    assert set(scores) >= {"score", "per_question_scores", "per_category", "macro_average", "note"}
    assert scores["per_question_scores"][0]["details"][0]["aspect"]
    generic = _responses_for(dataset, tmp_path, lambda r: "Practice makes perfect. Keep going and stay positive.")
    out2 = tmp_path / "generic" / "scores.json"
    runner.invoke(
        app, ["evaluate", "--inputs_addr", str(dataset), "--response_addr", str(generic), "--score_addr", str(out2)]
    )
    assert json.loads(out2.read_text())["score"] < scores["score"]
    table, md, png = write_report([out, out2], tmp_path / "report")
    assert table.splitlines()[0] == "| method | A&E | Avg | judge (protocol / model / mode) |"
    assert table.splitlines()[2].endswith("| - / minilm / embedding |") and "WARNING" not in table
    assert table.splitlines()[2].startswith(f"| good | {scores['per_category']['Art_and_Entertainment']:.4f} |")
    assert "PROXY" in table and md.exists() and png.read_bytes()[:4] == b"\x89PNG"
    other = json.loads(out2.read_text())
    other["judge"].update(protocol="lamp-qa", model="Qwen/Qwen2.5-32B-Instruct", mode="generate", proxy=False)
    (tmp_path / "llm" / "scores.json").parent.mkdir()
    (tmp_path / "llm" / "scores.json").write_text(json.dumps(other))
    mixed, _, _ = write_report([out, tmp_path / "llm" / "scores.json"], tmp_path / "mixed")
    assert "| lamp-qa / Qwen/Qwen2.5-32B-Instruct / generate |" in mixed and "judged differently" in mixed


def test_evaluate_responses_script_keeps_the_benchmark_flags(tmp_path):
    dataset = sample_path() / "Society_and_Culture_validation.json"
    resp = write(tmp_path, {"nope": [{"output": "x"}]})
    result = subprocess.run(
        [
            sys.executable,
            "evaluate_responses.py",
            "--evaluator_llm",
            "minilm",
            "--inputs_addr",
            str(dataset),
            "--response_addr",
            str(resp),
            "--score_addr",
            str(tmp_path / "s.json"),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: {resp}: id 'nope' is not in the dataset (1 unknown id(s))"
    assert not (tmp_path / "s.json").exists()


def test_report_cli_prints_table(tmp_path):
    result = runner.invoke(app, ["report", str(tmp_path / "missing.json")])
    assert result.exit_code == 2 and "missing.json: file not found" in result.output
