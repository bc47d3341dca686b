"""`pr2 export-adapter`: one LoRA adapter on the *base* model for what a training run learned.

A run with a warm start learns in two parts: the warm start's LoRA, merged into a full model folder, then GRPO's
LoRA on top of that folder. Neither is usable alone on the base model, and the merged folder is the whole model
(540 MB for SmolLM2-135M in fp32). Each linear layer's total change, (warm start - base) + GRPO's B·A, has rank at
most the sum of the two ranks, so it is a LoRA again: we take its best rank-`rank` factors (truncated SVD, which is
exact when `rank` reaches that sum) and write them as a PEFT adapter that `--adapter` loads on the base model. PEFT
combines adapters that share a base (`add_weighted_adapter`), not a merged model with an adapter of its own, hence
the few lines of SVD here. `export.json` records, per run, how much of the change the chosen rank keeps.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import torch

from pr2.data.io import write_json_atomic
from pr2.errors import PR2Error

log = logging.getLogger(__name__)

DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}


def _trained_model(run_dir: Path):
    """The run's final policy as one full model (its start merged with the final adapter) and the base it came from."""

    from pr2.train.config import TrainConfig
    from pr2.train.policy import load_policy, merge_adapter

    final = run_dir / "final"
    if not (final / "adapter_config.json").exists():
        raise PR2Error(f"{run_dir}: no final adapter ({final}/adapter_config.json); the run has not finished")
    try:
        saved = json.loads((run_dir / "pr2-train-config.json").read_text(encoding="utf-8"))
        base_record = json.loads((final / "pr2-base-model.json").read_text(encoding="utf-8"))
        start = base_record["base_model"]
    except (OSError, ValueError, KeyError) as err:
        raise PR2Error(f"{run_dir}: cannot read the run's config or base model ({err})") from None
    # A run may start from another run's warm start (`--set model=RUN/warm-start --set warm_start=false`, how two
    # estimators share one start): the adapter must still load on the model that warm start was made from.
    warm_record = Path(start) / "pr2-warm-start.json"
    base_name = saved["model"]
    if warm_record.exists():
        base_name = json.loads(warm_record.read_text(encoding="utf-8"))["base_model"]
    # fp32: the merge adds the adapter without rounding. A run that started from `start_adapter` (no warm start)
    # started from the base with it merged: the exported change is that adapter's and GRPO's together.
    exact = TrainConfig(model=base_name, start_adapter=base_record.get("start_adapter"))
    model, tokenizer = load_policy(exact, None if start == base_name else start)  # a start that is the base: by name
    merged = merge_adapter(model, str(final), "the run's final adapter")
    # The base as the run saw it: a bf16 run trained on (and saved its warm start from) the bf16-rounded weights,
    # so its embeddings and norms equal those, not the fp32 originals.
    base, _ = load_policy(TrainConfig(model=base_name, trl=saved.get("trl", {})))
    return exact.model, merged, base.float(), tokenizer


def _factor(delta: torch.Tensor, rank: int) -> tuple[torch.Tensor, torch.Tensor, float]:
    """B (out x rank), A (rank x in) with B @ A the best rank-`rank` approximation of `delta`, and the share of
    delta's squared norm it keeps."""
    u, s, vh = torch.linalg.svd(delta.double(), full_matrices=False)
    r = min(rank, s.numel())
    root = s[:r].sqrt()
    kept = float((s[:r] ** 2).sum() / (s**2).sum().clamp_min(1e-300))
    return (u[:, :r] * root).float(), (root[:, None] * vh[:r]).float(), kept


def export_adapter(run_dir: str | Path, output: str | Path, *, rank: int = 32, dtype: str = "fp16") -> dict:
    """Write the run's learned change as a rank-`rank` LoRA on the base model into `output`; returns the summary."""
    from peft import LoraConfig, get_peft_model, get_peft_model_state_dict
    from safetensors.torch import save_file

    run_dir, output = Path(run_dir), Path(output)
    if dtype not in DTYPES:
        raise PR2Error(f"unknown dtype {dtype!r}; choose from {', '.join(DTYPES)}")
    base_name, trained, base, tokenizer = _trained_model(run_dir)
    trained_params = dict(trained.named_parameters())
    factors, kept, changed_other = {}, {}, []
    for name, module in base.named_modules():
        if not isinstance(module, torch.nn.Linear):
            continue
        delta = trained.get_submodule(name).weight.detach() - module.weight.detach()  # lm_head may be tied
        if delta.abs().max() == 0:
            continue
        b, a, share = _factor(delta, rank)
        factors[name], kept[name] = (b, a), share
    linear = {f"{n}.weight" for n in factors}
    for name, p in base.named_parameters():
        if name not in linear and not torch.equal(p, trained_params[name]):
            changed_other.append(name)
    if changed_other:  # a LoRA cannot carry them: refuse rather than ship a silently different model
        raise PR2Error(f"{run_dir}: the run changed weights that are not linear layers ({changed_other[0]}, ...)")
    if not factors:
        raise PR2Error(f"{run_dir}: the final policy equals the base model; nothing to export")
    leaves = sorted({n.rsplit(".", 1)[-1] for n in factors})
    peft_model = get_peft_model(base, LoraConfig(r=rank, lora_alpha=rank, target_modules=leaves, task_type="CAUSAL_LM"))
    with torch.no_grad():
        for name, module in peft_model.base_model.model.named_modules():
            if name in factors:
                b, a = factors[name]
                r = a.shape[0]  # below `rank` when the layer's matrix is smaller: the rest stays zero
                module.lora_A["default"].weight.zero_()[:r] = a
                module.lora_B["default"].weight.zero_()[:, :r] = b
            elif hasattr(module, "lora_A") and "default" in module.lora_A:
                module.lora_B["default"].weight.zero_()  # targeted by leaf name but unchanged: no-op
    state = {k: v.to(DTYPES[dtype]).contiguous() for k, v in get_peft_model_state_dict(peft_model).items()}
    tmp = output.with_name(output.name + ".tmp")
    tmp.mkdir(parents=True, exist_ok=True)
    peft_model.peft_config["default"].base_model_name_or_path = base_name
    peft_model.peft_config["default"].save_pretrained(str(tmp))
    save_file(state, str(tmp / "adapter_model.safetensors"))
    tokenizer.save_pretrained(tmp)
    summary = {
        "run": str(run_dir),
        "base_model": base_name,
        "rank": rank,
        "dtype": dtype,
        "layers": len(factors),
        "min_norm_kept": min(kept.values()),
        "mean_norm_kept": sum(kept.values()) / len(kept),
    }
    write_json_atomic(tmp / "export.json", summary)
    if output.exists():
        import shutil

        shutil.rmtree(output)
    tmp.rename(output)
    log.info("exported %d layers at rank %d to %s", len(factors), rank, output)
    return summary
