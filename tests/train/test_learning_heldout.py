"""GRPO learns what to search, and it carries to users it never trained on: both the evidence the searches find
and the judged reward of the answers rise.

The policy is a 1-layer Llama wired by hand (`reading_llama_dir`, SmolLM2's tokenizer) whose only learnable choice is
its query: from the prefill `<search>` it writes " garden" or " flower" with equal odds, then ends its turn; once
the loop opens `<answer>`, it names a colour it was shown, if any (else it writes one of its query words). Every user
asks the same question about their garden; their profile holds garden posts (what the question's own words find)
and one post with their favourite flower colour (the evidence). Only the query " flower" retrieves it, so only
that query leads to an answer the fact judge scores. Training runs the real line (`pr2 train`: TRL GRPO, LoRA, the
loop, the recipe's advantage, the generated-benchmark evidence bonus, the fact judge) on six users; the test then
samples the trained policy on six other users, whose colours no training user has, and asserts that it now retrieves
their evidence, and states their colour, far more often than the untrained policy does. If GRPO learned nothing (or
learned only the training users' posts), neither share would move.
"""

from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path

import pytest

from pr2.agent import AgentConfig, run_agent
from pr2.data.io import write_questions
from pr2.data.schema import Aspect, ProfileItem, Question
from pr2.judge import JudgeConfig, build_judge
from pr2.train import load_train_config
from pr2.train.reward import answer_rewards, evidence_posts
from pr2.train.trainer import train

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow

GARDEN_POSTS = [
    "The garden gets sun only in the morning.",
    "Slugs ate half of my garden last year.",
    "My garden soil is heavy clay.",
    "I share the garden with my neighbour.",
]


def garden_users(first: int, colours: list[str]) -> list[Question]:
    rng = random.Random(first)
    users = []
    for i, colour in enumerate(colours, start=first):
        qid = f"gardener-{i}"
        profile = [ProfileItem(f"{qid}-g{j}", t) for j, t in enumerate(GARDEN_POSTS)]
        evidence = ProfileItem(f"{qid}-flower", f"My favourite flower colour is {colour}.")
        profile.insert(rng.randrange(len(profile) + 1), evidence)
        aspect = Aspect(
            "colour", f"They love {colour} flowers.", evidence.text,
            extra={"fact": {"phrases": [colour], "post": evidence.id, "facet": "favourite flower colour"}},
        )  # fmt: skip
        users.append(Question(qid, "What should I plant in my garden?", colour, profile, [aspect], split="train"))
    return users


def sample(model_dir, adapter, questions: list[Question], agent: AgentConfig, samples: int) -> tuple[float, float]:
    """(share of episodes that retrieved their evidence post, mean judged reward of their answers); an answer that
    scores without its evidence would be a guess, which the task leaves no room for."""
    from pr2.generation import GeneratorConfig, load_generator

    generator = load_generator(GeneratorConfig(model=str(model_dir), adapter=adapter, device="cpu"))
    many = [q for q in questions for _ in range(samples)]
    trajectories = run_agent(many, generator, agent)
    found = [
        bool(evidence_posts(q) & {i for ids in t.retrieved_ids for i in ids})
        for q, t in zip(many, trajectories, strict=True)
    ]
    judge = build_judge(JudgeConfig(model="fact", mode="fact"))
    judged = answer_rewards(many, [t.answer or "" for t in trajectories], judge)
    assert not any(j and not f for f, j in zip(found, judged, strict=True))
    return sum(found) / len(found), sum(judged) / len(judged)


def test_grpo_learns_what_to_search_on_users_it_never_saw(tmp_path, reading_llama_dir):
    train_users = garden_users(0, ["red", "blue", "green", "yellow", "purple", "orange"])
    heldout = garden_users(100, ["pink", "white", "brown", "grey", "gold", "silver"])  # colours no training user has
    data = tmp_path / "train.json"
    write_questions(data, train_users)
    agent = [
        "agent.retriever=bm25",
        "agent.prefill=<search>",
        "agent.example_turn=false",
        "agent.max_searches=1",
        "agent.top_k=1",
        "agent.max_turn_tokens=4",
        "agent.max_model_len=400",
        "agent.item_tokens=16",
        "agent.answer_prefill=null",  # the wired model states the colour right after <answer> (its one answer form)
    ]
    config = load_train_config(
        ROOT / "configs" / "laptop.yaml",
        [
            f"model={reading_llama_dir}",
            f"dataset={data}",
            f"output_dir={tmp_path / 'run'}",
            "limit=null",
            "start_adapter=null",  # the recipe continues the shipped SmolLM2 policy; this wired model starts bare
            "warm_start=false",
            "bf16=false",
            "max_steps=4",
            "save_steps=100",
            "num_generations=8",
            "per_device_train_batch_size=8",
            "gradient_accumulation_steps=1",
            "learning_rate=1e-2",
            "temperature=1.0",
            "top_p=1.0",
            "max_completion_length=400",
            *agent,
        ],
    )
    assert config.advantage == "centered" and config.evidence_bonus > 0  # the laptop recipe's learning signal
    result = train(config)
    sampling = replace(config.agent, temperature=1.0, top_p=1.0, seed=7, batch_size=48)
    found_before, judged_before = sample(reading_llama_dir, None, heldout, sampling, samples=8)
    found_after, judged_after = sample(reading_llama_dir, str(result.adapter_dir), heldout, sampling, samples=8)
    print(
        f"held-out users: evidence retrieved {found_before:.2f} untrained -> {found_after:.2f} trained; "
        f"judged reward {judged_before:.2f} -> {judged_after:.2f}"
    )
    assert 0.25 < found_before < 0.75  # the untrained policy picks either word
    assert found_after > found_before + 0.3
    assert 0.2 < judged_before < 0.8  # it states the colour when, and only when, it was shown it
    assert judged_after > judged_before + 0.3
