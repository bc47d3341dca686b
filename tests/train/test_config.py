import json
from pathlib import Path

import pytest

from pr2.errors import PR2Error
from pr2.train import load_train_config

ROOT = Path(__file__).resolve().parents[2]


def test_yaml_and_set_fill_ours_and_trls_fields(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("model: smollm2\nagent:\n  max_searches: 2\nlearning_rate: 1.0e-4\nbeta: 0.04\nloss_type: grpo\n")
    config = load_train_config(path, ["max_steps=7", "advantage=group", "lora=false", "output_dir=/x/y"])
    assert config.agent.max_searches == 2 and config.advantage == "group" and config.lora is False
    assert config.trl == {
        "learning_rate": 1e-4,
        "beta": 0.04,
        "loss_type": "grpo",
        "max_steps": 7,
        "output_dir": "/x/y",
    }
    assert config.output_dir == "/x/y"
    assert config.trl_value("beta") == 0.04  # set in the file
    assert config.trl_value("seed") == 0  # pr2's default
    assert config.trl_value("top_p") == 1.0  # TRL's own default


def test_bad_keys_and_values_are_one_line_errors(tmp_path):
    with pytest.raises(PR2Error, match="unknown training config key 'max_stepz'"):
        load_train_config(None, ["max_stepz=3"])
    with pytest.raises(PR2Error, match="expected key=value"):
        load_train_config(None, ["max_steps"])
    with pytest.raises(PR2Error, match="advantage must be one of nonpersonalized, centered, group"):
        load_train_config(None, ["advantage=mean"])
    with pytest.raises(PR2Error, match=r"warm_start_search_proposals must be a list of words, got 'diet'"):
        load_train_config(None, ["warm_start_search_proposals=diet"])
    with pytest.raises(PR2Error, match="warm_start_propose_each_search needs warm_start_search_proposals"):
        load_train_config(None, ["warm_start_propose_each_search=true"])
    config = load_train_config(None, ["warm_start_search_proposals=[diet, budget]", "warm_start_propose_each_search=1"])
    assert config.warm_start_search_proposals == ["diet", "budget"] and config.warm_start_propose_each_search is True
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: [unclosed\n")
    with pytest.raises(PR2Error, match=r"bad\.yaml: malformed YAML"):
        load_train_config(bad)


def test_shipped_configs_load():
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "configs"
    for path in sorted(root.glob("*.yaml")):
        if path.name.startswith("accelerate"):
            continue
        config = load_train_config(path)
        assert config.trl.get("output_dir"), path


def test_values_keep_their_field_types_and_bad_ones_name_key_value_and_type(tmp_path):
    config = load_train_config(
        None,
        ["output_dir=2024", "agent.max_searches=2", "learning_rate=1e-3", "lora=no", "agent.candidate_pool=null"],
    )
    assert config.output_dir == "2024" and isinstance(config.trl["output_dir"], str)  # not "2024.0"
    assert config.agent.max_searches == 2 and config.trl["learning_rate"] == 1e-3 and config.lora is False
    assert config.agent.candidate_pool is None
    with pytest.raises(PR2Error, match=r"config key 'agent.max_searches': 'two' is not a int"):
        load_train_config(None, ["agent.max_searches=two"])
    with pytest.raises(PR2Error, match=r"config key 'max_steps': '1.5' is not a int"):
        load_train_config(None, ["max_steps=1.5"])
    with pytest.raises(PR2Error, match=r"'max_searches' belongs to the agent loop: write agent.max_searches"):
        load_train_config(None, ["max_searches=2"])
    with pytest.raises(PR2Error, match=r"unknown training config key 'agent.max_serches'"):
        load_train_config(None, ["agent.max_serches=2"])
    bad = tmp_path / "typed.yaml"
    bad.write_text("agent:\n  top_k: [1, 2]\n")
    with pytest.raises(PR2Error, match=r"typed\.yaml: config key 'agent.top_k': '\[1, 2\]' is not a int"):
        load_train_config(bad)


def test_the_agent_loop_is_declared_once_for_run_and_train():
    import inspect

    from pr2.agent import AgentConfig
    from pr2.cli import run
    from pr2.train import TrainConfig

    assert TrainConfig().agent == AgentConfig()
    options = inspect.signature(run).parameters
    for name in ("max_model_len", "max_turn_tokens", "top_k", "max_searches", "item_tokens", "candidate_pool"):
        assert options[name].default.default == getattr(AgentConfig(), name), name


@pytest.mark.parametrize("name", ["paper-qwen", "paper-gemma", "paper-llama"])
def test_paper_configs_start_up_to_their_first_generation(name, tmp_path, tiny_llama_dir, tiny_st_dir, monkeypatch):
    # Local stand-ins for what this CPU cannot have (the 7-9B policy, the judge server, vLLM, contriever, CUDA);
    # everything else (TRL's settings, LoRA, the agent loop's limits, the ranked data) is the config's own.
    from pathlib import Path

    from pr2.data import sample_path
    from pr2.generation.hf import HFGenerator
    from pr2.retrieval import load_retriever
    from pr2.retrieval.rank import rank_file
    from pr2.train.trainer import train

    ranked = tmp_path / "train.ranked.jsonl"
    rank_file(sample_path() / "Art_and_Entertainment_train.json", ranked, load_retriever("bm25"), progress=False)

    class Reached(Exception):
        pass

    def first_generation(self, prompts, params):
        raise Reached(len(prompts))

    monkeypatch.setattr(HFGenerator, "generate", first_generation)
    config = load_train_config(
        Path(__file__).resolve().parents[2] / "configs" / f"{name}.yaml",
        [
            f"model={tiny_llama_dir}",
            f"dataset={ranked}",
            f"output_dir={tmp_path / 'run'}",
            f"judge_model={tiny_st_dir}",
            "judge_mode=embedding",
            "judge_backend=hf",
            f"agent.retriever={tiny_st_dir}",
            "use_vllm=false",
            "report_to=none",
        ],
    )
    assert config.agent.candidate_pool == 50 and config.agent.max_model_len == 8192
    with pytest.raises(Reached):
        train(config)


def test_a_policy_that_cannot_load_is_a_one_line_error(tmp_path, tiny_st_dir, monkeypatch):
    """`pr2 train --config configs/paper-qwen.yaml` on a machine that cannot reach the Hub: one line, as pr2 run."""
    from pathlib import Path

    from typer.testing import CliRunner

    from pr2.cli import app
    from pr2.data import sample_path

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    config = Path(__file__).resolve().parents[2] / "configs" / "paper-qwen.yaml"
    sets = [
        f"dataset={sample_path() / 'Art_and_Entertainment_train.json'}", f"output_dir={tmp_path / 'run'}",
        f"judge_model={tiny_st_dir}", "judge_mode=embedding", "judge_backend=hf", "use_vllm=false", "report_to=none",
    ]  # fmt: skip
    result = CliRunner().invoke(app, ["train", "--config", str(config), *(x for s in sets for x in ("--set", s))])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert lines[-1].startswith("error: cannot load model 'qwen'") and "Traceback" not in result.output


def test_a_start_adapter_is_checked_before_any_work_and_its_weights_are_part_of_the_run(tmp_path, tiny_llama_dir):
    """A missing start adapter fails in one line naming it; a resumed run must start from the same weights and the
    same adapter settings (rank, alpha, targets), wherever the folder was saved from."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from pr2.train.config import TrainConfig
    from pr2.train.policy import load_policy
    from pr2.train.trainer import train_fingerprint

    missing = TrainConfig(model=str(tiny_llama_dir), start_adapter=str(tmp_path / "nowhere"))
    with pytest.raises(PR2Error, match=r"start_adapter .*nowhere.*adapter_model\.safetensors"):
        train_fingerprint(missing)
    with pytest.raises(PR2Error, match=r"start_adapter .*nowhere.*adapter_config\.json"):
        load_policy(missing)
    peft = get_peft_model(
        AutoModelForCausalLM.from_pretrained(tiny_llama_dir), LoraConfig(r=2, target_modules="all-linear")
    )
    peft.save_pretrained(tmp_path / "a")
    config = TrainConfig(model=str(tiny_llama_dir), start_adapter=str(tmp_path / "a"))
    before = train_fingerprint(config)
    for p in peft.parameters():
        if p.requires_grad:
            p.data.add_(0.01)
    peft.save_pretrained(tmp_path / "a")  # the same folder, other weights
    changed = train_fingerprint(config)["start_adapter"]
    assert changed != before["start_adapter"]
    settings = tmp_path / "a" / "adapter_config.json"
    saved = json.loads(settings.read_text())
    settings.write_text(json.dumps({**saved, "base_model_name_or_path": "/elsewhere", "peft_version": "0.0"}))
    assert train_fingerprint(config)["start_adapter"] == changed  # where it was saved from: the same start
    settings.write_text(json.dumps({**saved, "lora_alpha": saved["lora_alpha"] * 2}))
    assert train_fingerprint(config)["start_adapter"] != changed  # twice the scale: another start
    settings.write_text("[]")
    with pytest.raises(PR2Error, match=r"start_adapter .*adapter_config\.json is not a JSON object"):
        train_fingerprint(config)
    assert "start_adapter" not in train_fingerprint(TrainConfig(model=str(tiny_llama_dir)))["config"]


def test_bf16_follows_the_cpu_and_a_forced_emulated_bf16_is_warned(monkeypatch, caplog):
    import logging

    import torch

    from pr2.generation import hf
    from pr2.train import TrainConfig
    from pr2.train.policy import policy_dtype

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(hf, "cpu_has_native_bf16", lambda: False)  # an AVX2-only CPU
    assert policy_dtype(TrainConfig(trl={"bf16": "auto"})) == torch.float32
    with caplog.at_level(logging.WARNING, logger="pr2.train.trainer"):
        assert policy_dtype(TrainConfig(trl={"bf16": True})) == torch.bfloat16  # as asked, but said
    assert "emulated" in caplog.text
    monkeypatch.setattr(hf, "cpu_has_native_bf16", lambda: True)
    assert policy_dtype(TrainConfig(trl={"bf16": "auto"})) == torch.bfloat16
    assert load_train_config(ROOT / "configs" / "laptop.yaml").trl["bf16"] == "auto"  # the recipe loads
    assert load_train_config(None, ["bf16=auto"]).trl["bf16"] == "auto"
    assert load_train_config(None, ["bf16=true"]).trl["bf16"] is True
    with pytest.raises(PR2Error, match="bf16"):
        load_train_config(None, ["bf16=sometimes"])
