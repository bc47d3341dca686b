"""The batched PR² loop: every turn is one generate call over all unfinished episodes of the batch.

Episodes work in token ids where the back end allows (hf, vllm), so a trajectory holds exactly the sampled ids
and the inserted information ids, and the loss mask follows from the segments.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from pr2.agent.protocol import (
    AgentConfig,
    answer_now_note,
    build_messages,
    extract_answer,
    extract_search,
    format_information,
)
from pr2.agent.trajectory import Segment, Trajectory
from pr2.data.schema import Question
from pr2.errors import PR2Error
from pr2.generation.base import Generator, SamplingParams
from pr2.generation.chat import apply_chat_template, tokenizer_of
from pr2.retrieval import ProfileIndex, Retriever
from pr2.retrieval.base import rank_order
from pr2.retrieval.rank import is_ranked

log = logging.getLogger(__name__)


@dataclass
class LoopTimings:
    """Where the loop's time went (seconds), for the speed benchmark and the run summary."""

    generation: float = 0.0
    retrieval: float = 0.0
    total: float = 0.0


@dataclass
class _Episode:
    question: Question
    index: ProfileIndex
    traj: Trajectory
    shown: set[str] = field(default_factory=set)
    told_to_answer: bool = False
    openings: Sequence[str] = ()
    """Texts that open the turns after this episode's searches (see `run_agent`'s `search_openings`)."""
    key: tuple = ()
    """The episode's name for the back end (its turn cache entry and, seeded, its random stream): its question and
    which of that question's episodes in the run it is. The same in every process (an object's id was not, so a
    seeded run drew differently in each) and whatever the batch it falls in, so a resumed run redraws what the
    uninterrupted one drew."""

    @property
    def length(self) -> int:
        return len(self.traj.prompt_ids) + sum(len(s.token_ids) for s in self.traj.segments)


def agent_tokenizer(generator: Generator, tokenizer=None):
    return tokenizer or tokenizer_of(generator, "the agent loop (to count its budget and record token ids)")


def episode_prompt_ids(question: str, config: AgentConfig, tokenizer) -> list[int]:
    """What the policy is given: system prompt, example turn if configured, the question, then the prefill."""
    ids = apply_chat_template(tokenizer, build_messages(question, config))
    if config.prefill:
        ids += tokenizer(config.prefill, add_special_tokens=False)["input_ids"]
    return ids


def candidate_pool(question: Question, size: int | None, retriever: Retriever) -> list:
    """The posts a search may return: the whole profile, or its top `size` by relevance to the question. A profile
    ranked by `pr2 rank` is taken in its order (the paper's top set, e.g. Contriever's); any other is ranked here with
    the search retriever first, never cut in file order."""
    if not size or len(question.profile) <= size:
        return list(question.profile)
    if not is_ranked(question):
        (scores,) = retriever.score_many([question.question], [[p.text for p in question.profile]])
        return [question.profile[i] for i in rank_order(scores)[:size]]
    return question.profile[:size]


def run_agent(
    questions: Sequence[Question],
    generator: Generator,
    config: AgentConfig,
    *,
    retriever: Retriever | None = None,
    tokenizer=None,
    timings: LoopTimings | None = None,
    on_batch=None,
    index_for=None,
    search_openings: Sequence[Sequence[str]] | None = None,
) -> list[Trajectory]:
    """Run the PR² loop for `questions`, `config.batch_size` at a time; `on_batch(trajectories)` after each batch.
    `index_for(question)` gives a question's prepared ProfileIndex (pr2 serve: embeddings stored when each post was
    written); by default each profile is indexed here. `search_openings[i][j]`, where given, opens question i's turn
    after its (j+1)-th search's results, as if the policy had written it (kept as the policy's text, trained on: a
    warm start proposing every search); a turn told to answer gets none."""
    from pr2.retrieval import load_retriever

    tokenizer = agent_tokenizer(generator, tokenizer)
    retriever = retriever or load_retriever(config.retriever)
    timings = timings if timings is not None else LoopTimings()
    out: list[Trajectory] = []
    seen: dict[str, int] = {}
    episode_keys = []  # a GRPO group repeats its question: its episodes are that question's 0th, 1st, ...
    for q in questions:
        episode_keys.append((q.id, seen.get(q.id, 0)))
        seen[q.id] = seen.get(q.id, 0) + 1
    for start in range(0, len(questions), config.batch_size):
        end = start + config.batch_size
        openings = search_openings[start:end] if search_openings is not None else None
        batch = _run_batch(
            questions[start:end],
            generator,
            tokenizer,
            retriever,
            config,
            timings,
            index_for,
            openings,
            episode_keys[start:end],
        )
        out.extend(batch)
        if on_batch is not None:
            on_batch(batch)
    return out


def _run_batch(
    questions,
    generator,
    tokenizer,
    retriever,
    config: AgentConfig,
    timings: LoopTimings,
    index_for=None,
    openings=None,
    episode_keys=(),
):
    began = time.perf_counter()
    token_in = hasattr(generator, "encode_prompt")
    # Keys and values kept between an episode's turns, where the back end can (hf): each token prefilled once.
    turn_cache = generator.turn_cache() if config.reuse_kv and hasattr(generator, "turn_cache") else None
    episodes = []
    indexes: dict[str, ProfileIndex] = {}  # a GRPO group repeats its question: its profile is encoded once
    for i, q in enumerate(questions):
        t0 = time.perf_counter()
        if q.id not in indexes:
            indexes[q.id] = (
                index_for(q)
                if index_for is not None
                else ProfileIndex(candidate_pool(q, config.candidate_pool, retriever), retriever)
            )
        index = indexes[q.id]  # this user's only
        timings.retrieval += time.perf_counter() - t0
        prompt = episode_prompt_ids(q.question, config, tokenizer)
        if len(prompt) >= config.max_model_len - 1:  # else every episode ends before its first token, silently
            raise PR2Error(
                f"question {q.id!r}: its prompt is {len(prompt)} tokens, the episode budget max_model_len is "
                f"{config.max_model_len}; raise it (--max-model-len, agent.max_model_len) or drop the example turn"
            )
        episodes.append(
            _Episode(
                q,
                index,
                Trajectory(q.id, prompt),
                openings=openings[i] if openings else (),
                key=episode_keys[i],
            )
        )

    def encode(text: str) -> list[int]:
        return tokenizer(text, add_special_tokens=False)["input_ids"]

    def truncate(text: str) -> str:
        ids = encode(text)
        return text if len(ids) <= config.item_tokens else tokenizer.decode(ids[: config.item_tokens]) + " …"

    turn = 0
    while True:
        for e in episodes:
            if e.traj.ended is None and e.length >= config.max_model_len - 1:
                e.traj.ended = "length"
        active = [e for e in episodes if e.traj.ended is None]
        if not active:
            break
        # Each episode may write at most what is left of its budget (a server answers HTTP 400 past
        # max_model_len). The in-process cached path takes a budget per row, so every episode shares one call;
        # elsewhere episodes with the same cap share one call, which is one call in the usual case.
        caps = {e.key: min(config.max_turn_tokens, config.max_model_len - e.length) for e in active}
        if turn_cache is not None:
            groups = [(max(caps.values()), active)]
        else:
            by_cap: dict[int, list[_Episode]] = {}
            for e in active:
                by_cap.setdefault(caps[e.key], []).append(e)
            groups = sorted(by_cap.items(), reverse=True)
        for cap, group in groups:
            ids = [e.traj.prompt_ids + e.traj.completion_ids for e in group]
            prompts = ids if token_in else [tokenizer.decode(x) for x in ids]
            params = SamplingParams(
                temperature=config.temperature,
                top_p=config.top_p,
                max_tokens=cap,
                stop=stop_strings(config),
                seed=None if config.seed is None else config.seed + turn,
                logprobs=True,
            )
            t0 = time.perf_counter()
            if turn_cache is not None:
                keys = [e.key for e in group]
                budgets = [caps[e.key] for e in group]
                completions = generator.generate(prompts, params, turn_cache=turn_cache, keys=keys, budgets=budgets)
            else:
                completions = generator.generate(prompts, params)
            timings.generation += time.perf_counter() - t0
            for e, c in zip(group, completions, strict=True):
                t0 = time.perf_counter()
                _advance(e, c, config, tokenizer, encode, truncate)
                timings.retrieval += time.perf_counter() - t0
        turn += 1
    timings.total += time.perf_counter() - began
    return [e.traj for e in episodes]


def _advance(e: _Episode, c, config: AgentConfig, tokenizer, encode, truncate) -> None:
    """Apply one completion to its episode: record it, then answer, search, or carry on."""
    text = c.text
    ids = list(c.token_ids) if c.token_ids is not None else encode(text)
    logprobs = c.logprobs if c.logprobs is not None and len(c.logprobs) == len(ids) else None
    room = config.max_model_len - e.length
    cut = len(ids) > room
    if cut:
        ids, logprobs = ids[:room], (logprobs[:room] if logprobs else None)
        text = tokenizer.decode(ids, skip_special_tokens=True)
    # The episode so far as the model sees it (the prefill may have opened a tag this turn closes); tags
    # count from the last inserted information on, so a turn only answers or searches for itself.
    before = (config.prefill or "") + e.traj.text
    turn_text = (
        before[before.rfind(config.info_close) + len(config.info_close) :] if config.info_close in before else before
    )
    stop_string, finish_reason = c.stop_string, c.finish_reason
    if not cut:  # a tag this turn finishes comes before any stop the back end found later in the turn
        straddled = _straddled_stop(turn_text, text, ids, stop_strings(config), tokenizer)
        if straddled is not None:
            stop_string, keep = straddled
            finish_reason, ids, logprobs = "stop", ids[:keep], (logprobs[:keep] if logprobs else None)
            text = tokenizer.decode(ids, skip_special_tokens=True)
    open_search = (
        stop_string is None
        and finish_reason == "eos"
        and (turn_text + text).rfind(config.search_open) > (turn_text + text).rfind(config.search_close)
    )
    e.traj.segments.append(Segment("model", text, ids, logprobs))
    answer_was_open = config.answer_open in turn_text
    turn_text += text
    if stop_string == config.answer_open and not cut and not answer_was_open:
        # The policy opened its answer: the answer prefill goes in (never trained on) and the answer goes on.
        _insert(e, config.answer_prefill or "", encode, config)
        return
    # A server that drops stop strings without naming them: the turn is a search whose closing tag the policy
    # never sampled; the tag goes into the inserted (never trained on) text, not into the policy's tokens.
    closing = config.search_close if open_search else ""
    turn_text += closing

    query = extract_search(turn_text, config)
    searched = (stop_string == config.search_close or open_search) and query is not None
    answer = None if searched else extract_answer(turn_text, config)  # a turn that stopped at </search> searches
    if answer is not None:
        e.traj.answer = answer
        e.traj.ended = "length" if cut else "answer"
        return
    if cut:
        e.traj.ended = "length"
        return
    if searched:
        _search(e, query, closing, config, encode, truncate)
        return
    if finish_reason == "eos":
        if config.answer_on_stop and not e.told_to_answer:
            _insert(e, answer_now_note(config, "You ended your turn without an answer."), encode, config)
            e.told_to_answer = True
            return
        e.traj.ended = "no_answer"  # stopped without an <answer>: counted, answer left empty
    # finish_reason "length": the turn ran out of tokens mid-thought; the next turn continues it.


def _search(e: _Episode, query: str, closing: str, config: AgentConfig, encode, truncate) -> None:
    """Run a search the policy asked for and insert what it found (never trained on): past the search limit, the
    note to answer instead; after the last search, or near the length budget, the posts with that note."""
    if len(e.traj.searches) >= config.max_searches:
        if e.told_to_answer:
            e.traj.ended = "search_limit"
            return
        _insert(e, closing + answer_now_note(config, "You have used all your searches."), encode, config)
        e.told_to_answer = True
        return
    exclude = e.shown if config.skip_shown else ()
    hits = e.index.search(query, config.top_k, exclude=exclude)
    e.shown.update(h.id for h in hits)
    e.traj.searches.append(query)
    e.traj.retrieved_ids.append([h.id for h in hits])
    info = format_information(hits, truncate, config)
    last = len(e.traj.searches) >= config.max_searches
    near_budget = config.max_model_len - e.length - len(encode(info)) < 2 * config.max_turn_tokens
    if last or near_budget:
        why = "That was your last search." if last else "You are close to the length limit."
        info = format_information(hits, truncate, config, answer_now=why)
        e.told_to_answer = True
    _insert(e, closing + info, encode, config)
    if not e.told_to_answer and e.traj.ended is None and len(e.traj.searches) <= len(e.openings):
        _open_turn(e, e.openings[len(e.traj.searches) - 1], encode, config)


def stop_strings(config: AgentConfig) -> tuple[str, ...]:
    """Where a turn stops: a closed search or answer; with an answer prefill also the answer's opening tag, so the
    loop can insert the prefill wherever the policy opens its answer."""
    stops = (config.search_close, config.answer_close)
    return (*stops, config.answer_open) if config.answer_prefill else stops


def _straddled_stop(before: str, text: str, ids: list[int], stops, tokenizer) -> tuple[str, int] | None:
    """A stop tag begun by the previous turn and finished by this one ("</" then "search>").

    Back ends look for stop strings only in what they generated, so they run past it (HF pads the row, and the
    pad reads as eos). Returns the tag and how many of this turn's tokens it takes, or None.
    """
    for stop in stops:
        for split in range(1, len(stop)):
            head, rest = stop[:split], stop[split:]
            if before.endswith(head) and text.startswith(rest):
                for keep in range(1, len(ids) + 1):
                    if tokenizer.decode(ids[:keep], skip_special_tokens=True).startswith(rest):
                        return stop, keep
    return None


def _open_turn(e: _Episode, text: str, encode, config: AgentConfig) -> None:
    """Begin the next turn with `text` as the policy's own (no logprobs: it was not sampled); skipped where it does
    not fit the episode's budget, so the policy writes that turn itself."""
    ids = encode(text)
    if e.length + len(ids) < config.max_model_len - 1:
        e.traj.segments.append(Segment("model", text, ids))


def _insert(e: _Episode, text: str, encode, config: AgentConfig) -> None:
    ids = encode(text)
    if e.length + len(ids) >= config.max_model_len:
        e.traj.ended = "length"
        return
    e.traj.segments.append(Segment("information", text, ids))
