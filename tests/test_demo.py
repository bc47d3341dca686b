import json
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pr2.cli import app
from pr2.demo import ASSETS, TABLE_HEAD, heldout_questions, table_line
from pr2.judge.scoring import bootstrap_interval
from pr2.train import load_train_config

ROOT = Path(__file__).resolve().parents[1]

runner = CliRunner()
ROWS = ("no personalization", "RAG", "PR² untrained", "PR² trained", "base model shown the evidence posts")


@pytest.mark.slow
def test_demo_runs_offline_with_the_shipped_adapter_and_prints_what_its_files_say(tmp_path, monkeypatch):
    import pr2.demo as demo

    # the demo's own settings in short episodes: this checks the rows and their files, not the model's answers
    for name, budget in (("UNTRAINED_AGENT", 480), ("TRAINED_AGENT", 300)):  # prompts: ~370 and ~170 tokens
        monkeypatch.setattr(demo, name, replace(getattr(demo, name), max_turn_tokens=24, max_model_len=budget))
    for name in ("RAG", "NO_PROFILE", "ORACLE"):
        monkeypatch.setattr(demo, name, replace(getattr(demo, name), max_tokens=24))
    result = runner.invoke(app, ["demo", "--output_address", str(tmp_path), "--limit", "1"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert TABLE_HEAD in out and "FACT" in out and "PROXY" in out and "not LaMP-QA" in out
    record = json.loads((tmp_path / "heldout.json").read_text())
    assert list(record["rows"]) == list(ROWS) and record["users"] == 1
    for name, row in record["rows"].items():  # every printed line is what the files say
        line = table_line(
            name, row["fact"], row["fact_interval"], row["proxy"], row["evidence_retrieved"], row.get("summary"),
            row["ended_by_length"],
        )  # fmt: skip
        assert line in out, line
    folders = {"no personalization": "none", "RAG": "rag", "PR² untrained": "pr2-untrained",
               "PR² trained": "pr2-trained", "base model shown the evidence posts": "oracle"}  # fmt: skip
    for name, folder in folders.items():
        scores = json.loads((tmp_path / folder / "scores.json").read_text())
        assert record["rows"][name]["fact"] == scores["score"], name
    trajectories = [json.loads(x) for x in (tmp_path / "pr2-trained" / "trajectories.jsonl").read_text().splitlines()]
    summary = record["rows"]["PR² trained"]["summary"]
    assert summary["searches_per_trajectory"] == sum(len(t["searches"]) for t in trajectories) / len(trajectories)
    shown = [t for t in trajectories if len(t["searches"]) >= 2 and t["ended"] == "answer" and t["answer"]]
    if shown:  # the demo prints one trained trajectory exactly when one searched twice and answered
        assert "One trained trajectory" in out and any(t["searches"][0] in out for t in shown)
    else:
        assert "No trained trajectory here searched twice and answered" in out
    trained = json.loads((tmp_path / "pr2-trained" / "pr2-fingerprint.json").read_text())
    assert "adapter_digest" in json.dumps(trained)  # the trained row ran the shipped adapter
    assert record["adapter"] in json.dumps(trained)  # and heldout.json names that adapter
    assert f"pr2 view {tmp_path}" in out


def test_the_shipped_held_out_table_is_recomputed_from_its_per_question_scores():
    heldout = json.loads((ASSETS / "heldout.json").read_text())
    assert heldout["users"] == len(heldout_questions(None)) == 60
    assert list(heldout["rows"]) == list(ROWS)
    lines = [TABLE_HEAD]
    for name, row in heldout["rows"].items():
        scores = list(row["per_question"].values())
        assert len(scores) == 60
        mean = sum(scores) / len(scores)
        assert abs(mean - row["fact"]) < 1e-9
        assert list(bootstrap_interval(scores, 0.95, 2000, 0)) == row["fact_interval"]
        lines.append(
            table_line(
                name,
                mean,
                row["fact_interval"],
                row["proxy"],
                row["evidence_retrieved"],
                row.get("summary"),
                row["ended_by_length"],
            )
        )
    assert "\n".join(lines) == heldout["table"]


def test_the_shipped_table_is_for_the_shipped_adapter_and_todays_benchmark():
    from pr2.data.fingerprint import folder_digest, text_digest
    from pr2.judge import JudgeConfig, build_judge

    heldout = json.loads((ASSETS / "heldout.json").read_text())
    questions = heldout_questions(None)
    data = json.dumps([q.to_record() for q in questions], sort_keys=True, ensure_ascii=False)
    assert heldout["data_digest"] == text_digest(data)
    assert heldout["adapter"] == folder_digest(ASSETS / "adapter")
    assert heldout["judge"] == build_judge(JudgeConfig(mode="fact")).describe()  # and today's fact judge


def test_the_shipped_training_run_is_complete():
    """What the package ships from configs/laptop.yaml: an adapter for SmolLM2, its curves, its held-out result."""
    config = json.loads((ASSETS / "adapter" / "adapter_config.json").read_text())
    # rank 64 in fp16: stage 2's 32 plus the warm start's 16 plus GRPO's 16 (README, "Stage 3")
    assert config["peft_type"] == "LORA" and (ASSETS / "adapter" / "adapter_model.safetensors").stat().st_size < 40e6
    rows = [json.loads(line) for line in (ASSETS / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == list(range(1, len(rows) + 1))
    assert len(rows) == load_train_config(ROOT / "configs" / "laptop.yaml").trl["max_steps"]  # the recipe's length
    assert all("reward_mean" in r and "evidence_retrieved" in r for r in rows)
    for plot in ("reward.png", "searches.png", "evidence.png"):
        assert (ASSETS / plot).stat().st_size > 0, plot
    assert (ASSETS / "adapter" / "pr2-agent.json").exists()  # runs as trained


def test_held_out_users_are_not_training_users():
    trained_on = json.loads((ASSETS / "train-config.json").read_text())
    assert trained_on["split"] == "train"
    assert all(q.split == "test" for q in heldout_questions(None))


def test_the_logged_curves_of_the_shipped_run_are_its_metrics_block_means():
    """The training table of the shipped run (its log, docs/experiments/2026-12-03-stage-3.md) is recomputed from the
    shipped metrics.jsonl: each cell the mean of its block of steps, as printed."""
    section = (ROOT / "docs" / "experiments" / "2026-12-03-stage-3.md").read_text(encoding="utf-8")
    lines = [line for line in section.splitlines() if line.startswith("| ")]
    head = next(i for i, line in enumerate(lines) if line.startswith("| steps |"))
    blocks = [tuple(map(int, cell.split("–"))) for cell in lines[head].strip("| ").split(" | ")[1:]]
    keys = {
        "reward (judge + evidence bonus)": ("reward_mean", 3),
        "judge's part (fact)": ("judged_reward", 3),
        "evidence posts retrieved (share)": ("evidence_retrieved", 2),
        "searches that find an evidence post": ("searches_finding_evidence", 2),
        "searches per trajectory": ("searches_per_trajectory", 2),
        "answer rate": ("answer_rate", 2),
    }
    metrics = [json.loads(line) for line in (ASSETS / "metrics.jsonl").read_text().splitlines()]
    rows = {cells[0]: cells[1:] for cells in (line.strip("| ").split(" | ") for line in lines[head + 1 :])}
    assert set(keys) <= set(rows) and blocks[-1][1] == len(metrics)
    for name, (key, digits) in keys.items():
        means = [sum(m[key] for m in metrics[a - 1 : b]) / (b - a + 1) for a, b in blocks]
        assert rows[name] == [f"{v:.{digits}f}" for v in means], name


def test_the_shipped_ablation_rows_are_recomputed_and_made_as_the_demos_rows():
    """The README's ablation rows (`pr2 heldout`, added by scripts/ship_laptop.py --ablation): each mean and interval
    from its 60 per-question scores, on the demo's questions and budgets; stage 2's row ran the shipped stage 2."""
    from pr2.data.fingerprint import folder_digest
    from pr2.demo import TRAINED_AGENT

    heldout = json.loads((ASSETS / "heldout.json").read_text())
    ablations = heldout["ablations"]
    assert set(ablations) == {"warm start alone (no GRPO)", "stage 2 (no supplied words)"}
    for name, row in ablations.items():
        scores = list(row["per_question"].values())
        assert list(row["per_question"]) == list(heldout["rows"]["PR² trained"]["per_question"]), name
        assert abs(sum(scores) / len(scores) - row["fact"]) < 1e-9, name
        assert list(bootstrap_interval(scores, 0.95, 2000, 0)) == row["fact_interval"], name
        assert row["agent"]["max_turn_tokens"] == TRAINED_AGENT.max_turn_tokens == 48, name
        assert row["agent"]["max_model_len"] == TRAINED_AGENT.max_model_len == 768, name
        assert row["agent"]["answer_prefill"] == TRAINED_AGENT.answer_prefill, name
        assert 0 <= row["searches_finding_evidence"] <= 1
    stage2 = ablations["stage 2 (no supplied words)"]["policy"]
    assert stage2["adapter_digest"] == folder_digest(ASSETS / "stage2-adapter")
    assert "adapter" not in ablations["warm start alone (no GRPO)"]["policy"]  # a merged model, no adapter
