"""GRPO learns PR²'s behaviour: on a task where only the profile earns reward, reward and search rate rise."""

from pathlib import Path

import pytest

from pr2.data.io import read_jsonl
from pr2.train import load_train_config
from pr2.train.trainer import train
from tests.train.conftest import FAST_EPISODES, FactJudge

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def test_grpo_raises_reward_and_search_rate_over_its_first_steps(tmp_path, fact_task_file, smollm2_dir):
    # Two questions, one per step: steps 1-2 see each once with the starting policy and one update, steps 3-4
    # see each again; the paper's advantage (r - r_np) with the example-turn prompt, LoRA, fixed seed.
    config = load_train_config(
        ROOT / "configs" / "cpu-smoke.yaml",
        [
            f"output_dir={tmp_path / 'run'}",
            f"dataset={fact_task_file}",
            "advantage=nonpersonalized",
            "max_steps=4",
            "save_steps=100",
            "num_generations=8",
            "per_device_train_batch_size=8",
            "learning_rate=1e-3",
            "seed=0",
            "gradient_checkpointing=false",  # TRL turns it on; 135M fits without it, and the step is faster
            *FAST_EPISODES,
        ],
    )
    recorder: list = []
    train(config, judge=FactJudge(), recorder=recorder)
    rows = read_jsonl(tmp_path / "run" / "metrics.jsonl")
    assert [r["step"] for r in rows] == [1, 2, 3, 4]
    asked = [{t.question_id for t in step} for step in recorder]
    assert sorted(map(sorted, asked[:2])) == sorted(map(sorted, asked[2:]))  # each half asks both questions once

    def half_means(key):
        values = [r[key] for r in rows]
        return sum(values[:2]) / 2, sum(values[2:]) / 2

    print(
        "rollout, judge, step seconds:", [(r["rollout_seconds"], r["judge_seconds"], r["step_seconds"]) for r in rows]
    )
    print(
        "step, reward, searches per trajectory:",
        [(r["step"], r["reward_mean"], r["searches_per_trajectory"]) for r in rows],
    )
    reward_before, reward_after = half_means("reward_mean")
    search_before, search_after = half_means("searches_per_trajectory")
    assert reward_after > reward_before
    assert search_after > search_before
    assert all(r["r_minus_r_np"] == pytest.approx(r["reward_mean"]) for r in rows)  # no guess earns the fact
