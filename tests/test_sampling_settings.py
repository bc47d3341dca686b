"""Sampling settings are checked where they enter (the CLI, a config, Python): a negative temperature, a top_p
outside (0, 1], a top_k or a budget below 1 is a one-line error, never a run that samples something else."""

import pytest
from typer.testing import CliRunner

from pr2.agent import AgentConfig
from pr2.baselines import BaselineConfig
from pr2.cli import app
from pr2.data import sample_path
from pr2.errors import PR2Error
from pr2.generation.base import SamplingParams
from pr2.train import load_train_config

runner = CliRunner()
BAD = [
    (["--temperature", "-1"], "temperature must be 0 (greedy) or more, got -1.0"),
    (["--top_p", "0"], "top_p must be in (0, 1], got 0.0"),
    (["--top_p", "1.5"], "top_p must be in (0, 1], got 1.5"),
    (["--top-k", "0"], "top_k must be at least 1, got 0"),
    (["--max-turn-tokens", "0"], "max_turn_tokens must be at least 1, got 0"),
    (["--max-model-len", "-5"], "max_model_len must be at least 1, got -5"),
    (["--batch-size", "0"], "batch_size must be at least 1, got 0"),
]


@pytest.mark.parametrize(("flags", "message"), BAD, ids=[f[0] + f[1] for f, _ in BAD])
def test_pr2_run_refuses_bad_sampling_settings_in_one_line(tmp_path, flags, message):
    data = str(next(sample_path().glob("*_test.json")))
    result = runner.invoke(app, ["run", "--questions_address", data, "--output_address", str(tmp_path), *flags])
    assert result.exit_code == 2 and result.output.strip() == f"error: {message}"
    assert not (tmp_path / "trajectories.jsonl").exists()  # nothing started


def test_baseline_config_and_sampling_params_refuse_them_too():
    with pytest.raises(PR2Error, match="temperature must be 0"):
        BaselineConfig(temperature=-0.1)
    with pytest.raises(PR2Error, match="max_tokens must be at least 1"):
        BaselineConfig(max_tokens=0)
    with pytest.raises(PR2Error, match="top_p must be in"):
        SamplingParams(top_p=0.0)
    with pytest.raises(PR2Error, match="n must be at least 1"):
        SamplingParams(n=0)
    assert AgentConfig(temperature=0.0, top_p=1.0).top_k == 3  # the edges themselves are fine


def test_a_training_config_refuses_them_in_its_agent_section():
    with pytest.raises(PR2Error, match="top_k must be at least 1"):
        load_train_config(None, ["agent.top_k=0"])
