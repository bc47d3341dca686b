"""The training configuration: pr2's own fields plus any field of TRL's GRPOConfig, from YAML and `--set`.

One place per default: pr2's defaults live in `TrainConfig`, TRL's in `GRPOConfig` (overridden only by
`TRL_DEFAULTS` below, where pr2 needs another value).
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pr2.agent.protocol import AgentConfig
from pr2.errors import PR2Error

ADVANTAGES = ("nonpersonalized", "centered", "group")
RECIPES = ("paper", "laptop", "custom")


@dataclass
class TrainConfig:
    """Everything `pr2 train` needs; TRL's GRPOConfig fields go in `trl`."""

    recipe: str = "custom"
    """What this config claims to be. `paper`: PR² as published (the judge's reward alone, the non-personalized
    baseline in the advantage, inserted text never trained on); every laptop-only setting (`LAPTOP_ONLY`) is refused
    with a one-line error naming it. `laptop`: the laptop recipe for a small model on a generated benchmark, which may
    add those devices and refuses data whose aspects name no evidence post (LaMP-QA's do not). `custom`: neither
    claim; any setting. A declaration, not a setting: it is left out of a run's fingerprint."""
    model: str = "smollm2"
    """The policy: a preset (smollm2, qwen, gemma, llama), a Hub id or a local path."""
    start_adapter: str | None = None
    """A LoRA adapter merged into `model` before anything else (warm start, r_np, GRPO): continue training a policy
    you already have, such as one `pr2 export-adapter` wrote or the package's shipped laptop policy. Its own
    pr2-agent.json is not read: the agent loop is this config's. `pr2 export-adapter` folds it into the exported
    adapter (one LoRA on `model` for start and training together)."""
    dataset: str | None = None
    """Training questions (.json/.jsonl); None uses the bundled sample."""
    split: str | None = "train"
    """Keep questions of this split (records without one are kept)."""
    subsets: str = "ALL"
    """ALL or a comma list of LaMP-QA categories."""
    limit: int | None = None
    """Use only the first N questions."""
    advantage: str = "nonpersonalized"
    """`nonpersonalized` (PR²: baseline = judged reward of the reference policy's answer without the profile),
    `centered` (PR²'s r - r_np, then centred within the group: pushes worse-than-the-group episodes down even where
    r_np is 0 for every question, as on a fact benchmark where a profile-free answer states no fact; not PR²: the
    laptop recipe uses it, docs/laptop.md) or `group` (standard GRPO: baseline = mean reward of the group)."""
    judge_model: str = "minilm"
    """Reward judge: an LLM (preset/id/path/served name) or a sentence-transformers model for `embedding`."""
    judge_mode: str = "embedding"
    """generate, logprob or embedding (the CPU proxy)."""
    judge_protocol: str = "lamp-qa"
    """An LLM judge's text: lamp-qa (the benchmark's judge, read from its code at run time) or pr2 (pr2's own)."""
    lamp_qa_repo: str | None = None
    """A checkout of the LaMP-QA repository for the lamp-qa protocol (else $LAMP_QA_REPO, else a pinned download)."""
    judge_backend: str = "hf"
    """Back end of an LLM judge; a large judge usually runs behind `openai` on other GPUs."""
    judge_base_url: str | None = None
    """Server URL of the judge for the openai back end."""
    judge_api_key_addr: str | None = None
    """File with the judge server's API key (else $OPENAI_API_KEY); never logged or saved."""
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
    agent: AgentConfig = field(default_factory=AgentConfig)
    """The agent loop of every rollout (pr2.agent.AgentConfig, the same fields as `pr2 run`): `agent.max_searches`,
    `agent.max_model_len`, ... in YAML (a nested mapping) and `--set`. Its temperature, top_p and seed are TRL's."""
    r_np_chunk_size: int = 64
    """r_np is computed in fixed chunks of this many questions, each written as it is judged (a killed run keeps
    them) and, under several processes, chunk i made by process i mod N; a chunk is the same batch on any process,
    so N processes give exactly the r_np of one."""
    advantage_std_floor: float = 0.1
    """PR²'s advantage is (r - r_np) / max(std of the group, this floor). Rewards lie in [0, 1]: a group whose std is
    below the floor holds near-equal rewards, and dividing their tiny spread by it (0.40, 0.401, 0.40, 0.40 with r_np
    0.2 gave A = 333 for all four at TRL's eps 1e-4) would let one flat group swamp the update. With 0.1, |A| <= 10,
    while any group that does separate its samples (std >= 0.1) keeps the paper's estimator unchanged."""
    evidence_bonus: float = 0.0
    """GENERATED BENCHMARKS ONLY (`pr2 synth`, whose aspects name their evidence post): a shaping term added to the
    judged reward, this weight x the share of the question's evidence posts that the episode's searches retrieved.
    It pays for finding what the user wrote about each facet, which only a search for that facet does: echoing the
    question, copying on-theme posts or listing values earns none of it (tests/train/test_reward.py). It gives a
    small policy a signal before its answers earn the judge's. Laptop recipe only (refused by `recipe: paper`), and
    an error on data without evidence posts. Runs report the judged reward apart (`judged_reward`)."""
    evidence_bonus_needs_answer: bool = False
    """Pay `evidence_bonus` only to episodes that end with an answer. Without it, an episode that searches to the limit
    and never answers keeps its bonus, and a policy can learn to stop answering (seen in a laptop run:
    docs/experiments/2026-12-03-two-advantage-estimators.md). A negative bonus (see `evidence_bonus_above_chance`)
    stays on an unanswered episode: leaving the question unanswered is no escape from it."""
    evidence_bonus_above_chance: bool = False
    """Pay `evidence_bonus` only for evidence beyond chance: the share retrieved less the share that as many posts
    drawn at random from the profile would retrieve (their number over the profile's size). The plain bonus pays a
    search that knows nothing: a fixed query ranks posts about as well as at random (docs/experiments/
    2026-12-03-chance.md). Posts the question's own words find (its top top_k x max_searches, where no target lies)
    are left out of both counts, so searching with the question costs nothing; a query drawn to posts that hold no
    evidence can be negative."""
    warm_start: bool = False
    """Rejection-sampling fine-tuning before GRPO (for models that do not follow the protocol yet)."""
    warm_start_search_proposals: list[str] | None = None
    """Words the warm start opens its sampled episodes' first search with, one per sample, each question trying
    `warm_start_samples` different ones (None: the policy's own searches). A proposed episode opens with "<think>I
    should check their WORD.</think>" and a search begun with WORD, which the policy closes or extends and then goes
    on from on its own; the selection keeps what the reward favours, and the fine-tuning trains on the opening as the
    policy's own text (GRPO's prompt holds only the loop's prefill). Proposals name no user's facts: every question
    tries the same list. Words supplied this way are supervision, not something the policy found: the laptop
    recipe's are the generated benchmark's facet names (laptop recipe only; refused by `recipe: paper`). For a policy
    that never samples such searches itself, which GRPO alone could not then reweight (docs/laptop.md)."""
    warm_start_propose_each_search: bool = False
    """Propose every search of a sample, not only its first: search j of sample k of the i-th question opens with
    words[(i + k x agent.max_searches + j) mod len(words)], so a sample searches different words (the turn after each
    search's results opens with the thought and the search begun, trained on like the first), where proposing the
    first alone can teach one word repeated. Needs warm_start_search_proposals; laptop recipe only."""
    warm_start_questions: int | None = None
    """Sample the warm start on the first N training questions only (None: all of them); GRPO uses them all."""
    warm_start_samples: int = 4
    """Trajectories sampled per training question for the warm start."""
    warm_start_keep: int = 1
    """Best trajectories kept per question (only ones that searched and answered)."""
    warm_start_epochs: int = 2
    """SFT epochs of the warm start."""
    warm_start_learning_rate: float = 2e-4
    """SFT learning rate of the warm start."""
    log_rollouts_every: int = 1
    """Record every N-th GRPO step's rollouts in OUTPUT_DIR/rollouts.jsonl for `pr2 view` (0: none): per group, its
    question and every trajectory with its reward, r_np, judged part and advantage."""
    log_rollout_groups: int = 4
    """Groups (questions) recorded per recorded step: the file grows by about 50 kB a step at the laptop settings."""
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


_NULL = ("null", "none", "~", "")
_TRUE, _FALSE = ("true", "yes", "on", "1"), ("false", "no", "off", "0")
AUTO_FIELDS = ("bf16",)
"""TRL fields that also take `auto`: bf16 where the device has it natively (a CPU without AVX512-BF16/AMX: fp32)."""


class _Raw(str):
    """A value typed on the command line: its text decides, read as the field's type (never a float's repr)."""


def _type_name(tp) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def coerce(key: str, value: Any, tp) -> Any:
    """`value` as the field type `tp` (int, float, bool, str, X | None, Literal, containers as given), else a one-line
    error naming the key, the value and the type expected."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if type(None) in args and (value is None or (isinstance(value, _Raw) and value.lower() in _NULL)):
            return None
        for option in (a for a in args if a is not type(None)):
            try:
                return coerce(key, value, option)
            except PR2Error:
                continue
        raise PR2Error(f"config key {key!r}: {value!r} is not a {_type_name(tp)}")
    if origin is typing.Literal:
        if value in args:
            return value
        raise PR2Error(f"config key {key!r}: {value!r} is not one of {', '.join(map(repr, args))}")
    raw = isinstance(value, _Raw)
    text = str(value).strip().lower() if raw else None
    if tp is bool:
        if isinstance(value, bool):
            return value
        if raw and text in _TRUE + _FALSE:
            return text in _TRUE
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if raw and text.lstrip("+-").isdigit():
            return int(text)
    elif tp is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if raw or isinstance(value, str):  # YAML 1.1 reads 1e-3 as a string
            try:
                return float(value)
            except ValueError:
                pass
    elif tp is str:
        if isinstance(value, str):
            return str(value)
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
    elif origin in (list, dict, tuple) or tp in (list, dict, Any) or not isinstance(tp, type):
        return yaml.safe_load(value) if raw else value
    elif isinstance(value, tp):
        return value
    raise PR2Error(f"config key {key!r}: {str(value)!r} is not a {_type_name(tp)}")


@functools.cache
def _hints(cls) -> dict[str, Any]:
    try:
        return typing.get_type_hints(cls)
    except Exception:  # a third-party config whose hints do not resolve: take its values as given
        return {f.name: Any for f in dataclasses.fields(cls)}


def _grpo_hints() -> dict[str, Any]:
    from trl import GRPOConfig

    return _hints(GRPOConfig)


def apply_overrides(config: TrainConfig, items: dict[str, Any]) -> TrainConfig:
    """Set pr2's fields (`agent.X` for the agent loop's; an `agent:` mapping too) and TRL's, each read as its type."""
    ours = _hints(TrainConfig)
    for key, value in items.items():
        if key == "agent" and isinstance(value, dict):
            apply_overrides(config, {f"agent.{k}": v for k, v in value.items()})
            continue
        if key.startswith("agent."):
            name = key.removeprefix("agent.")
            agent_hints = _hints(AgentConfig)
            if name not in agent_hints:
                raise PR2Error(f"unknown training config key {key!r}: not a field of the agent loop (AgentConfig)")
            setattr(config.agent, name, coerce(key, value, agent_hints[name]))
            continue
        if key in ours and key not in ("trl", "agent"):
            setattr(config, key, coerce(key, value, ours[key]))
            continue
        if key in AUTO_FIELDS and str(value).strip().lower() == "auto":
            config.trl[key] = "auto"  # decided where the policy loads (pr2.train.policy.uses_bf16)
            continue
        trl = _grpo_hints()
        if key not in trl and key in _hints(AgentConfig):
            raise PR2Error(f"training config key {key!r} belongs to the agent loop: write agent.{key}")
        if key not in trl:
            raise PR2Error(
                f"unknown training config key {key!r}: not a pr2 TrainConfig field nor a TRL GRPOConfig field"
            )
        config.trl[key] = coerce(key, value, trl[key])
    return config


def parse_set(items: list[str]) -> dict[str, Any]:
    """`key=value` strings; each value is read as its field's type when applied."""
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise PR2Error(f"--set {item!r}: expected key=value")
        key, value = item.split("=", 1)
        out[key.strip()] = _Raw(value)
    return out


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
            apply_overrides(config, data)
        except PR2Error as err:
            raise PR2Error(f"{path}: {err}") from None
    apply_overrides(config, parse_set(overrides or []))
    config.agent = dataclasses.replace(config.agent)  # the agent loop's own checks, on the values set one by one
    check_recipe(config)  # first: a paper config that gained a laptop device is told so, before any other check
    if config.advantage not in ADVANTAGES:
        raise PR2Error(f"advantage must be one of {', '.join(ADVANTAGES)}, got {config.advantage!r}")
    words = config.warm_start_search_proposals
    if words is not None and (
        not isinstance(words, list) or not words or not all(isinstance(w, str) and w.strip() for w in words)
    ):
        raise PR2Error(f"warm_start_search_proposals must be a list of words, got {words!r}")
    if config.warm_start_propose_each_search and not words:
        raise PR2Error("warm_start_propose_each_search needs warm_start_search_proposals (the words to propose)")
    return config


# Devices of the laptop recipe, which PR² as published does not have: (is it on?, why a paper recipe refuses it).
LAPTOP_ONLY: dict[str, tuple[Callable[[TrainConfig], bool], str]] = {
    "advantage": (
        lambda c: c.advantage != "nonpersonalized",
        "PR²'s advantage is (r - r_np) / std, the non-personalized baseline (`nonpersonalized`)",
    ),
    "evidence_bonus": (lambda c: bool(c.evidence_bonus), "PR²'s reward is the judge's alone"),
    "evidence_bonus_needs_answer": (lambda c: c.evidence_bonus_needs_answer, "it shapes the evidence bonus"),
    "evidence_bonus_above_chance": (lambda c: c.evidence_bonus_above_chance, "it shapes the evidence bonus"),
    "warm_start_search_proposals": (
        lambda c: c.warm_start_search_proposals is not None,
        "it supplies search words to the policy (a generated benchmark's facet names)",
    ),
    "warm_start_propose_each_search": (
        lambda c: c.warm_start_propose_each_search,
        "it writes the policy's searches for it in the warm start",
    ),
    "start_adapter": (lambda c: c.start_adapter is not None, "PR² trains from the base model"),
    "agent.answer_prefill": (
        lambda c: c.agent.answer_prefill is not None,
        "it writes the start of every answer for the policy",
    ),
}


def check_recipe(config: TrainConfig) -> None:
    """A `paper` recipe refuses every laptop-only setting, in one line naming the field and why."""
    if config.recipe not in RECIPES:
        raise PR2Error(f"recipe must be one of {', '.join(RECIPES)}, got {config.recipe!r}")
    if config.recipe != "paper":
        return
    for name, (is_on, why) in LAPTOP_ONLY.items():
        if is_on(config):
            raise PR2Error(
                f"recipe: paper refuses {name} (a laptop-recipe setting: {why}); remove it, or declare recipe: "
                "laptop or custom"
            )
