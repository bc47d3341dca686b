"""`pr2 export-adapter`: a warm-started run (merged start + GRPO adapter) becomes one adapter on the base model."""

import json

import pytest
import torch
from peft import LoraConfig, PeftModel, get_peft_model
from transformers import AutoModelForCausalLM, AutoTokenizer

from pr2.errors import PR2Error
from pr2.train.export import export_adapter


@pytest.fixture
def warm_started_run(tiny_llama_dir, tmp_path):
    """A run folder as `pr2 train --warm-start` leaves it: a merged warm-start model (base + a rank-4 change in every
    linear layer) and a final rank-4 adapter trained on top of it."""
    torch.manual_seed(1)
    start = AutoModelForCausalLM.from_pretrained(tiny_llama_dir)
    warm = get_peft_model(start, LoraConfig(r=4, lora_alpha=8, target_modules="all-linear"))
    for name, p in warm.named_parameters():
        if "lora_" in name:
            p.data.normal_(0, 0.05)
    run = tmp_path / "run"
    warm.merge_and_unload().save_pretrained(run / "warm-start")
    AutoTokenizer.from_pretrained(tiny_llama_dir).save_pretrained(run / "warm-start")
    grpo = get_peft_model(AutoModelForCausalLM.from_pretrained(run / "warm-start"), LoraConfig(r=4, lora_alpha=8))
    for name, p in grpo.named_parameters():
        if "lora_B" in name:
            p.data.normal_(0, 0.05)
    grpo.save_pretrained(run / "final")
    (run / "final" / "pr2-base-model.json").write_text(json.dumps({"base_model": str(run / "warm-start")}))
    (run / "pr2-train-config.json").write_text(json.dumps({"model": str(tiny_llama_dir)}))
    return run


def _logits(model, ids):
    with torch.no_grad():
        return model(ids).logits


def test_export_at_the_summed_rank_is_the_trained_policy_on_the_base_model(warm_started_run, tiny_llama_dir, tmp_path):
    ids = torch.randint(0, 1000, (2, 12))
    merged = PeftModel.from_pretrained(
        AutoModelForCausalLM.from_pretrained(warm_started_run / "warm-start"), warm_started_run / "final"
    ).merge_and_unload()
    summary = export_adapter(warm_started_run, tmp_path / "exported", rank=8, dtype="fp32")
    assert summary["min_norm_kept"] > 0.999999
    exported = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_llama_dir), tmp_path / "exported")
    base = AutoModelForCausalLM.from_pretrained(tiny_llama_dir)
    assert torch.allclose(_logits(exported, ids), _logits(merged, ids), atol=1e-4)
    assert not torch.allclose(_logits(base, ids), _logits(merged, ids), atol=1e-2)  # the test can tell them apart


def test_export_below_the_summed_rank_reports_what_it_drops(warm_started_run, tmp_path):
    summary = export_adapter(warm_started_run, tmp_path / "low", rank=2)
    assert 0 < summary["min_norm_kept"] < 0.99
    assert json.loads((tmp_path / "low" / "export.json").read_text())["rank"] == 2


def test_export_of_an_unfinished_run_is_a_one_line_error(tmp_path):
    with pytest.raises(PR2Error, match="no final adapter"):
        export_adapter(tmp_path, tmp_path / "out")


def test_a_run_started_from_another_runs_warm_start_exports_onto_the_original_base(
    warm_started_run, tiny_llama_dir, tmp_path
):
    """Two estimators trained from one warm start (`--set model=RUN/warm-start --set warm_start=false`): the run's
    config names the warm start as its model, but the shipped adapter must load on the base model it came from."""
    (warm_started_run / "warm-start" / "pr2-warm-start.json").write_text(
        json.dumps({"base_model": str(tiny_llama_dir)})
    )
    (warm_started_run / "pr2-train-config.json").write_text(json.dumps({"model": str(warm_started_run / "warm-start")}))
    ids = torch.randint(0, 1000, (2, 12))
    merged = PeftModel.from_pretrained(
        AutoModelForCausalLM.from_pretrained(warm_started_run / "warm-start"), warm_started_run / "final"
    ).merge_and_unload()
    summary = export_adapter(warm_started_run, tmp_path / "exported", rank=8, dtype="fp32")
    assert summary["base_model"] == str(tiny_llama_dir)
    exported = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_llama_dir), tmp_path / "exported")
    assert torch.allclose(_logits(exported, ids), _logits(merged, ids), atol=1e-4)


@pytest.fixture
def run_from_start_adapter(tiny_llama_dir, tmp_path):
    """A run folder as `pr2 train --set start_adapter=DIR` leaves it (no warm start): its policy was the base with
    the start adapter merged, and the final adapter was trained on top of that."""
    torch.manual_seed(2)
    start = get_peft_model(
        AutoModelForCausalLM.from_pretrained(tiny_llama_dir), LoraConfig(r=4, lora_alpha=8, target_modules="all-linear")
    )
    for name, p in start.named_parameters():
        if "lora_" in name:
            p.data.normal_(0, 0.05)
    start.save_pretrained(tmp_path / "start-adapter")
    run = tmp_path / "run"
    grpo = get_peft_model(start.merge_and_unload(), LoraConfig(r=4, lora_alpha=8))
    for name, p in grpo.named_parameters():
        if "lora_B" in name:
            p.data.normal_(0, 0.05)
    grpo.save_pretrained(run / "final")
    base_record = {"base_model": str(tiny_llama_dir), "start_adapter": str(tmp_path / "start-adapter")}
    (run / "final" / "pr2-base-model.json").write_text(json.dumps(base_record))
    (run / "pr2-train-config.json").write_text(json.dumps({"model": str(tiny_llama_dir)}))
    return run


def test_a_run_continued_from_a_start_adapter_exports_both_changes(run_from_start_adapter, tiny_llama_dir, tmp_path):
    from pr2.train.config import TrainConfig
    from pr2.train.policy import load_policy

    ids = torch.randint(0, 1000, (2, 12))
    start, _ = load_policy(TrainConfig(model=str(tiny_llama_dir), start_adapter=str(tmp_path / "start-adapter")))
    trained = PeftModel.from_pretrained(start, run_from_start_adapter / "final").merge_and_unload()
    summary = export_adapter(run_from_start_adapter, tmp_path / "exported", rank=8, dtype="fp32")
    assert summary["min_norm_kept"] > 0.999999
    exported = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_llama_dir), tmp_path / "exported")
    assert torch.allclose(_logits(exported, ids), _logits(trained, ids), atol=1e-4)
    # GRPO's adapter alone on the base (what an export that forgot the start would give) is another policy
    grpo_only = PeftModel.from_pretrained(
        AutoModelForCausalLM.from_pretrained(tiny_llama_dir), run_from_start_adapter / "final"
    )
    assert not torch.allclose(_logits(grpo_only, ids), _logits(trained, ids), atol=1e-2)
