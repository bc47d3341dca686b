import pytest

from pr2.errors import PR2Error
from pr2.train import load_train_config


def test_yaml_and_set_fill_ours_and_trls_fields(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("model: smollm2\nmax_searches: 2\nlearning_rate: 1.0e-4\nbeta: 0.04\nloss_type: grpo\n")
    config = load_train_config(path, ["max_steps=7", "advantage=group", "lora=false", "output_dir=/x/y"])
    assert config.max_searches == 2 and config.advantage == "group" and config.lora is False
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
    with pytest.raises(PR2Error, match="advantage must be group or nonpersonalized"):
        load_train_config(None, ["advantage=mean"])
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
