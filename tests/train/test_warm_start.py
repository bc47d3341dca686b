"""Warm start: rejection-sampled trajectories, fine-tuned without the example turn, then GRPO from the result."""

import json
from pathlib import Path

import pytest
import torch

from pr2.agent.protocol import EXAMPLE_QUESTION
from pr2.data.io import read_jsonl
from pr2.train import load_train_config
from pr2.train.trainer import train
from tests.train.conftest import FAST_EPISODES, FactJudge, fact_task

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def masked_logprob(model, input_ids, mask) -> float:
    """Mean log-probability of the tokens the fine-tuning trained on."""
    ids = torch.tensor([input_ids])
    with torch.no_grad():
        logprobs = torch.log_softmax(model(ids).logits[0, :-1].float(), dim=-1)
    token_lp = logprobs.gather(1, ids[0, 1:, None])[:, 0]
    weights = torch.tensor(mask[1:], dtype=torch.float32)
    return float((token_lp * weights).sum() / weights.sum())


def test_warm_start_fine_tunes_on_its_best_trajectories_and_grpo_starts_from_it(
    tmp_path, fact_task_file, choosing_llama_dir, monkeypatch
):
    # Mechanics only: a tiny hand-wired model that searches and answers, choosing between two words (SmolLM2 took
    # 71 s for the same checks).
    out = tmp_path / "run"
    config = load_train_config(
        ROOT / "configs" / "cpu-smoke.yaml",
        [
            f"model={choosing_llama_dir}",
            "agent.prefill=<search>",
            f"output_dir={out}",
            f"dataset={fact_task_file}",
            "warm_start=true",
            "warm_start_samples=6",
            "warm_start_epochs=2",
            "warm_start_learning_rate=1e-3",
            "agent.example_turn=false",
            "max_steps=1",
            "num_generations=2",
            "per_device_train_batch_size=2",
            *FAST_EPISODES,
        ],
    )
    result = train(config, judge=FactJudge())
    warm = out / "warm-start"
    summary = json.loads((warm / "pr2-warm-start.json").read_text())
    assert summary["sampled"] == 2 * 6 and summary["kept"]
    assert not (out / "warm-start.tmp").exists()

    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(warm)
    base = AutoModelForCausalLM.from_pretrained(choosing_llama_dir, dtype=torch.float32)
    tuned = AutoModelForCausalLM.from_pretrained(warm, dtype=torch.float32)
    gains = []
    for kept in summary["kept"]:
        assert "</search>" in kept["text"] and "<answer>" in kept["text"]  # only episodes that searched and answered
        ids, mask = kept["input_ids"], kept["completion_mask"]
        prompt_len = mask.index(1)
        assert EXAMPLE_QUESTION not in tokenizer.decode(ids[:prompt_len])  # learned without the worked example
        trained_on = tokenizer.decode([i for i, m in zip(ids, mask, strict=True) if m])
        assert "<information>" not in trained_on and 0 in mask[prompt_len:]  # inserted posts are not learned
        gains.append(masked_logprob(tuned, ids, mask) - masked_logprob(base, ids, mask))
    # what the fine-tuning optimises: the kept episodes' likelihood as a whole (one episode may give a little to
    # another whose choice differs)
    assert sum(gains) / len(gains) > 0, gains

    assert json.loads((result.adapter_dir / "pr2-base-model.json").read_text())["base_model"] == str(warm)
    assert json.loads((out / "r_np.json").read_text())["key"]["model"] == str(warm)
    assert [r["step"] for r in read_jsonl(out / "metrics.jsonl")] == [1]

    import pr2.train.trainer

    def no_reload(*args, **kwargs):
        raise AssertionError("a finished warm start is reused, not redone")

    monkeypatch.setattr(pr2.train.trainer, "load_policy", no_reload)
    from pr2.train.trainer import process_state
    from pr2.train.warm_start import warm_start

    assert warm_start(config, fact_task(), warm, FactJudge(), process_state(config)) == warm


def test_warm_start_sampling_scores_every_batch_with_the_reward_grpo_uses(tmp_path, choosing_llama_dir):
    """Samples come in agent batches (here three): each is scored by GRPO's personalized reward, and a resumed
    sampling reads back what was written instead of sampling again."""
    from pr2.agent import AgentConfig
    from pr2.generation import GeneratorConfig, load_generator
    from pr2.train.warm_start import _sample

    generator = load_generator(GeneratorConfig(model=str(choosing_llama_dir), device="cpu"))
    agent = AgentConfig(
        retriever="bm25", prefill="<search>", example_turn=False, max_searches=1, top_k=1, max_turn_tokens=4,
        max_model_len=400, item_tokens=16, temperature=1.0, seed=0, batch_size=2,
    )  # fmt: skip
    many = [(q, i) for q in fact_task() for i in range(3)]  # 6 samples, batches of 2
    path = tmp_path / "samples.jsonl"
    trajectories, rewards = _sample(many, generator, agent, FactJudge(), path)
    assert len(trajectories) == len(rewards) == len(read_jsonl(path)) == 6
    assert all(t.searches and r == 0.0 for t, r in zip(trajectories, rewards, strict=True))  # the word is never said
    again = _sample(many, None, agent, FactJudge(), path)  # nothing left to sample: no generator needed
    assert [t.to_record() for t in again[0]] == [t.to_record() for t in trajectories] and again[1] == rewards


def test_proposed_searches_are_what_the_samples_open_with_and_are_trained_on(tmp_path, hf_generator):
    """Each question tries different proposed words; an episode opens with its first (the thought and the search
    begun), the policy closes the search and goes on, the turn after the results opens with the next proposed word
    (warm_start_propose_each_search), and the fine-tuning row trains on every opening, which GRPO's prompt does not
    hold."""
    from dataclasses import replace

    from pr2.agent import AgentConfig
    from pr2.agent.loop import agent_tokenizer
    from pr2.data.synth import SynthConfig, generate
    from pr2.errors import PR2Error
    from pr2.train.warm_start import _sample, proposal_text, proposals_for, training_row, turn_opening

    questions = generate(SynthConfig(users=15, seed=0))["train"][:2]
    a, b = (q.id for q in questions)
    firsts = proposals_for(questions, ["diet", "budget", "schedule"], 2)
    assert firsts == {f"{a}#0": ("diet",), f"{a}#1": ("budget",), f"{b}#0": ("budget",), f"{b}#1": ("schedule",)}
    words = proposals_for(questions, ["diet", "budget", "schedule"], 2, per_sample=2)
    assert words[f"{a}#0"] == ("diet", "budget") and words[f"{a}#1"] == ("schedule", "diet")  # a sample's differ
    assert words[f"{b}#0"] == ("budget", "schedule")

    agent = AgentConfig(
        prefill="<think>", example_turn=False, max_searches=2, top_k=1, max_turn_tokens=12, max_model_len=600,
        item_tokens=16, temperature=0.7, seed=0, batch_size=4, retriever="bm25",
    )  # fmt: skip
    with pytest.raises(PR2Error, match=r"agent\.prefill"):
        proposal_text(replace(agent, prefill="<search>"), "diet")
    opens = {key: proposal_text(agent, plan[0]) for key, plan in words.items()}
    assert opens[f"{a}#0"] == "I should check their diet.</think>\n<search>diet"
    assert turn_opening(agent, "budget") == "<think>I should check their budget.</think>\n<search>budget"

    many = [(q, k) for q in questions for k in range(2)]
    trajectories, _ = _sample(
        many,
        hf_generator,
        agent,
        FactJudge(),
        tmp_path / "samples.jsonl",
        agent_for=lambda item: replace(agent, prefill="<think>" + opens[f"{item[0].id}#{item[1]}"]),
        later_openings=lambda item: [turn_opening(agent, w) for w in words[f"{item[0].id}#{item[1]}"][1:]],
    )
    tokenizer = agent_tokenizer(hf_generator)
    for (q, k), t in zip(many, trajectories, strict=True):
        assert tokenizer.decode(t.prompt_ids).endswith(opens[f"{q.id}#{k}"])
        for query, word in zip(t.searches, words[f"{q.id}#{k}"], strict=False):
            assert query.startswith(word)
        if len(t.searches) == 2:  # the second search's opening is a model segment, trained on
            second = turn_opening(agent, words[f"{q.id}#{k}"][1])
            assert any(s.kind == "model" and s.text == second for s in t.segments)
    assert sum(len(t.searches) == 2 for t in trajectories) >= 3  # SmolLM2 closes the searches it was opened with

    t = trajectories[0]
    opening = tokenizer(opens[f"{a}#0"], add_special_tokens=False)["input_ids"]
    row = training_row([7, 8], opening, t)
    assert row["input_ids"] == [7, 8, *opening, *t.completion_ids]
    assert row["completion_mask"] == [0, 0] + [1] * len(opening) + t.loss_mask
