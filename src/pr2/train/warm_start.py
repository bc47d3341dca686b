"""Warm start (rejection-sampling fine-tuning) for models that do not follow the protocol yet.

Sample trajectories with the example-turn prompt (kept in `warm-start.tmp/` as they are made, so a killed warm start
resumes its sampling), keep per question the best ones that searched and answered,
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
from pr2.data.io import JsonlWriter, remove_partial_folders, write_folder_atomic
from pr2.data.runs import unfinished_batches
from pr2.errors import PR2Error

log = logging.getLogger(__name__)


def select_trajectories(trajectories, rewards, keep: int) -> list[tuple]:
    """Per question, the `keep` highest-reward (trajectory, reward) pairs among episodes that searched and answered,
    by the reward GRPO then optimises (the judged reward, plus a configured shaping bonus); ties keep sampling order.
    Episodes whose reward is 0 are kept only where no episode of that question scored: they still teach the
    protocol (search, then answer), which a 135M model does not follow without them."""
    best: dict[str, list] = {}
    for t, r in zip(trajectories, rewards, strict=True):
        if t.searches and t.ended == "answer":
            best.setdefault(t.question_id, []).append((t, r))
    ranked = (sorted(pairs, key=lambda p: -p[1]) for pairs in best.values())
    return [pair for pairs in ranked for pair in pairs[:keep]]


def proposal_text(agent, word: str) -> str:
    """What a sample opens with when the warm start proposes its first search: a thought naming `word`, then the
    search opened with it (the policy closes it, or goes on writing the query). It follows the loop's own prefill,
    which must be the thought tag or nothing."""
    if agent.prefill not in (None, "", agent.think_open):
        raise PR2Error(
            f"warm_start_search_proposals needs agent.prefill to be {agent.think_open!r} or none, not {agent.prefill!r}"
        )
    opening = turn_opening(agent, word)
    return opening.removeprefix(agent.think_open) if agent.prefill else opening


def turn_opening(agent, word: str) -> str:
    """A turn that proposes searching `word`: the thought naming it and the search begun with it."""
    return f"{agent.think_open}I should check their {word}.{agent.think_close}\n{agent.search_open}{word}"


def sample_key(item) -> str:
    """A warm-start sample's key, (question, k) -> "question id#k": its record's, and its proposal's."""
    return f"{item[0].id}#{item[1]}"


def proposals_for(questions, words, samples: int, per_sample: int = 1) -> dict[str, tuple[str, ...]]:
    """The words sample k of the i-th question proposes, one per search it proposes (`per_sample`): words[(i +
    k·per_sample + j) % len(words)] for its (j+1)-th search. Each question tries `samples` x `per_sample` words in
    turn, every word about equally often, and a sample's searches name different words (while the list is long
    enough). Keyed like the samples ("question id#k")."""
    n = len(words)
    return {
        sample_key((q, k)): tuple(words[(i + k * per_sample + j) % n] for j in range(per_sample))
        for i, q in enumerate(questions)
        for k in range(samples)
    }


def training_row(prompt_ids: list[int], opening_ids: list[int], trajectory) -> dict:
    """One fine-tuning row: the prompt (not trained on), a proposed opening (trained on: GRPO's prompt holds only the
    loop's own prefill, so the policy must write it itself), then the episode, where only the policy's own tokens
    are trained on (inserted posts are not)."""
    return {
        "input_ids": prompt_ids + opening_ids + trajectory.completion_ids,
        "completion_mask": [0] * len(prompt_ids) + [1] * len(opening_ids) + trajectory.loss_mask,
    }


def _sample(
    many,
    generator,
    agent,
    judge,
    path: Path,
    evidence_bonus: float = 0.0,
    agent_for=None,
    later_openings=None,
    **bonus_options,
):
    """Trajectories of (question, sample index) pairs with their rewards, appended to `path` batch by batch so a
    killed warm start keeps what it sampled (each batch made as an uninterrupted run makes it). The reward is GRPO's
    own personalized reward (`reward_columns`: the judge, plus `evidence_bonus` x the share of hard-to-find
    evidence retrieved, shaped as `bonus_options` say: `needs_answer`, `above_chance`). `agent_for(item)` gives a
    sample its own agent settings (a proposed first search); a batch runs once per distinct setting in it.
    `later_openings(item)` gives the texts that open its turns after each search (proposed later searches)."""
    from pr2.agent.trajectory import Trajectory
    from pr2.retrieval import load_retriever
    from pr2.train.reward import PERSONALIZED, column, reward_columns

    retriever = load_retriever(agent.retriever)
    by_id = {q.id: q for q, _ in many}
    targets = reach = None
    if evidence_bonus:
        from pr2.train.reward import bonus_scope

        targets, reach = bonus_scope(list(by_id.values()), retriever, agent)
    columns = reward_columns(by_id, judge, {}, evidence_bonus, targets, reach=reach, **bonus_options)
    personalized = columns[column(columns, PERSONALIZED)].func

    with JsonlWriter(path, key="key") as writer:
        done = {r["key"]: r for r in writer.records}
        for batch in unfinished_batches(many, sample_key, done, agent.batch_size):
            questions = [q for q, _ in batch]
            made = [None] * len(batch)
            groups: dict[str, list[int]] = {}
            configs = [agent_for(item) if agent_for else agent for item in batch]
            for i, config in enumerate(configs):
                groups.setdefault(repr(config), []).append(i)
            for members in groups.values():
                openings = [later_openings(batch[i]) for i in members] if later_openings else None
                group_made = run_agent(
                    [questions[i] for i in members],
                    generator,
                    configs[members[0]],
                    retriever=retriever,
                    search_openings=openings,
                )
                for i, t in zip(members, group_made, strict=True):
                    made[i] = t
            rewards = personalized(
                prompts=None,
                completions=None,
                answer=[t.answer for t in made],
                question_id=[q.id for q in questions],
                retrieved=[t.retrieved_ids for t in made],
                ended=[t.ended for t in made],
            )
            for item, t, reward in zip(batch, made, rewards, strict=True):
                key = sample_key(item)
                if key not in done:
                    done[key] = {"key": key, "reward": reward, "trajectory": t.to_record()}
                    writer.write(done[key])
    records = [done[sample_key(item)] for item in many]
    return [Trajectory.from_record(r["trajectory"]) for r in records], [r["reward"] for r in records]


def warm_start(config, questions, output_dir: Path, judge, state) -> Path:
    """Sample (each process its share of the questions, on its device), keep the best, fine-tune (all processes,
    DDP), merge; the main process writes the merged model folder. Returns that folder on every process."""
    from pr2.generation.hf import HFGenerator
    from pr2.train.policy import load_policy

    output_dir = Path(output_dir)
    if (output_dir / "config.json").exists():
        log.info("warm start: reusing %s", output_dir)
        return output_dir
    work = output_dir.with_name(output_dir.name + ".tmp")
    if state.is_main_process:  # half-written by a run killed while fine-tuning or saving: redone (samples are kept)
        shutil.rmtree(work / "sft", ignore_errors=True)
        remove_partial_folders(output_dir)
    state.wait_for_everyone()
    model, tokenizer = load_policy(config, device=state.device)
    generator = HFGenerator(model.eval(), tokenizer, model_name=config.model)
    kept, sampled = _sample_and_keep(config, questions, generator, tokenizer, judge, state, work)
    _fine_tune_and_save(config, model, tokenizer, kept, sampled, state, work, output_dir)
    return output_dir


def _sample_and_keep(config, questions, generator, tokenizer, judge, state, work: Path) -> tuple[list[dict], int]:
    """Sample `warm_start_samples` episodes per question (with the worked example, and the proposed searches if
    any), keep the best by the reward, and turn each into a training row without the example; gathered from every
    process, in question order. Returns (kept rows, episodes sampled in all)."""
    from accelerate.utils import gather_object

    sampling = {k: config.trl_value(k) for k in ("temperature", "top_p")}
    agent = replace(config.agent, example_turn=True, seed=0, **sampling)
    sampled_on = questions[: config.warm_start_questions] if config.warm_start_questions else questions
    mine = sampled_on[state.process_index :: state.num_processes]
    many = [(q, k) for q in mine for k in range(config.warm_start_samples)]
    opens: dict[str, str] = {}  # sample key -> the text its episode was opened with (trained on, unlike a prefill)
    agent_for = later_openings = None
    if config.warm_start_search_proposals:
        per_sample = agent.max_searches if config.warm_start_propose_each_search else 1
        words = proposals_for(sampled_on, config.warm_start_search_proposals, config.warm_start_samples, per_sample)
        opens = {key: proposal_text(agent, plan[0]) for key, plan in words.items()}
        many.sort(key=lambda item: words[sample_key(item)])  # a batch shares its first proposal: one run

        def agent_for(item):
            return replace(agent, prefill=(agent.prefill or "") + opens[sample_key(item)])

        if per_sample > 1:  # the later openings are the episode's own model text: trained on with the rest

            def later_openings(item):
                return [turn_opening(agent, word) for word in words[sample_key(item)][1:]]

    trajectories, rewards = _sample(
        many,
        generator,
        agent,
        judge,
        work / f"samples.{state.process_index}-of-{state.num_processes}.jsonl",
        config.evidence_bonus,
        agent_for=agent_for,
        later_openings=later_openings,
        needs_answer=config.evidence_bonus_needs_answer,
        above_chance=config.evidence_bonus_above_chance,
    )
    opened = {id(t): opens.get(sample_key(item), "") for item, t in zip(many, trajectories, strict=True)}
    by_id = {q.id: q for q in questions}
    no_example = replace(agent, example_turn=False)
    kept = []
    for t, reward in select_trajectories(trajectories, rewards, config.warm_start_keep):
        prompt = episode_prompt_ids(by_id[t.question_id].question, no_example, tokenizer)
        opening = tokenizer(opened[id(t)], add_special_tokens=False)["input_ids"] if opened[id(t)] else []
        row = training_row(prompt, opening, t)
        kept.append({"question_id": t.question_id, "reward": reward, "text": opened[id(t)] + t.text, **row})
    kept = sorted(gather_object(kept), key=lambda k: k["question_id"])  # every process trains on all of them
    sampled = sum(gather_object([len(trajectories)]))
    log.info("warm start: kept %d of %d trajectories", len(kept), sampled)
    if not kept:
        raise PR2Error("warm start: no sampled trajectory both searched and answered; raise warm_start_samples")
    return kept, sampled


def _fine_tune_and_save(config, model, tokenizer, kept, sampled: int, state, work: Path, output_dir: Path) -> None:
    """Fine-tune on the kept rows (TRL's SFTTrainer, the run's LoRA, completion tokens only), merge, and let the main
    process write the merged model folder (only a complete one appears under its name)."""
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    from pr2.train.policy import lora_config, uses_bf16

    rows = [{"input_ids": k["input_ids"], "completion_mask": k["completion_mask"]} for k in kept]
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
        bf16=uses_bf16(config),  # as GRPO's: one accelerate state serves both trainers
        max_length=None,
        seed=int(config.trl_value("seed")),
    )
    trainer = SFTTrainer(
        model=model.train(),
        args=args,
        train_dataset=Dataset.from_list(rows),
        processing_class=tokenizer,
        peft_config=lora_config(config),  # the run's LoRA, as GRPO's; None (lora: false) fine-tunes every weight
    )
    trainer.train()
    if state.is_main_process:
        trained = trainer.accelerator.unwrap_model(trainer.model)
        merged = trained.merge_and_unload() if config.lora else trained
        summary = {"base_model": config.model, "sampled": sampled, "kept": kept}
        write_folder_atomic(output_dir, merged, tokenizer, json_files={"pr2-warm-start.json": summary})
        shutil.rmtree(work)
    state.wait_for_everyone()
