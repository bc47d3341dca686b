import json
from dataclasses import replace

from typer.testing import CliRunner

from pr2.cli import app
from pr2.demo import ASSETS, heldout_questions

runner = CliRunner()


def test_demo_runs_offline_with_the_shipped_adapter_and_prints_four_rows(tmp_path, monkeypatch):
    import pr2.demo as demo

    # the demo's own settings in short episodes: this checks the four rows and their files, not the model's answers
    for name, budget in (("UNTRAINED_AGENT", 500), ("TRAINED_AGENT", 320)):  # prompts: ~390 and ~190 tokens
        monkeypatch.setattr(demo, name, replace(getattr(demo, name), max_turn_tokens=32, max_model_len=budget))
    for name in ("RAG", "NO_PROFILE"):
        monkeypatch.setattr(demo, name, replace(getattr(demo, name), max_tokens=24))
    result = runner.invoke(app, ["demo", "--output_address", str(tmp_path), "--limit", "1"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "| method | fact score [95% CI] | proxy |" in out
    for row in ("no personalization", "RAG", "PR² untrained", "PR² trained"):
        assert f"| {row} |" in out, row
    assert "FACT" in out and "PROXY" in out and "not LaMP-QA" in out
    assert "One trained trajectory" in out or "No trained trajectory here" in out
    trained = json.loads((tmp_path / "pr2-trained" / "pr2-fingerprint.json").read_text())
    assert "adapter_digest" in json.dumps(trained)  # the trained row ran the shipped adapter
    for name in ("none/scores.json", "rag/scores.proxy.json", "pr2-untrained/trajectories.jsonl"):
        assert (tmp_path / name).exists(), name


def test_the_shipped_training_run_is_complete():
    """What the package ships from configs/laptop.yaml: an adapter for SmolLM2, its curves, its held-out result."""
    config = json.loads((ASSETS / "adapter" / "adapter_config.json").read_text())
    assert config["peft_type"] == "LORA" and (ASSETS / "adapter" / "adapter_model.safetensors").stat().st_size < 20e6
    rows = [json.loads(line) for line in (ASSETS / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == list(range(1, len(rows) + 1))
    assert all("reward_mean" in r and "searches_per_trajectory" in r for r in rows)
    assert (ASSETS / "reward.png").stat().st_size > 0 and (ASSETS / "searches.png").stat().st_size > 0
    heldout = json.loads((ASSETS / "heldout.json").read_text())
    assert heldout["users"] == len(heldout_questions(None)) == 60
    assert set(heldout["rows"]) == {"no personalization", "RAG", "PR² untrained", "PR² trained"}


def test_held_out_users_are_not_training_users():
    trained_on = json.loads((ASSETS / "train-config.json").read_text())
    assert trained_on["split"] == "train"
    assert all(q.split == "test" for q in heldout_questions(None))
