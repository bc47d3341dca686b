"""`pr2 train`: GRPO on TRL's GRPOTrainer with the PR² rollout, reward and advantage.

TRL brings the engine (accelerate/DeepSpeed for many GPUs, vLLM colocated or served for rollouts, PEFT for LoRA,
checkpoints and resume); pr2 brings the rollout_func, the reward functions and the non-personalized baseline.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from trl import GRPOConfig, GRPOTrainer

from pr2.agent import AgentConfig
from pr2.data.io import select_questions, write_json_atomic
from pr2.errors import PR2Error
from pr2.train.advantage import nonpersonalized_advantages
from pr2.train.config import TRL_DEFAULTS, TrainConfig
from pr2.train.metrics import MetricsFile
from pr2.train.reward import RewardFunctions
from pr2.train.rollout import make_rollout_func

log = logging.getLogger(__name__)


class PR2GRPOTrainer(GRPOTrainer):
    """GRPOTrainer whose advantages can use PR²'s non-personalized baseline instead of the group mean."""

    def __init__(self, *args, pr2_advantage: str, pr2_rewards: RewardFunctions, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.pr2_advantage, self.pr2_rewards = pr2_advantage, pr2_rewards

    def _generate_and_score_completions(self, inputs):
        output = super()._generate_and_score_completions(inputs)
        if self.pr2_advantage == "nonpersonalized":
            rewards = self.pr2_rewards
            r = torch.tensor(rewards.last_rewards, dtype=torch.float32, device=self.accelerator.device)
            r_np = torch.tensor(
                [rewards.r_np[q] for q in rewards.last_ids], dtype=torch.float32, device=self.accelerator.device
            )
            all_r, all_np = self.accelerator.gather(r), self.accelerator.gather(r_np)  # groups may span processes
            advantages = nonpersonalized_advantages(all_r, all_np, self.num_generations)
            start = self.accelerator.process_index * len(r)
            output["advantages"] = advantages[start : start + len(r)]
        return output


@dataclass
class TrainResult:
    output_dir: Path
    adapter_dir: Path
    global_step: int


def agent_config(config: TrainConfig) -> AgentConfig:
    return AgentConfig(
        top_k=config.top_k,
        max_searches=config.max_searches,
        max_turn_tokens=config.max_turn_tokens,
        max_model_len=config.max_model_len,
        item_tokens=config.item_tokens,
        example_turn=config.example_turn,
        force_answer=config.force_answer,
        prefill=config.prefill,
        retriever=config.retriever,
        candidate_pool=config.candidate_pool,
    )


def build_judge_for(config: TrainConfig, output_dir: Path):
    from pr2.judge import JudgeConfig, build_judge

    judge_config = JudgeConfig(
        model=config.judge_model, mode=config.judge_mode, cache_path=str(output_dir / "judge-cache.jsonl")
    )
    return build_judge(
        judge_config, smooth=config.judge_smooth, backend=config.judge_backend, base_url=config.judge_base_url
    )


def grpo_args(config: TrainConfig, n_reward_funcs_weights: list[float]) -> GRPOConfig:
    values = {**TRL_DEFAULTS, **config.trl, "reward_weights": n_reward_funcs_weights}
    if not torch.cuda.is_available():
        values.setdefault("use_cpu", True)
        values["bf16"] = False
    else:
        values.setdefault("bf16", True)
    try:
        return GRPOConfig(**values)
    except (TypeError, ValueError) as err:
        raise PR2Error(f"invalid TRL GRPOConfig settings: {' '.join(str(err).split())}") from None


def load_policy(config: TrainConfig, path: str | None = None):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from pr2.generation.models import resolve_model

    source = path or resolve_model(config.model)
    dtype = torch.bfloat16 if torch.cuda.is_available() else torch.float32
    tokenizer = AutoTokenizer.from_pretrained(source)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(source, dtype=dtype)
    return model, tokenizer


def train(
    config: TrainConfig, *, resume_from_checkpoint: str | None = None, recorder: list | None = None, judge=None
) -> TrainResult:
    """Run GRPO as `config` says. `recorder` (a list) receives each step's trajectories; `judge` (a `Judge`)
    replaces the one the config names, for a reward of your own."""
    from peft import LoraConfig
    from transformers import set_seed

    from pr2.retrieval import load_retriever

    output_dir = Path(config.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    set_seed(int(config.trl_value("seed")))
    questions = select_questions(config.dataset, split=config.split, subsets=config.subsets, limit=config.limit)
    by_id = {q.id: q for q in questions}
    write_json_atomic(output_dir / "pr2-train-config.json", asdict(config))

    start_from = None
    if judge is None:
        judge = build_judge_for(config, output_dir)
    if config.warm_start:
        from pr2.train.warm_start import warm_start

        start_from = str(warm_start(config, questions, output_dir / "warm-start", judge))
    model, tokenizer = load_policy(config, start_from)
    retriever = load_retriever(config.retriever)

    r_np: dict[str, float] = {}
    if config.advantage == "nonpersonalized":
        from pr2.generation.hf import HFGenerator
        from pr2.train.baseline import nonpersonalized_rewards

        reference = HFGenerator(model.eval(), tokenizer, model_name=config.model)
        judged_by = judge.describe()
        key = {"model": start_from or config.model, "judge": f"{judged_by['model']}/{judged_by['mode']}"}
        r_np = nonpersonalized_rewards(
            questions, reference, judge, output_dir / "r_np.json", key=key, max_tokens=config.max_turn_tokens
        )
        model.train()
    rewards = RewardFunctions(by_id, judge, r_np)
    funcs, weights = rewards.functions()

    from datasets import Dataset

    dataset = Dataset.from_list([{"prompt": q.id} for q in questions])
    peft_config = None
    if config.lora:
        peft_config = LoraConfig(
            r=config.lora_r,
            lora_alpha=config.lora_alpha,
            lora_dropout=config.lora_dropout,
            target_modules=config.lora_target_modules,
            task_type="CAUSAL_LM",
        )
    rollout = make_rollout_func(by_id, agent_config(config), retriever, tokenizer, recorder)
    trainer = PR2GRPOTrainer(
        model=model,
        reward_funcs=funcs,
        args=grpo_args(config, weights),
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=peft_config,
        callbacks=[MetricsFile(output_dir, rollout, rewards)],
        rollout_func=rollout,
        pr2_advantage=config.advantage,
        pr2_rewards=rewards,
    )
    if resume_from_checkpoint and not Path(resume_from_checkpoint).exists():
        raise PR2Error(f"checkpoint {resume_from_checkpoint} does not exist")
    trainer.train(resume_from_checkpoint=resume_from_checkpoint)
    adapter_dir = output_dir / "final"
    trainer.save_model(str(adapter_dir))
    tokenizer.save_pretrained(adapter_dir)
    (output_dir / "final" / "pr2-base-model.json").write_text(json.dumps({"base_model": start_from or config.model}))
    return TrainResult(output_dir, adapter_dir, trainer.state.global_step)
