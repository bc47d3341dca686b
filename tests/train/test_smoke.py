"""The CPU smoke config trains, checkpoints, resumes, writes metrics and plots; rollouts keep their invariants.

Mechanics only: the policy is the tiny random Llama (SmolLM2's tokenizer) and search uses the tiny encoder, so every
TRL/PEFT path runs as with SmolLM2, in seconds. Behaviour (does it learn) is test_learning.py's, on the real model.
"""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pr2.cli import app
from pr2.data.io import read_jsonl
from pr2.train import load_train_config
from pr2.train.trainer import train

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def tiny_overrides(tiny_llama_dir, tiny_st_dir) -> list[str]:
    return [
        f"model={tiny_llama_dir}",
        f"agent.retriever={tiny_st_dir}",
        f"judge_model={tiny_st_dir}",
        "agent.example_turn=false",  # its prompt (173 tokens at most) leaves room to write within 256
        "agent.max_model_len=256",
        "max_completion_length=256",
        "agent.max_turn_tokens=32",
    ]


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory, tiny_llama_dir, tiny_st_dir):
    out = tmp_path_factory.mktemp("smoke")
    recorder = []
    overrides = [f"output_dir={out}", "max_steps=2", "save_steps=1", *tiny_overrides(tiny_llama_dir, tiny_st_dir)]
    config = load_train_config(ROOT / "configs" / "cpu-smoke.yaml", overrides)
    result = train(config, recorder=recorder)
    return out, result, recorder, config, overrides


def test_rollouts_return_one_completion_per_prompt_with_aligned_masks(smoke_run):
    _, _, recorder, config, _ = smoke_run
    assert len(recorder) == 2
    for step in recorder:
        assert len(step) == config.trl["num_generations"]  # TRL passes each prompt repeated num_generations times
        assert len({t.question_id for t in step}) == 1
        for t in step:
            assert len(t.completion_ids) == len(t.loss_mask) == len(t.completion_logprobs)
            for seg in t.segments:
                assert (seg.kind == "model") == (seg.logprobs is not None)


def test_checkpoints_metrics_plots_and_adapter(smoke_run, tmp_path):
    out, result, _, _, _ = smoke_run
    assert result.global_step == 2
    assert (out / "checkpoint-1").is_dir() and (out / "checkpoint-2").is_dir()
    rows = read_jsonl(out / "metrics.jsonl")
    assert [r["step"] for r in rows] == [1, 2]
    for key in (
        "reward_mean",
        "reward_std",
        "r_minus_r_np",
        "searches_per_trajectory",
        "answer_rate",
        "completion_length",
        "kl",
        "entropy",
    ):
        assert key in rows[0]
    assert rows[0]["rollout_seconds"] > 0 and rows[0]["judge_seconds"] > 0  # measured, not left at 0
    # the sampler's logprobs against the trainer's for the same tokens, before the step's update (fp32, one model):
    # logged, and small (a sampler drawing from another distribution, e.g. a penalty, would show here)
    assert 0 <= rows[0]["sampler_logp_gap"] < 1e-3, rows[0]["sampler_logp_gap"]
    assert json.loads((out / "r_np.json").read_text())["r_np"]
    assert (result.adapter_dir / "adapter_config.json").exists()
    result_cli = CliRunner().invoke(app, ["report", "train", str(out)])
    assert result_cli.exit_code == 0, (result_cli.output, result_cli.exception)
    assert (out / "reward.png").read_bytes()[:4] == b"\x89PNG" and (out / "searches.png").exists()


def test_each_step_s_groups_are_logged_for_the_viewer(smoke_run):
    """rollouts.jsonl: per step, the group's episodes with reward, r_np, judged part and advantage (pr2 view)."""
    from pr2.report.viewer import build_payload

    out, result, recorder, config, _ = smoke_run
    rows = read_jsonl(out / "rollouts.jsonl")
    assert [r["step"] for r in rows] == [1, 2]
    for row, step in zip(rows, recorder, strict=True):
        assert row["question_id"] == step[0].question_id and len(row["episodes"]) == config.trl["num_generations"]
        assert [e["answer"] for e in row["episodes"]] == [t.answer for t in step]
        advantages = [e["advantage"] for e in row["episodes"]]
        rewards = [e["reward"] for e in row["episodes"]]
        if len(set(rewards)) > 1:  # a group whose rewards differ pushes its best up and (with r_np) is signed
            assert advantages[rewards.index(max(rewards))] == max(advantages)
    assert json.loads((result.adapter_dir / "pr2-agent.json").read_text())["max_model_len"] == 256
    (training,) = build_payload([out])["trainings"]
    assert len(training["rollouts"]) == 2 and len(training["metrics"]) == 2


def test_resume_from_checkpoint_continues_the_run(smoke_run):
    out, _, _, _, overrides = smoke_run
    config = load_train_config(ROOT / "configs" / "cpu-smoke.yaml", [*overrides, "max_steps=3"])
    result = train(config, resume_from_checkpoint=str(out / "checkpoint-2"))
    assert result.global_step == 3
    assert [r["step"] for r in read_jsonl(out / "metrics.jsonl")] == [1, 2, 3]  # steps 1-2 not redone


def test_trained_adapter_runs_with_pr2_run(smoke_run, tmp_path, tiny_llama_dir, tiny_st_dir):
    _, result, _, _, _ = smoke_run
    from pr2.data import sample_path

    # in this process, through the command line (a fresh interpreter runs PR2.py in tests/agent/test_run.py)
    proc = CliRunner().invoke(
        app,
        [
            "run",
            *("--questions_address", str(sample_path() / "Society_and_Culture_test.json")),
            *("--output_address", str(tmp_path / "o"), "--model", str(tiny_llama_dir)),
            *("--retriever", str(tiny_st_dir), "--adapter", str(result.adapter_dir), "--limit", "1"),
            *("--max-model-len", "400", "--max-turn-tokens", "32"),
        ],
    )
    assert proc.exit_code == 0, (proc.output[-2000:], proc.exception)
    assert json.loads((tmp_path / "o" / "responses.json").read_text()).keys() == {"sc-5"}
