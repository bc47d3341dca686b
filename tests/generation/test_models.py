import contextlib
from pathlib import Path

import pytest

from pr2.errors import PR2Error
from pr2.generation import GeneratorConfig, load_generator, resolve_model
from pr2.generation.models import PRESETS


def test_presets_resolve_to_hub_ids_and_bundled_folder(smollm2_dir):
    assert resolve_model("qwen") == "Qwen/Qwen2.5-7B-Instruct"
    assert resolve_model("gemma") == "google/gemma-2-9b-it"
    assert resolve_model("llama") == "meta-llama/Llama-3.1-8B-Instruct"
    assert resolve_model("smollm2") == str(smollm2_dir) == resolve_model(None)
    assert (smollm2_dir / "config.json").exists() and (smollm2_dir / "model.safetensors").exists()
    assert set(PRESETS) == {"smollm2", "qwen", "gemma", "llama"}


def test_any_local_path_or_hub_id_is_taken(smollm2_dir):
    assert resolve_model(str(smollm2_dir)) == str(smollm2_dir)
    assert resolve_model("someorg/some-model") == "someorg/some-model"


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (GeneratorConfig(model="gpt5"), r"unknown model preset 'gpt5'"),
        (GeneratorConfig(model="./no/such/dir"), r"model './no/such/dir': local path ./no/such/dir does not exist"),
        (GeneratorConfig(model="no-org/not-cached-model"), r"cannot load model 'no-org/not-cached-model'"),
        (GeneratorConfig(backend="tgi"), r"unknown back end 'tgi'"),
        (GeneratorConfig(backend="openai"), r"needs --base-url"),
        (GeneratorConfig(model="smollm2", adapter="/no/adapter"), r"cannot load adapter '/no/adapter'"),
    ],
)
def test_errors_are_one_line_and_name_what_was_asked(config, message):
    with pytest.raises(PR2Error, match=message) as info:
        load_generator(config)
    assert "\n" not in str(info.value)


def test_remote_code_is_not_run_unless_asked(tmp_path, smollm2_dir):
    import json
    import shutil

    model = tmp_path / "remote"
    shutil.copytree(smollm2_dir, model)
    config = json.loads((model / "config.json").read_text())
    config["auto_map"] = {"AutoModelForCausalLM": "modeling_evil.EvilModel", "AutoConfig": "modeling_evil.EvilConfig"}
    (model / "config.json").write_text(json.dumps(config))
    (model / "modeling_evil.py").write_text("import pathlib\npathlib.Path(__file__).with_name('RAN').write_text('x')\n")
    with contextlib.suppress(PR2Error):  # refusing to load is fine; running the code is not
        load_generator(GeneratorConfig(model=str(model)))
    assert not (model / "RAN").exists()


def test_the_shipped_adapter_has_a_name_that_works_outside_a_source_checkout(tmp_path, monkeypatch):
    from pr2.agent.settings import agent_config_for
    from pr2.generation.models import SHIPPED_ADAPTERS, resolve_adapter

    monkeypatch.chdir(tmp_path)  # not the repository: src/pr2/assets/... is no path here
    shipped = Path(resolve_adapter("laptop"))
    assert shipped == SHIPPED_ADAPTERS["laptop"] and (shipped / "adapter_model.safetensors").is_file()
    assert agent_config_for(str(shipped), {}).answer_prefill == "About you:"  # it runs as it was trained
    (tmp_path / "laptop").mkdir()  # a folder of that name is the user's own adapter, and wins
    assert resolve_adapter("laptop") == "laptop"
    assert resolve_adapter("runs/x/final") == "runs/x/final" and resolve_adapter(None) is None
