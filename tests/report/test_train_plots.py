"""`pr2 report train`: one run's curves, and several runs compared on the same axes with block means."""

import json

from typer.testing import CliRunner

from pr2.cli import app

runner = CliRunner()


def write_run(folder, rewards, searches):
    folder.mkdir(parents=True)
    rows = [
        {"step": i + 1, "reward_mean": r, "judged_reward": 0.0, "searches_per_trajectory": s, "evidence_retrieved": r}
        for i, (r, s) in enumerate(zip(rewards, searches, strict=True))
    ]
    (folder / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


def test_two_runs_compare_step_for_step(tmp_path):
    a = write_run(tmp_path / "centered", [0.0, 0.2, 0.4, 0.6, 1.0], [1, 1, 2, 2, 3])
    b = write_run(tmp_path / "nonpersonalized", [0.1, 0.1, 0.1], [1, 1, 1])
    result = runner.invoke(app, ["report", "train", str(a), str(b), "--output", str(tmp_path / "cmp")])
    assert result.exit_code == 0, result.output
    for name in ("reward", "searches", "evidence"):
        assert (tmp_path / f"cmp-{name}.png").stat().st_size > 1000
    table = (tmp_path / "cmp.md").read_text().splitlines()
    assert table[0] == "| series | run | 1–4 | 5–5 |"
    assert "| reward | centered | 0.300 | 1.000 |" in table
    assert "| reward | nonpersonalized | 0.100 |  |" in table  # a shorter run leaves its later blocks empty
    assert "| searches per trajectory | centered | 1.500 | 3.000 |" in table


def test_a_folder_without_metrics_is_a_one_line_error(tmp_path):
    a = write_run(tmp_path / "a", [0.1], [1])
    (tmp_path / "empty").mkdir()
    result = runner.invoke(app, ["report", "train", str(a), str(tmp_path / "empty")])
    assert result.exit_code == 2
    assert "empty/metrics.jsonl: no training metrics" in result.output
    assert "Traceback" not in result.output
