"""GRPO learns what to search, and it carries to users it never trained on.

The policy is a 1-layer Llama wired by hand (SmolLM2's tokenizer) whose only choice is its query: from the prefill
`<search>` it writes " garden" or " budget" with equal odds, then ends its turn. Every user asks the same question
about their garden; their profile holds garden posts (what the question's own words find) and one post with their
budget (their own amount: the evidence). Only the query " budget" retrieves the evidence post. Training runs the
real line (`pr2 train`: TRL GRPO, LoRA, the loop, the paper's advantage, the generated-benchmark evidence bonus) on
six users; the test then samples the trained policy on six other users, with amounts no training user has, and
asserts that it now retrieves their evidence far more often than the untrained policy does. If GRPO learned
nothing (or learned only the training users' posts), the held-out share would not move.
"""

from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path

import pytest

from pr2.agent import AgentConfig, run_agent
from pr2.data.io import write_questions
from pr2.data.schema import Aspect, ProfileItem, Question
from pr2.train import load_train_config
from pr2.train.reward import evidence_posts
from pr2.train.trainer import train

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow

GARDEN_POSTS = [
    "The garden gets sun only in the morning.",
    "Slugs ate half of my garden last year.",
    "My garden soil is heavy clay.",
    "I share the garden with my neighbour.",
]


def garden_users(first: int, n: int, amounts: list[int]) -> list[Question]:
    rng = random.Random(first)
    users = []
    for i, amount in zip(range(first, first + n), amounts, strict=True):
        qid = f"gardener-{i}"
        value = f"{amount} dollars"
        profile = [ProfileItem(f"{qid}-g{j}", t) for j, t in enumerate(GARDEN_POSTS)]
        profile.insert(rng.randrange(len(profile) + 1), ProfileItem(f"{qid}-budget", f"My budget is {value}, no more."))
        aspect = Aspect(
            "budget", f"They mentioned their budget: {value}.", value,
            extra={"fact": {"phrases": [value], "post": f"{qid}-budget", "facet": "budget"}},
        )  # fmt: skip
        users.append(Question(qid, "What should I plant in my garden?", value, profile, [aspect], split="train"))
    return users


def evidence_rate(model_dir, adapter, questions: list[Question], agent: AgentConfig, samples: int) -> float:
    from pr2.generation import GeneratorConfig, load_generator

    generator = load_generator(GeneratorConfig(model=str(model_dir), adapter=adapter, device="cpu"))
    many = [q for q in questions for _ in range(samples)]
    found = [
        bool(evidence_posts(q) & {i for ids in t.retrieved_ids for i in ids})
        for q, t in zip(many, run_agent(many, generator, agent), strict=True)
    ]
    return sum(found) / len(found)


def test_grpo_learns_what_to_search_on_users_it_never_saw(tmp_path, choosing_llama_dir):
    train_users = garden_users(0, 6, [15, 25, 35, 45, 55, 65])
    heldout = garden_users(100, 6, [120, 130, 140, 150, 160, 170])  # amounts no training user has
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
    ]
    config = load_train_config(
        ROOT / "configs" / "laptop.yaml",
        [
            f"model={choosing_llama_dir}",
            f"dataset={data}",
            f"output_dir={tmp_path / 'run'}",
            "limit=null",
            "warm_start=false",
            "bf16=false",
            "max_steps=5",
            "save_steps=100",
            "num_generations=8",
            "per_device_train_batch_size=8",
            "gradient_accumulation_steps=1",
            "learning_rate=3e-2",
            "temperature=1.0",
            "top_p=1.0",
            "max_completion_length=400",
            *agent,
        ],
    )
    assert config.advantage == "nonpersonalized" and config.evidence_bonus > 0  # the laptop recipe's learning signal
    result = train(config)
    sampling = replace(config.agent, temperature=1.0, top_p=1.0, seed=7, batch_size=48)
    before = evidence_rate(choosing_llama_dir, None, heldout, sampling, samples=8)
    after = evidence_rate(choosing_llama_dir, str(result.adapter_dir), heldout, sampling, samples=8)
    print(f"held-out users: evidence retrieved {before:.2f} untrained -> {after:.2f} trained")
    assert 0.25 < before < 0.75  # the untrained policy picks either word
    assert after > before + 0.3
