"""The PR² step on a real GRPO step: the advantages TRL's loss receives are the configured formula."""

import hashlib
import json
from pathlib import Path

import pytest
import torch

from pr2.data import sample_questions
from pr2.judge.judge import Judge, JudgeConfig, Judgement
from pr2.train import load_train_config
from pr2.train.reward import answer_rewards
from pr2.train.trainer import PR2GRPOTrainer, train

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


class HashJudge(Judge):
    """0, 1 or 2 from a hash of the exact answer and aspect: deterministic, and different answers differ."""

    mode = "hash"

    def __init__(self) -> None:
        super().__init__(JudgeConfig(model="hash"))

    def input_text(self, pair) -> str:
        return f"{pair.response}\x1e{pair.aspect}"

    def _judge_uncached(self, pairs, texts):
        return [Judgement(float(hashlib.sha256(t.encode()).digest()[0] % 3)) for t in texts]


def run_step(tmp_path, tiny_llama_dir, advantage, monkeypatch):
    """One GRPO step of the tiny model; the policy starts inside <answer>, so every trajectory answers."""
    received = []
    original = PR2GRPOTrainer._compute_loss

    def recording(self, model, inputs):
        received.append(inputs["advantages"].detach().clone())
        return original(self, model, inputs)

    monkeypatch.setattr(PR2GRPOTrainer, "_compute_loss", recording)
    out = tmp_path / advantage
    config = load_train_config(
        ROOT / "configs" / "cpu-smoke.yaml",
        [
            f"output_dir={out}",
            f"model={tiny_llama_dir}",
            "agent.retriever=bm25",
            "agent.prefill=<answer>",
            "agent.max_model_len=400",
            "agent.example_turn=false",
            "agent.max_turn_tokens=12",
            "max_completion_length=400",
            f"advantage={advantage}",
            "max_steps=1",
            "num_generations=4",
            "per_device_train_batch_size=4",
            "save_steps=100",
        ],
    )
    recorder = []
    train(config, judge=HashJudge(), recorder=recorder)
    (step,) = recorder
    questions = {q.id: q for q in sample_questions("train")}
    r = torch.tensor(answer_rewards([questions[t.question_id] for t in step], [t.answer for t in step], HashJudge()))
    r_np_file = out / "r_np.json"  # written for the nonpersonalized advantage only
    r_np = json.loads(r_np_file.read_text())["r_np"][step[0].question_id] if r_np_file.exists() else 0.0
    # TRL shuffles the step's completions before its micro-batches: compare the advantages as a multiset.
    return sorted(torch.cat(received).tolist()), r, r_np, config


def test_trls_loss_receives_the_nonpersonalized_advantage(tmp_path, tiny_llama_dir, monkeypatch):
    got, r, r_np, config = run_step(tmp_path, tiny_llama_dir, "nonpersonalized", monkeypatch)
    assert r.std() > 0  # the answers differ, so the step has something to weigh
    expected = (r - r_np) / r.std(unbiased=True).clamp(min=config.advantage_std_floor)
    assert got == pytest.approx(sorted(expected.tolist()), abs=1e-5)
    trl_group = (r - r.mean()) / (r.std(unbiased=True) + 1e-4)
    assert got != pytest.approx(sorted(trl_group.tolist()), abs=1e-3)


def test_trls_loss_receives_the_group_advantage_in_group_mode(tmp_path, tiny_llama_dir, monkeypatch):
    got, r, r_np, config = run_step(tmp_path, tiny_llama_dir, "group", monkeypatch)
    assert got == pytest.approx(sorted(((r - r.mean()) / (r.std(unbiased=True) + 1e-4)).tolist()), abs=1e-4)
    pr2 = (r - r_np) / r.std(unbiased=True).clamp(min=config.advantage_std_floor)
    assert got != pytest.approx(sorted(pr2.tolist()), abs=1e-3)
