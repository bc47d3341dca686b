"""GRPO learns PR²'s behaviour: on a task where only the profile earns reward, one update raises reward and search
rate on the real SmolLM2 (the mechanics are test_smoke.py's, on a tiny model)."""

from pathlib import Path

import pytest

from pr2.data.io import read_jsonl, write_questions
from pr2.train import load_train_config
from pr2.train.trainer import train
from tests.train.conftest import FAST_EPISODES, FactJudge, fact_task

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def test_one_grpo_update_raises_reward_and_keeps_searching(tmp_path, smollm2_dir):
    # One user whose reward needs a fact from their profile (the bagpipes), eight generations a step: step 1
    # samples the starting policy, one update with the paper's advantage (r - r_np), step 2 samples the updated
    # policy on the same question. Example-turn prompt, LoRA, lr 1e-3, seed 0.
    data = tmp_path / "task.json"
    write_questions(data, [q for q in fact_task() if q.id == "bagpiper"])
    config = load_train_config(
        ROOT / "configs" / "cpu-smoke.yaml",
        [
            f"output_dir={tmp_path / 'run'}",
            f"dataset={data}",
            "advantage=nonpersonalized",
            "max_steps=2",
            "save_steps=100",
            "num_generations=8",
            "per_device_train_batch_size=8",
            "learning_rate=1e-3",
            "seed=0",
            "gradient_checkpointing=false",  # TRL turns it on; 135M fits without it, and the step is faster
            *FAST_EPISODES,
        ],
    )
    train(config, judge=FactJudge())
    rows = read_jsonl(tmp_path / "run" / "metrics.jsonl")
    assert [r["step"] for r in rows] == [1, 2]
    print(
        "step, reward, searches per trajectory, rollout s, step s:",
        [
            (r["step"], r["reward_mean"], r["searches_per_trajectory"], r["rollout_seconds"], r["step_seconds"])
            for r in rows
        ],
    )
    before, after = rows
    assert after["reward_mean"] > before["reward_mean"]
    # one search is the most this task allows; the starting policy may already use it (seed 0: 1.0 -> 1.0)
    assert after["searches_per_trajectory"] >= before["searches_per_trajectory"] > 0
    assert all(r["r_minus_r_np"] == pytest.approx(r["reward_mean"]) for r in rows)  # no guess earns the fact
