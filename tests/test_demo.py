from typer.testing import CliRunner

from pr2.cli import app

runner = CliRunner()


def test_demo_runs_offline_and_prints_table_and_a_trajectory(tmp_path):
    result = runner.invoke(app, ["demo", "--output_address", str(tmp_path), "--limit", "1"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "| method |" in out and "| Avg |" in out and "| pr2 |" in out and "| rag |" in out
    assert "One trajectory" in out and "QUESTION:" in out
    assert "PROXY" in out and "Qwen/Qwen2.5-32B-Instruct" in out
    for name in (
        "pr2/responses.json",
        "pr2/trajectories.jsonl",
        "pr2/scores.json",
        "rag/responses.json",
        "report.md",
        "report.png",
    ):
        assert (tmp_path / name).exists(), name
