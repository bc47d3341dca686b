"""`pr2 train`: GRPO on TRL's GRPOTrainer with the PR² rollout, reward and advantage.

TRL brings the engine (accelerate/DeepSpeed for many processes, vLLM colocated or served for rollouts, PEFT for
LoRA, checkpoints and resume); pr2 brings the step below. Work done once per run (the warm start, r_np) is done by
the main process while the others wait, then read what it wrote; every generation runs on the policy's device.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from transformers.trainer import TRAINER_STATE_NAME
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR
from trl import GRPOConfig, GRPOTrainer

from pr2.data import fingerprint as fp
from pr2.data.fingerprint import data_digest
from pr2.data.io import select_questions, write_json_atomic
from pr2.errors import PR2Error
from pr2.secrets import redact_value
from pr2.train.advantage import centered_advantages, nonpersonalized_advantages
from pr2.train.config import TRL_DEFAULTS, TrainConfig, check_recipe
from pr2.train.metrics import MetricsFile
from pr2.train.policy import load_policy, lora_config, uses_bf16
from pr2.train.reward import PERSONALIZED, R_NP, column, reward_columns
from pr2.train.rollout import make_rollout_func
from pr2.train.scoring import GROUPING_FREE_LOSSES, compact_head_on_cpu, regroup_by_length, score_counted

log = logging.getLogger(__name__)


class PR2GRPOTrainer(GRPOTrainer):
    """The PR² step, on one screen: (1) rollout: the agent loop for every prompt (`rollout_func`); (2) reward: the
    judge's score of each answer, all of the step's pairs in one judge call; (3) r_np, the no-profile baseline, as a
    reward column of weight 0; (4) advantage: (r - r_np) / max(std of the group, floor) for `nonpersonalized`, TRL's
    own group advantage for `group`. Times and r - r_np go to TRL's logs (and so to metrics.jsonl)."""

    def __init__(
        self,
        *args,
        pr2_advantage: str,
        pr2_std_floor: float,
        pr2_columns,
        pr2_rollout_log=None,
        pr2_lean_scoring: bool = True,
        **kwargs,
    ) -> None:
        """`pr2_lean_scoring` False scores as TRL does (benchmarks/train_speed.py compares the two)."""
        super().__init__(*args, reward_funcs=[c.func for c in pr2_columns], **kwargs)
        self.pr2_lean_scoring = pr2_lean_scoring
        self.pr2_advantage, self.pr2_std_floor = pr2_advantage, pr2_std_floor
        self.pr2_rollout_log = pr2_rollout_log
        self.pr2_r, self.pr2_r_np = column(pr2_columns, PERSONALIZED), column(pr2_columns, R_NP)
        self._pr2_counted = None

    def _log(self, key: str, value: float) -> None:
        self._metrics["train" if self.model.training else "eval"][key].append(value)

    def _get_per_token_logps_and_entropies(
        self, model, input_ids, attention_mask, logits_to_keep, batch_size=None, compute_entropy=False,
        compute_aux_loss=False, **extra,
    ):  # fmt: skip
        """TRL's scores, computed on length-sorted chunks cut to their own columns, with only the tokens the loss
        reads scored (train/scoring.py); inputs beyond text (images, token types, MoE losses) take TRL's path."""
        if not self.pr2_lean_scoring or compute_aux_loss or any(value is not None for value in extra.values()):
            out = super()._get_per_token_logps_and_entropies(
                model, input_ids, attention_mask, logits_to_keep, batch_size, compute_entropy, compute_aux_loss,
                **extra,
            )  # fmt: skip
        else:
            counted = self._pr2_counted if compute_entropy else None  # the loss's pass knows its mask
            with compact_head_on_cpu():
                logps, entropies = score_counted(
                    model, input_ids, attention_mask, logits_to_keep, batch_size or input_ids.size(0), counted,
                    compute_entropy, self.accelerator.autocast,
                )  # fmt: skip
            out = (logps, entropies, None)
        if compute_entropy:  # the loss's own pass: kept for the sampler gap below
            self._pr2_trained_logps = out[0]
        return out

    def _prepare_inputs(self, generation_batch):
        """TRL's micro-batches of a new generation batch regrouped by length (the loss is unchanged where its
        normalisation does not depend on the grouping), so that little of each is padding."""
        before = self._buffered_inputs
        inputs = super()._prepare_inputs(generation_batch)
        fresh = self.model.training and self._buffered_inputs is not before and len(self._buffered_inputs) > 1
        if fresh and self.pr2_lean_scoring and self.loss_type in GROUPING_FREE_LOSSES:
            self._buffered_inputs = regroup_by_length(self._buffered_inputs)
            inputs = self._buffered_inputs[self._step % self.args.steps_per_generation]
        return inputs

    def _compute_loss(self, model, inputs):
        """TRL's loss, and the mean gap between the sampler's logprobs (the rollout's, full-vocabulary log-softmax
        of logits / T) and the trainer's for the same tokens: a sampler that drifts from the policy shows here."""
        loss_mask = inputs["completion_mask"]  # TRL's own loss mask
        if "tool_mask" in inputs:
            loss_mask = loss_mask * inputs["tool_mask"]
        self._pr2_counted = loss_mask
        try:
            loss = super()._compute_loss(model, inputs)
        finally:
            self._pr2_counted = None
        sampled, trained = inputs.get("sampling_per_token_logps"), getattr(self, "_pr2_trained_logps", None)
        self._pr2_trained_logps = None
        if sampled is not None and trained is not None and sampled.shape == trained.shape:
            mask = loss_mask.bool() & torch.isfinite(sampled)  # NaN: nothing was sampled there
            if mask.any():
                self._log("pr2/sampler_logp_gap", (trained.detach() - sampled).abs()[mask].mean().item())
        return loss

    def _generate(self, prompts):  # (1)
        started = time.perf_counter()
        out = super()._generate(prompts)
        self._log("pr2/rollout_seconds", time.perf_counter() - started)
        return out

    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):  # (2), (3)
        started = time.perf_counter()
        columns = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)  # all processes
        self._log("pr2/judge_seconds", time.perf_counter() - started)
        self._pr2_columns = columns  # read by the advantage below, within this same step
        return columns

    def _generate_and_score_completions(self, inputs):  # (4)
        output = super()._generate_and_score_completions(inputs)
        r, r_np = self._pr2_columns[:, self.pr2_r], self._pr2_columns[:, self.pr2_r_np]
        self._log("pr2/r_minus_r_np", (r - r_np).mean().item())
        estimator = {"nonpersonalized": nonpersonalized_advantages, "centered": centered_advantages}
        if self.pr2_advantage in estimator:
            advantages = estimator[self.pr2_advantage](r, r_np, self.num_generations, self.pr2_std_floor)
            n = len(output["advantages"])
            start = self.accelerator.process_index * n  # groups may span processes: computed on all, then sliced
            output["advantages"] = advantages[start : start + n].to(output["advantages"])
        if self.pr2_rollout_log is not None and self.accelerator.is_main_process:
            n = len(output["advantages"])
            local = slice(0, n)  # the main process's own completions come first in the gathered columns
            self.pr2_rollout_log.write(
                self.state.global_step + 1,
                self.rollout_func.last,
                self._pr2_columns[local].tolist(),
                output["advantages"].tolist(),
                self.num_generations,
            )
        return output


@dataclass
class TrainResult:
    output_dir: Path
    adapter_dir: Path
    global_step: int


def build_judge_for(config: TrainConfig, output_dir: Path):
    from pr2.judge import JudgeConfig, build_judge

    judge_config = JudgeConfig(
        model=config.judge_model,
        mode=config.judge_mode,
        protocol=config.judge_protocol,
        lamp_qa_repo=config.lamp_qa_repo,
        cache_path=str(output_dir / "judge-cache.jsonl"),
    )
    return build_judge(
        judge_config,
        smooth=config.judge_smooth,
        backend=config.judge_backend,
        base_url=config.judge_base_url,
        api_key_addr=config.judge_api_key_addr,
    )


# TRL fields that do not change what is learned, step by step: how long, how often saved or logged, where to.
_RUN_LENGTH_AND_LOGGING = {
    "output_dir", "max_steps", "num_train_epochs", "save_steps", "save_strategy", "save_total_limit",
    "logging_steps", "logging_dir", "report_to", "run_name", "use_cpu", "dataloader_num_workers", "push_to_hub",
}  # fmt: skip


_ADDED_AFTER_RUNS_EXISTED = (
    "r_np_chunk_size",
    "evidence_bonus_needs_answer",
    "evidence_bonus_above_chance",
    "start_adapter",
    "warm_start_search_proposals",
    "warm_start_propose_each_search",
)


def train_fingerprint(config: TrainConfig) -> dict:
    """What a resumed run must share with the one it continues: every setting that changes a step, the data, the
    agent's prompt (run length, saving and logging may change: `--set max_steps=` extends a run)."""
    from pr2.agent.run import agent_fingerprint

    settings = asdict(config)
    del settings["recipe"]  # a declaration checked at load, not a setting: it changes no step
    for name in _ADDED_AFTER_RUNS_EXISTED:  # at their default, a run made before the setting existed still resumes
        if settings[name] == type(config).__dataclass_fields__[name].default:
            del settings[name]
    settings["trl"] = {k: v for k, v in sorted(config.trl.items()) if k not in _RUN_LENGTH_AND_LOGGING}
    out = {
        "config": settings,
        "prompt": agent_fingerprint(config.agent)["prompt"],
        "data": data_digest(config.dataset),
    }
    if config.start_adapter:
        out["start_adapter"] = start_adapter_digest(Path(config.start_adapter))
    return out


# Where an adapter was saved from, and by which peft: they do not change what merging it gives.
_ADAPTER_CONFIG_PROVENANCE = ("base_model_name_or_path", "revision", "peft_version", "inference_mode")


def start_adapter_digest(folder: Path) -> str:
    """What a start adapter merges into the policy: its weights and the settings that scale and place them (rank,
    alpha, target modules), not its path, so a folder re-written in place is another start."""
    weights, settings = folder / "adapter_model.safetensors", folder / "adapter_config.json"
    for file in (weights, settings):
        if not file.is_file():
            raise PR2Error(f"start_adapter {str(folder)!r}: no {file.name} there")
    try:
        merged = json.loads(settings.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        merged = None
    if not isinstance(merged, dict):
        raise PR2Error(f"start_adapter {str(folder)!r}: {settings.name} is not a JSON object")
    merged = {k: v for k, v in merged.items() if k not in _ADAPTER_CONFIG_PROVENANCE}
    return fp.text_digest(json.dumps({"weights": fp.file_digest(weights), "config": merged}, sort_keys=True))


def run_outputs(output_dir: Path) -> list[Path]:
    """What a training run writes into its folder (what `--overwrite` removes)."""
    names = [
        "metrics.jsonl",
        "rollouts.jsonl",
        "r_np.json",
        "judge-cache.jsonl",
        "warm-start",
        "warm-start.tmp",
        "final",
    ]
    parts = sorted(output_dir.glob("r_np.part-*.json"))  # r_np chunks of a killed run of several processes
    return [output_dir / n for n in names] + parts + sorted(output_dir.glob(f"{PREFIX_CHECKPOINT_DIR}-*"))


def check_checkpoint(path: Path) -> int:
    """The step of a complete checkpoint (the Trainer writes trainer_state.json last), else a one-line error."""
    state_file = path / TRAINER_STATE_NAME
    if not path.is_dir():
        raise PR2Error(f"checkpoint {path} does not exist")
    try:
        return int(json.loads(state_file.read_text(encoding="utf-8"))["global_step"])
    except FileNotFoundError:
        raise PR2Error(f"{path}: incomplete checkpoint (no {TRAINER_STATE_NAME}: killed while saving)") from None
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, ValueError) as err:
        raise PR2Error(f"{state_file}: damaged ({' '.join(str(err).split()) or type(err).__name__})") from None


def latest_checkpoint(output_dir: Path) -> str | None:
    """The newest complete checkpoint of a run folder; a damaged or half-saved newer one is passed over, with a
    warning (the one before it loses only the steps since)."""
    steps = {p: p.name.rsplit("-", 1)[1] for p in output_dir.glob(f"{PREFIX_CHECKPOINT_DIR}-*")}
    for _, path in sorted(((int(n), p) for p, n in steps.items() if n.isdigit()), reverse=True):
        try:
            check_checkpoint(path)
            return str(path)
        except PR2Error as err:
            log.warning("passing over %s", err)
    return None


def grpo_args(config: TrainConfig) -> GRPOConfig:
    """TRL's GRPOConfig for this run (its own checks run here, before any expensive work); the reward weights are
    set from the reward columns when they are built."""
    values = {**TRL_DEFAULTS, **config.trl}
    if not torch.cuda.is_available():
        values.setdefault("use_cpu", True)
    values["bf16"] = uses_bf16(config)
    try:
        return GRPOConfig(**values)
    except (TypeError, ValueError) as err:
        raise PR2Error(f"invalid TRL GRPOConfig settings: {' '.join(str(err).split())}") from None


def process_state(config: TrainConfig):
    """accelerate's state for this run (MULTI_CPU/gloo under torchrun with use_cpu, NCCL on GPUs), made before the
    trainer so that the work done once (warm start, r_np) knows its rank and device."""
    from accelerate import PartialState

    use_cpu = bool(config.trl_value("use_cpu")) or not torch.cuda.is_available()
    return PartialState(cpu=use_cpu)


def compute_r_np(config: TrainConfig, questions, model, tokenizer, judge, output_dir: Path, state, base: str):
    """r_np per question, on the policy's device, in fixed chunks of `r_np_chunk_size` questions: one process
    writes r_np.json as it goes; N processes each make the chunks i with i mod N its rank (into its own part file,
    which a killed run resumes), gather them, and the main process writes r_np.json. A chunk is the same batch on
    any process, so the result is exactly one process's."""
    from accelerate.utils import gather_object

    from pr2.generation.hf import HFGenerator
    from pr2.train.baseline import cache_key, nonpersonalized_rewards, read_cache

    judged_by = judge.describe()
    key = {"model": base, "judge": f"{judged_by['model']}/{judged_by['mode']}"}
    size, rank, world = config.r_np_chunk_size, state.process_index, state.num_processes
    whole = output_dir / "r_np.json"
    done = read_cache(whole, cache_key(key, config.agent.answer_prefill))
    if all(q.id in done for q in questions):
        return {q.id: done[q.id] for q in questions}
    chunks = [questions[i : i + size] for i in range(0, len(questions), size)]
    mine = [q for i, chunk in enumerate(chunks) if i % world == rank for q in chunk]
    part = whole if world == 1 else output_dir / f"r_np.part-{rank}-of-{world}.json"
    reference = HFGenerator(model.eval(), tokenizer, model_name=config.model)
    ours = nonpersonalized_rewards(
        mine, reference, judge, part, key=key, max_tokens=config.agent.max_turn_tokens,
        answer_prefill=config.agent.answer_prefill, chunk_size=size,
    )  # fmt: skip
    model.train()
    if world == 1:
        return ours
    log.info("r_np: this process made %d of %d chunks (%d questions)", len(range(rank, len(chunks), world)),
             len(chunks), len(mine))  # fmt: skip
    r_np = {qid: value for part_r_np in gather_object([ours]) for qid, value in part_r_np.items()}
    if state.is_main_process:
        write_json_atomic(whole, {"key": cache_key(key, config.agent.answer_prefill), "r_np": r_np})
        for stale in output_dir.glob("r_np.part-*.json"):
            stale.unlink()
    state.wait_for_everyone()
    return {q.id: r_np[q.id] for q in questions}


def train(
    config: TrainConfig,
    *,
    resume_from_checkpoint: str | None = None,
    recorder: list | None = None,
    judge=None,
    overwrite: bool = False,
) -> TrainResult:
    """Run GRPO as `config` says, resuming from OUTPUT_DIR's latest complete checkpoint when there is one (or from
    `resume_from_checkpoint`); `overwrite` starts the folder over. `recorder` (a list) receives each step's
    trajectories; `judge` (a `Judge`) replaces the one the config names, for a reward of your own."""
    from datasets import Dataset

    from pr2.retrieval import load_retriever
    from pr2.train.rollout_log import RolloutLog

    check_recipe(config)  # a config built in Python, not through load_train_config, is held to its recipe too
    state = process_state(config)
    output_dir = Path(config.output_dir)
    questions, args = _questions_and_args(config)
    resume_from_checkpoint = _claim_run(config, output_dir, state, overwrite, resume_from_checkpoint)
    judge = judge or build_judge_for(config, output_dir)
    start_from = None
    if config.warm_start:
        from pr2.train.warm_start import warm_start

        start_from = str(warm_start(config, questions, output_dir / "warm-start", judge, state))
    model, tokenizer = load_policy(config, start_from, device=state.device)
    retriever = load_retriever(config.agent.retriever)
    columns = _reward(config, questions, model, tokenizer, judge, retriever, state, start_from)
    args.reward_weights = [c.weight for c in columns]  # only the personalized reward is optimised
    by_id = {q.id: q for q in questions}
    rollout_log = None
    if config.log_rollouts_every and state.is_main_process:
        resumed_at = check_checkpoint(Path(resume_from_checkpoint)) if resume_from_checkpoint else 0
        rollout_log = RolloutLog(
            output_dir / "rollouts.jsonl", by_id, config.log_rollouts_every, config.log_rollout_groups, columns,
            resumed_at,
        )  # fmt: skip
    trainer = PR2GRPOTrainer(
        model=model,
        pr2_columns=columns,
        args=args,
        train_dataset=Dataset.from_list([{"prompt": q.id} for q in questions]),
        processing_class=tokenizer,
        peft_config=lora_config(config),
        callbacks=[MetricsFile(output_dir)],
        rollout_func=make_rollout_func(by_id, config.agent, retriever, tokenizer, recorder),
        pr2_advantage=config.advantage,
        pr2_std_floor=config.advantage_std_floor,
        pr2_rollout_log=rollout_log,
    )
    trainer.train(resume_from_checkpoint=resume_from_checkpoint)
    adapter_dir = _save_final(trainer, tokenizer, config, output_dir, start_from, state)
    return TrainResult(output_dir, adapter_dir, trainer.state.global_step)


def _questions_and_args(config: TrainConfig):
    """The training questions (the laptop recipe's must name their evidence posts) and TRL's config, checked before
    any expensive work."""
    from transformers import set_seed

    set_seed(int(config.trl_value("seed")))
    questions = select_questions(config.dataset, split=config.split, subsets=config.subsets, limit=config.limit)
    if config.recipe == "laptop":
        from pr2.train.reward import check_evidence

        check_evidence({q.id: q for q in questions}, needed_by="recipe: laptop")
    return questions, grpo_args(config)


def _claim_run(config: TrainConfig, output_dir: Path, state, overwrite: bool, resume_from: str | None) -> str | None:
    """Claim OUTPUT_DIR for this run (a folder made by other settings is refused, `overwrite` starts it over) and
    say which checkpoint to resume from: the one given, else the latest complete one, else none."""
    output_dir.mkdir(parents=True, exist_ok=True)
    if state.is_main_process:
        fp.claim(output_dir / fp.NAME, train_fingerprint(config), run_outputs(output_dir), overwrite=overwrite)
        write_json_atomic(output_dir / "pr2-train-config.json", redact_value(asdict(config)))
    state.wait_for_everyone()
    if resume_from:
        check_checkpoint(Path(resume_from))
        return resume_from
    latest = latest_checkpoint(output_dir)
    if latest:
        log.info("resuming from %s (the latest complete checkpoint)", latest)
    return latest


def _reward(config: TrainConfig, questions, model, tokenizer, judge, retriever, state, start_from):
    """The reward columns of every step: the judge's reward (plus the laptop recipe's evidence bonus), r_np from
    the starting policy, and the columns that only inform the logs."""
    r_np: dict[str, float] = {}
    if config.advantage in ("nonpersonalized", "centered"):
        base = start_from or config.model
        r_np = compute_r_np(config, questions, model, tokenizer, judge, Path(config.output_dir), state, base)
    targets = reach = None
    if config.evidence_bonus:  # generated benchmarks only: evidence the question's own words do not find
        from pr2.train.reward import bonus_scope

        targets, reach = bonus_scope(questions, retriever, config.agent)
    return reward_columns(
        {q.id: q for q in questions}, judge, r_np, config.evidence_bonus, targets,
        needs_answer=config.evidence_bonus_needs_answer, above_chance=config.evidence_bonus_above_chance, reach=reach,
    )  # fmt: skip


def _save_final(trainer, tokenizer, config: TrainConfig, output_dir: Path, start_from: str | None, state) -> Path:
    """OUTPUT_DIR/final: GRPO's adapter, the tokenizer, the base it applies to and the agent settings it was
    trained with (`pr2 run --adapter` runs it as trained)."""
    from pr2.agent.settings import save_agent_settings

    adapter_dir = output_dir / "final"
    trainer.save_model(str(adapter_dir))  # the main process writes; TRL/accelerate handle the others
    if state.is_main_process:
        tokenizer.save_pretrained(adapter_dir)
        base = {"base_model": start_from or config.model}
        if config.start_adapter and not start_from:  # the base is the model with it merged (export-adapter folds it)
            base["start_adapter"] = config.start_adapter
        (adapter_dir / "pr2-base-model.json").write_text(json.dumps(base))
        save_agent_settings(adapter_dir, config.agent)
    state.wait_for_everyone()
    return adapter_dir
