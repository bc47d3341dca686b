"""The training configuration: pr2's own fields plus any field of TRL's GRPOConfig, from YAML and `--set`.

One place per default: pr2's defaults live in `TrainConfig`, TRL's in `GRPOConfig` (overridden only by
`TRL_DEFAULTS` below, where pr2 needs another value).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pr2.errors import PR2Error


@dataclass
class TrainConfig:
    """Everything `pr2 train` needs; TRL's GRPOConfig fields go in `trl`."""

    model: str = "smollm2"
    """The policy: a preset (smollm2, qwen, gemma, llama), a Hub id or a local path."""
    dataset: str | None = None
    """Training questions (.json/.jsonl); None uses the bundled sample."""
    split: str | None = "train"
    """Keep questions of this split (records without one are kept)."""
    subsets: str = "ALL"
    """ALL or a comma list of LaMP-QA categories."""
    limit: int | None = None
    """Use only the first N questions."""
    advantage: str = "nonpersonalized"
    """`nonpersonalized` (PR²: baseline = judged reward of the reference policy's answer without the profile) or
    `group` (standard GRPO: baseline = mean reward of the group)."""
    judge_model: str = "minilm"
    """Reward judge: an LLM (preset/id/path/served name) or a sentence-transformers model for `embedding`."""
    judge_mode: str = "embedding"
    """generate, logprob or embedding (the CPU proxy)."""
    judge_backend: str = "hf"
    """Back end of an LLM judge; a large judge usually runs behind `openai` on other GPUs."""
    judge_base_url: str | None = None
    """Server URL of the judge for the openai back end."""
    judge_smooth: bool = True
    """For the embedding judge: a graded score instead of 0/1/2 steps, so rewards differ within a group."""
    lora: bool = True
    """Train a LoRA adapter (PEFT); False trains all weights."""
    lora_r: int = 16
    """LoRA rank."""
    lora_alpha: int = 32
    """LoRA scaling."""
    lora_dropout: float = 0.0
    """LoRA dropout."""
    lora_target_modules: str = "all-linear"
    """Which modules get adapters (PEFT's `target_modules`)."""
    top_k: int = 3
    """Profile posts inserted per search."""
    max_searches: int = 4
    """Searches per episode."""
    max_turn_tokens: int = 256
    """New tokens per turn."""
    max_model_len: int = 2048
    """Token budget of an episode (prompt + everything generated and inserted)."""
    item_tokens: int = 128
    """Each inserted post is cut to this many tokens."""
    example_turn: bool = True
    """Show the worked example episode in the prompt (small models need it)."""
    force_answer: bool = True
    """After the last search, the inserted text opens the answer tag, so the next turn is the answer."""
    prefill: str | None = "<think>"
    """Text the assistant turn starts with (part of the prompt, never trained on)."""
    retriever: str = "minilm"
    """What search uses: bm25, minilm, contriever, or an encoder id/path."""
    candidate_pool: int | None = None
    """Search only the first K posts of a ranked profile."""
    warm_start: bool = False
    """Rejection-sampling fine-tuning before GRPO (for models that do not follow the protocol yet)."""
    warm_start_samples: int = 4
    """Trajectories sampled per training question for the warm start."""
    warm_start_keep: int = 1
    """Best trajectories kept per question (only ones that searched and answered)."""
    warm_start_epochs: int = 2
    """SFT epochs of the warm start."""
    warm_start_learning_rate: float = 2e-4
    """SFT learning rate of the warm start."""
    trl: dict[str, Any] = field(default_factory=dict)
    """Fields of TRL's GRPOConfig (learning_rate, beta, loss_type, num_generations, max_steps, save_steps, ...)."""

    def trl_value(self, name: str) -> Any:
        """The TRL field as this run will have it: set here, else pr2's default, else GRPOConfig's own."""
        if name in self.trl:
            return self.trl[name]
        if name in TRL_DEFAULTS:
            return TRL_DEFAULTS[name]
        from trl import GRPOConfig

        return GRPOConfig.__dataclass_fields__[name].default

    @property
    def output_dir(self) -> str:
        return str(self.trl_value("output_dir"))


# pr2's values for TRL fields whose TRL default does not suit this task.
TRL_DEFAULTS: dict[str, Any] = {
    "output_dir": "runs/pr2",
    "logging_steps": 1,
    "save_strategy": "steps",
    "save_steps": 50,
    "report_to": "none",
    "num_generations": 4,
    "per_device_train_batch_size": 4,
    "gradient_accumulation_steps": 1,
    "learning_rate": 1e-5,
    "temperature": 1.0,
    "max_completion_length": 2048,
    "remove_unused_columns": False,
    "seed": 0,
}


def _grpo_fields() -> set[str]:
    from trl import GRPOConfig

    return {f.name for f in dataclasses.fields(GRPOConfig)}


def apply_overrides(config: TrainConfig, items: dict[str, Any]) -> TrainConfig:
    ours = {f.name: f for f in dataclasses.fields(TrainConfig) if f.name != "trl"}
    trl_fields = None
    for key, value in items.items():
        if key in ours:
            setattr(config, key, value)
            continue
        trl_fields = trl_fields or _grpo_fields()
        if key not in trl_fields:
            raise PR2Error(
                f"unknown training config key {key!r}: not a pr2 TrainConfig field nor a TRL GRPOConfig field"
            )
        config.trl[key] = value
    return config


def parse_set(items: list[str]) -> dict[str, Any]:
    """`key=value` strings; values are read as YAML (numbers, booleans, null, lists)."""
    out = {}
    for item in items:
        if "=" not in item:
            raise PR2Error(f"--set {item!r}: expected key=value")
        key, value = item.split("=", 1)
        out[key.strip()] = _scalar(yaml.safe_load(value)) if value != "" else ""
    return out


def _scalar(value: Any) -> Any:
    """YAML 1.1 reads `1e-3` as a string; a number is what every such key means."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def load_train_config(path: str | Path | None = None, overrides: list[str] | None = None) -> TrainConfig:
    config = TrainConfig()
    if path is not None:
        path = Path(path)
        if not path.exists():
            raise PR2Error(f"training config {path} does not exist")
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as err:
            raise PR2Error(f"{path}: malformed YAML ({' '.join(str(err).split())})") from None
        if not isinstance(data, dict):
            raise PR2Error(f"{path}: must be a mapping of config keys")
        try:
            apply_overrides(config, {k: _scalar(v) for k, v in data.items()})
        except PR2Error as err:
            raise PR2Error(f"{path}: {err}") from None
    apply_overrides(config, parse_set(overrides or []))
    if config.advantage not in ("group", "nonpersonalized"):
        raise PR2Error(f"advantage must be group or nonpersonalized, got {config.advantage!r}")
    return config
