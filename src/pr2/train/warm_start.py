"""Warm start (rejection-sampling fine-tuning) for models that do not follow the protocol yet.

Sample trajectories with the example-turn prompt, keep per question the best ones that searched and answered,
fine-tune on them with TRL's SFTTrainer and LoRA, but with the prompt *without* the example turn (so the protocol
is learned, not copied), and only on the model's own tokens (inserted information is masked out). The LoRA is
merged into a full model folder that GRPO then starts from.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import replace
from pathlib import Path

import torch

from pr2.agent import run_agent
from pr2.agent.loop import episode_prompt_ids
from pr2.data.io import write_json_atomic
from pr2.errors import PR2Error

log = logging.getLogger(__name__)


def select_trajectories(trajectories, rewards, keep: int) -> list[tuple]:
    """Per question, the `keep` highest-reward (trajectory, reward) pairs among episodes that searched and answered."""
    best: dict[str, list] = {}
    for t, r in zip(trajectories, rewards, strict=True):
        if t.searches and t.ended == "answer":
            best.setdefault(t.question_id, []).append((t, r))
    return [pair for pairs in best.values() for pair in sorted(pairs, key=lambda p: -p[1])[:keep]]


def warm_start(config, questions, output_dir: Path, judge) -> Path:
    from datasets import Dataset
    from peft import LoraConfig
    from trl import SFTConfig, SFTTrainer

    from pr2.generation.hf import HFGenerator
    from pr2.retrieval import load_retriever
    from pr2.train.reward import answer_reward
    from pr2.train.trainer import agent_config, load_policy

    output_dir = Path(output_dir)
    if (output_dir / "config.json").exists():
        log.info("warm start: reusing %s", output_dir)
        return output_dir
    work = output_dir.with_name(output_dir.name + ".tmp")
    shutil.rmtree(work, ignore_errors=True)  # left by a run killed mid-way: start over
    model, tokenizer = load_policy(config)
    generator = HFGenerator(model.eval(), tokenizer, model_name=config.model)
    sampling = {k: config.trl_value(k) for k in ("temperature", "top_p")}
    agent = replace(agent_config(config), example_turn=True, seed=0, **sampling)
    many = [q for q in questions for _ in range(config.warm_start_samples)]
    trajectories = run_agent(many, generator, agent, retriever=load_retriever(config.retriever))
    by_id = {q.id: q for q in questions}
    rewards = [answer_reward(by_id[t.question_id], t.answer, judge) for t in trajectories]
    kept = select_trajectories(trajectories, rewards, config.warm_start_keep)
    log.info("warm start: kept %d of %d trajectories", len(kept), len(trajectories))
    if not kept:
        raise PR2Error("warm start: no sampled trajectory both searched and answered; raise warm_start_samples")
    no_example = replace(agent, example_turn=False)
    rows = []
    for t, _ in kept:
        prompt = episode_prompt_ids(by_id[t.question_id].question, no_example, tokenizer)
        rows.append({"input_ids": prompt + t.completion_ids, "completion_mask": [0] * len(prompt) + t.loss_mask})
    args = SFTConfig(
        output_dir=str(work / "sft"),
        num_train_epochs=config.warm_start_epochs,
        learning_rate=config.warm_start_learning_rate,
        per_device_train_batch_size=2,
        completion_only_loss=True,
        report_to="none",
        save_strategy="no",
        logging_steps=1,
        use_cpu=not torch.cuda.is_available(),
        max_length=None,
    )
    peft = LoraConfig(
        r=config.lora_r, lora_alpha=config.lora_alpha, target_modules=config.lora_target_modules, task_type="CAUSAL_LM"
    )
    trainer = SFTTrainer(
        model=model.train(),
        args=args,
        train_dataset=Dataset.from_list(rows),
        processing_class=tokenizer,
        peft_config=peft,
    )
    trainer.train()
    merged = trainer.model.merge_and_unload()
    merged.save_pretrained(work / "model")
    tokenizer.save_pretrained(work / "model")
    summary = {
        "base_model": config.model,
        "sampled": len(trajectories),
        "kept": [
            {"question_id": t.question_id, "reward": reward, "text": t.text, **row}
            for (t, reward), row in zip(kept, rows, strict=True)
        ],
    }
    write_json_atomic(work / "model" / "pr2-warm-start.json", summary)
    (work / "model").rename(output_dir)  # only a complete model folder ever appears under the final name
    shutil.rmtree(work)
    return output_dir
