"""The policy of a training run: its dtype (the one place that decides bf16), loading it with its start adapter
merged, merging a LoRA, and the run's LoRA settings. The trainer, the warm start and the export all use these, so
none of them imports another to reach them."""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from pr2.errors import PR2Error
from pr2.generation.packed import pack_linears
from pr2.train.config import TrainConfig

log = logging.getLogger(__name__)


def uses_bf16(config: TrainConfig) -> bool:
    """The one place that decides bf16 for a run (the policy's weights, GRPO's and the warm start's autocast): the
    config's `bf16` (TRL's field), where `auto` means bf16 on GPUs and on CPUs with native bf16 (AVX512-BF16 or
    AMX), else fp32, the exact reference. With LoRA the frozen base runs in bf16 and the adapter trains in fp32."""
    from pr2.generation.hf import cpu_has_native_bf16

    wanted = config.trl.get("bf16", "auto" if torch.cuda.is_available() else False)
    if torch.cuda.is_available():
        return wanted is True or wanted == "auto"
    if wanted == "auto":
        return cpu_has_native_bf16()
    if wanted and not cpu_has_native_bf16():
        # Measured 2026-12-02 on an AVX2-only CPU: one LoRA step 157 s in bf16 against 7 s in fp32
        # (benchmarks/bf16_train_step.py): a warm start that takes minutes in fp32 takes an hour.
        log.warning(
            "bf16: true on a CPU without native bf16 (no AVX512-BF16 or AMX): bf16 is emulated here and a training "
            "step runs about 20x slower than fp32; use bf16: auto (bf16 where the CPU has it, else fp32)"
        )
    return bool(wanted)


def policy_dtype(config: TrainConfig) -> torch.dtype:
    return torch.bfloat16 if uses_bf16(config) else torch.float32


def lora_config(config: TrainConfig):
    """The one LoRA of a run (GRPO's and the warm start's), or None when `lora: false` (full fine-tuning)."""
    if not config.lora:
        return None
    from peft import LoraConfig

    return LoraConfig(
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=config.lora_target_modules,
        task_type="CAUSAL_LM",
    )


def load_policy(config: TrainConfig, path: str | None = None, device=None):
    """The policy and its tokenizer in `policy_dtype`, on `device` when given (generation before the trainer).
    The Hub or a missing folder fails in one line, as `pr2 run` does."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from pr2.errors import first_line
    from pr2.generation.models import resolve_model

    source = path or resolve_model(config.model)
    dtype = policy_dtype(config)
    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
        model = AutoModelForCausalLM.from_pretrained(source, dtype=dtype)
    except Exception as err:
        raise PR2Error(f"cannot load model {config.model!r} ({source}): {first_line(err)}") from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if path is None and config.start_adapter:  # a folder given by path (a warm start) already holds it
        model = merge_adapter(model, config.start_adapter, "start_adapter")
        log.info("policy starts from %s merged into its base", config.start_adapter)
    log.info("policy %s in %s", config.model, str(dtype).removeprefix("torch."))
    if device is not None:
        model = model.to(device)
    return model, tokenizer


def merge_adapter(model, adapter: str, what: str):
    """`model` with the LoRA in folder `adapter` merged into its weights (in the model's dtype); `what` names the
    adapter in a one-line error."""
    import warnings

    from peft import PeftModel

    from pr2.errors import first_line

    if not (Path(adapter) / "adapter_config.json").is_file():
        raise PR2Error(f"{what} {adapter!r}: no adapter_config.json there (a LoRA folder is expected)")
    try:
        with warnings.catch_warnings():  # peft asks transformers a deprecated question; not the user's concern
            warnings.simplefilter("ignore", FutureWarning)
            return PeftModel.from_pretrained(model, adapter).merge_and_unload()
    except Exception as err:
        raise PR2Error(f"cannot merge {what} {adapter!r}: {first_line(err)}") from None


class MergedDecoder:
    """A copy of a LoRA policy with the adapter merged into its weights, for decoding rollouts: one matmul a layer
    instead of the base's plus the adapter's two (and peft's per-layer dispatch). The LoRA-targeted weights are
    refreshed from the trained ones when the optimizer has stepped since; the trained model's frozen base is never
    merged into or unmerged in place (each round trip would round its bf16 weights once more)."""

    def __init__(self) -> None:
        self.model = None
        self.step: int | None = None
        self._pairs: list = []  # (the copy's Linear, the policy's LoRA layer)

    def get(self, policy, step: int):
        """The merged copy of `policy` (a PeftModel) as of optimizer step `step`."""
        import copy

        from peft.tuners.lora import LoraLayer

        if self.model is None:
            self.model = copy.deepcopy(policy).merge_and_unload().eval()
            for param in self.model.parameters():
                param.requires_grad_(False)
            pack_linears(self.model)  # bf16 on a CPU: packed weights, repacked when a refresh writes them
            merged = dict(self.model.named_modules())
            prefix = "base_model.model."
            self._pairs = [
                (merged[name.removeprefix(prefix)], layer)
                for name, layer in policy.named_modules()
                if isinstance(layer, LoraLayer)
            ]
            self.step = step
        elif step != self.step:
            with torch.no_grad():
                for target, layer in self._pairs:
                    (adapter,) = layer.active_adapters
                    weight = layer.get_base_layer().weight.float() + layer.get_delta_weight(adapter).float()
                    target.weight.copy_(weight.to(target.weight.dtype))
            self.step = step
        return self.model
