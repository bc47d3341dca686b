"""The PR² protocol: tags, the system prompt with its worked example, and reading the policy's output."""

from __future__ import annotations

import re
from dataclasses import dataclass

from pr2.data.schema import ProfileItem
from pr2.generation.base import check_sampling


@dataclass
class AgentConfig:
    """How the agent loop runs (every limit of one episode)."""

    top_k: int = 3
    """Profile items inserted per search."""
    max_searches: int = 4
    """Searches allowed per question; at the limit the model is told to answer now."""
    max_turn_tokens: int = 256
    """New tokens per generation turn."""
    max_model_len: int = 2048
    """Total token budget of prompt plus everything generated and inserted (`--max-model-len`)."""
    item_tokens: int = 128
    """Each inserted profile item is cut to this many tokens."""
    candidate_pool: int | None = None
    """Search only the first K items of a profile already ranked by `pr2 rank` (None: the whole profile)."""
    skip_shown: bool = True
    """Items already shown in this episode are not shown again."""
    force_answer: bool = True
    """When the model is told to answer now (its last search, or the length budget), the inserted text ends by
    opening the answer tag, so the next turn is the answer (small models otherwise ramble past their last search)."""
    answer_on_stop: bool = False
    """When the model ends its turn with neither a search nor an answer, tell it (once) to answer now, as at the
    search limit, instead of ending the episode without an answer (small models often stop after reading posts)."""
    example_turn: bool = True
    """Show one worked example episode before the question (small models need it; large ones do not)."""
    prefill: str | None = "<think>"
    """Text the assistant turn starts with (part of the prompt, never trained on); None for none. Starting inside
    <think> makes the policy reason before it acts."""
    answer_prefill: str | None = None
    """Text inserted right after the answer tag opens, whether the policy opened it or the loop did (never trained
    on, like `prefill`); None for none. "About you:" asks a small model to state what it read about the user before
    it advises (the laptop recipe's setting; docs/experiments/2026-12-02-answer-prefill.md measures it)."""
    retriever: str = "minilm"
    """How search ranks the profile: bm25, minilm, contriever, or an encoder's Hub id / path."""
    temperature: float = 0.0
    """Sampling temperature of the policy (0 = greedy)."""
    top_p: float = 1.0
    """Nucleus sampling mass of the policy."""
    seed: int | None = 0
    """Seed for sampling."""
    batch_size: int = 16
    """Questions advanced together; each turn is one generate call over the unfinished ones."""
    reuse_kv: bool = True
    """Each episode continues from the keys and values of its earlier turns (back ends that can: hf with a
    full-attention model), so every token is prefilled once; False re-encodes the whole episode every turn (the
    reference path, kept for benchmarks/agent_speed.py). Trajectories are the same either way at temperature 0."""
    think_open: str = "<think>"
    think_close: str = "</think>"
    search_open: str = "<search>"
    search_close: str = "</search>"
    info_open: str = "<information>"
    info_close: str = "</information>"
    answer_open: str = "<answer>"
    answer_close: str = "</answer>"

    def __post_init__(self) -> None:  # where the settings enter: the CLI, a config file, Python
        check_sampling(
            temperature=self.temperature, top_p=self.top_p, top_k=self.top_k, max_turn_tokens=self.max_turn_tokens,
            max_model_len=self.max_model_len, item_tokens=self.item_tokens, batch_size=self.batch_size,
            candidate_pool=self.candidate_pool,
        )  # fmt: skip


SYSTEM_PROMPT = """\
You answer a person's question so that the answer fits them. You cannot see their history, but you can search it: \
it holds their earlier posts, which tell you their situation, tools, limits and tastes.

Work step by step:
- Think inside {think_open} {think_close} about what you need to know about this person.
- To search their history, write {search_open} a short query {search_close}. You will get their most relevant \
posts inside {info_open} {info_close}. Search again if you need more ({max_searches} searches at most).
- When you know enough, write the final answer inside {answer_open} {answer_close}: specific to this person, \
using what you found."""

EXAMPLE_QUESTION = "Which running shoes should I buy?"
EXAMPLE_EPISODE = """\
{think_open}Good shoes depend on this person's body and means. I should check their health first.{think_close}
{search_open}health{search_close}

{info_open}
[1] Health update: my knees ache after 5 km since I hurt them last spring.
{info_close}

{think_open}Their knees ache after 5 km. What can they spend?{think_close}
{search_open}budget{search_close}

{info_open}
[1] My budget for sports gear this year is 60 dollars, no more.
{info_close}

{think_open}Knees ache after 5 km; a budget of 60 dollars.{think_close}
{answer_open}Since your knees ache after 5 km, choose cushioned stability shoes and build distance slowly; with 60 \
dollars, look at last season's models on sale.{answer_close}"""


EXAMPLE_ONE_SEARCH = """\
{think_open}Good shoes depend on this person's body. I should check their health.{think_close}
{search_open}health{search_close}

{info_open}
[1] Health update: my knees ache after 5 km since I hurt them last spring.
{info_close}

{think_open}Their knees ache after 5 km.{think_close}
{answer_open}Since your knees ache after 5 km, choose cushioned stability shoes and build distance slowly.{answer_close}"""
"""The worked example when only one search is allowed (the example never shows more searches than the limit)."""


def example_episode(config: AgentConfig) -> str:
    return (EXAMPLE_EPISODE if config.max_searches >= 2 else EXAMPLE_ONE_SEARCH).format(**tags(config))


def tags(config: AgentConfig) -> dict[str, str]:
    return {
        k: getattr(config, k)
        for k in (
            "think_open",
            "think_close",
            "search_open",
            "search_close",
            "info_open",
            "info_close",
            "answer_open",
            "answer_close",
        )
    }


def build_messages(question: str, config: AgentConfig) -> list[dict[str, str]]:
    t = tags(config)
    messages = [{"role": "system", "content": SYSTEM_PROMPT.format(max_searches=config.max_searches, **t)}]
    if config.example_turn:
        messages += [
            {"role": "user", "content": EXAMPLE_QUESTION},
            {"role": "assistant", "content": example_episode(config)},
        ]
    messages.append({"role": "user", "content": question})
    return messages


def extract_answer(text: str, config: AgentConfig) -> str | None:
    """The text of the first <answer>…</answer> (or of an <answer> left open at the end), else None."""
    start = text.find(config.answer_open)
    if start < 0:
        return None
    body = text[start + len(config.answer_open) :]
    end = body.find(config.answer_close)
    return (body if end < 0 else body[:end]).strip()


def extract_search(text: str, config: AgentConfig) -> str | None:
    """The query of the last <search>…</search> in a turn that stopped on the search tag."""
    pattern = re.escape(config.search_open) + r"(.*?)" + re.escape(config.search_close)
    found = re.findall(pattern, text, flags=re.DOTALL)
    return found[-1].strip() if found else None


def format_information(items: list[ProfileItem], truncate, config: AgentConfig, answer_now: str | None = None) -> str:
    """The inserted block. `answer_now` (why the model must answer now) goes first, so that the posts, not the
    instruction, are what the model reads last before it answers (SmolLM2-135M echoed whatever came last)."""
    if not items:
        body = "(no further posts match this search)"
    else:
        body = "\n".join(f"[{i}] {truncate(item.text)}" for i, item in enumerate(items, start=1))
    return _information_block(body, config, answer_now)


def answer_now_note(config: AgentConfig, why: str) -> str:
    """A block of its own that only says to answer (a search past the limit)."""
    return _information_block(None, config, why)


def _information_block(body: str | None, config: AgentConfig, answer_now: str | None) -> str:
    lines = [body] if body is not None else []
    if answer_now is not None:
        lines.insert(
            0,
            f"{answer_now} Do not search again: write your final answer now inside "
            f"{config.answer_open} {config.answer_close}.",
        )
    block = f"\n\n{config.info_open}\n" + "\n".join(lines) + f"\n{config.info_close}\n\n"
    return block + opened_answer(config) if answer_now is not None and config.force_answer else block


def opened_answer(config: AgentConfig) -> str:
    """The answer tag as the loop opens it: followed by the answer prefill, if any."""
    return config.answer_open + (config.answer_prefill or "")
