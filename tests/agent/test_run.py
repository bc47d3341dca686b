import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pr2.agent import AgentConfig
from pr2.agent.run import run_agent_file
from pr2.cli import app
from pr2.data import load_questions, sample_path, sample_questions
from pr2.judge.responses import load_responses

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()
CONFIG = AgentConfig(max_model_len=600, max_turn_tokens=48, temperature=0.7, seed=1, retriever="bm25")


def test_outputs_follow_lamp_qa_format_and_a_crashed_run_resumes(tmp_path, tiny_generator):
    questions = sample_questions("test")[:3]
    first = run_agent_file(questions[:2], tmp_path, tiny_generator, CONFIG, progress=False)
    assert first.resumed == 0
    with (tmp_path / "trajectories.jsonl").open("a") as handle:
        handle.write('{"id": "sc-5", "segm')  # a crash mid-write
    result = run_agent_file(questions, tmp_path, tiny_generator, CONFIG, progress=False)
    # The cut batch is made whole again (as an uninterrupted run makes it); the records already there are kept.
    assert result.resumed == 2 and result.trajectories[:2] == first.trajectories
    lines = (tmp_path / "trajectories.jsonl").read_text().splitlines()
    assert [json.loads(x)["id"] for x in lines] == [q.id for q in questions]
    responses = load_responses(tmp_path / "responses.json", [q.id for q in questions])
    assert responses == {t.question_id: t.answer for t in result.trajectories}
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["trajectories"] == 3 and summary["without_answer"] == sum(not a for a in responses.values())


def test_cli_run_with_limit_subset_and_proxy_judge(tmp_path, tiny_llama_dir, tiny_st_dir):
    src = tmp_path / "test.jsonl"
    records = []
    for path in sorted(sample_path().glob("*_test.json")):
        records += [q.tagged().to_record() for q in load_questions(path)]
    src.write_text("".join(json.dumps(r) + "\n" for r in records))
    out = tmp_path / "out"
    result = runner.invoke(
        app,
        [
            "run",
            "--questions_address",
            str(src),
            "--output_address",
            str(out),
            "--split",
            "test",
            "--subsets",
            "Society_and_Culture",
            "--limit",
            "1",
            "--max-model-len",
            "500",
            "--max-turn-tokens",
            "48",
            "--model",
            str(tiny_llama_dir),
            "--retriever",
            str(tiny_st_dir),
            "--judge-model",
            str(tiny_st_dir),
            "--judge-mode",
            "embedding",
        ],
    )
    assert result.exit_code == 0, result.output
    assert list(json.loads((out / "responses.json").read_text())) == ["sc-5"]
    assert "answered:" in result.output and "PROXY" in result.output
    assert json.loads((out / "scores.json").read_text())["judge"]["proxy"] is True


@pytest.mark.slow
def test_pr2_script_keeps_the_paper_flags(tmp_path, tiny_llama_dir):
    src = sample_path() / "Lifestyle_and_Personal_Development_test.json"
    result = subprocess.run(
        [
            sys.executable,
            "PR2.py",
            "--questions_address",
            str(src),
            "--output_address",
            str(tmp_path / "o"),
            "--model",
            str(tiny_llama_dir),
            "--temperature",
            "0.5",
            "--split",
            "test",
            "--subsets",
            "ALL",
            "--max-model-len",
            "450",
            "--limit",
            "1",
            "--max-turn-tokens",
            "32",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert list(json.loads((tmp_path / "o" / "responses.json").read_text())) == ["lp-5"]


def test_unknown_preset_is_one_line(tmp_path):
    src = sample_path() / "Lifestyle_and_Personal_Development_test.json"
    result = runner.invoke(
        app, ["run", "--questions_address", str(src), "--output_address", str(tmp_path), "--model", "gpt5"]
    )
    assert result.exit_code == 2 and result.output.startswith("error: unknown model preset 'gpt5'")
