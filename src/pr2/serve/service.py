"""What the server does besides HTTP: embed posts when they are written, and answer questions in batches.

Answer requests wait in one queue; a worker takes every request waiting (up to `max_batch`, after a short window
for stragglers) and runs them through the agent loop together, so users asking at the same time advance turn by turn
in one batched generate call. Requests whose agent settings differ run as separate batches.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import hashlib
import json
import logging
import math
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial

import numpy as np
import torch

from pr2.agent.loop import agent_tokenizer, episode_prompt_ids, run_agent
from pr2.agent.protocol import AgentConfig
from pr2.data.schema import ProfileItem, Question
from pr2.errors import PR2Error
from pr2.retrieval import ProfileIndex
from pr2.serve.store import Store

log = logging.getLogger(__name__)


class RequestError(PR2Error):
    """A request the server refuses, with its HTTP status; the message is one line for the client."""

    def __init__(self, status: int, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


@dataclass
class ServeConfig:
    """Limits and batching of `pr2 serve`."""

    max_batch: int = 16
    """Answer requests advanced together by the agent loop."""
    batch_window: float = 0.01
    """Seconds the worker waits for more requests after the first one of a batch arrives."""
    max_post_chars: int = 20_000
    """Longest post accepted."""
    max_posts_per_request: int = 1_000
    """Most posts one request may add."""
    max_posts_per_user: int = 100_000
    """Posts one user may hold; a write past it is refused (413) and adds nothing."""
    max_body_bytes: int = 16 * 1024 * 1024
    """Largest request body accepted, counted on the bytes received (a chunked body has no length to trust)."""
    max_queue: int = 256
    """Answer requests waiting or running at most; more are refused (429, with Retry-After) until it drains."""
    max_in_flight_per_key: int = 32
    """Answer requests one API key may have waiting or running at once (429 beyond): one client cannot fill the
    queue for all."""


@dataclass
class Job:
    user_id: str
    question: str
    config: AgentConfig
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    queued_at: float = field(default_factory=time.perf_counter)


_AGENT_LOCK = threading.Lock()  # the agent's retriever: its worker thread, and writes when no second copy is given


def settings_key(config: AgentConfig) -> str:
    return json.dumps({k: v for k, v in dataclasses.asdict(config).items() if k != "batch_size"}, sort_keys=True)


def batch_key(config: AgentConfig) -> str:
    """What requests must share to run in one batch (and a cached answer to be reused): their settings, where a
    greedy request's seed changes nothing."""
    return settings_key(dataclasses.replace(config, seed=None) if config.temperature == 0 else config)


class Answerer:
    """The agent over the store: a profile's prepared index comes from the embeddings stored with its posts."""

    def __init__(
        self,
        store: Store,
        generator,
        retriever,
        agent: AgentConfig,
        model_id: str,
        write_retriever=None,
        identity: dict | None = None,
        cache_answers: bool = True,
        index_cache_size: int = 32,
    ) -> None:
        """`retriever` serves the agent worker alone; `write_retriever` (a second copy of the same encoder) embeds
        posts in the request threads, so that a write never waits for an answer batch (a fast tokenizer must not be
        used by two threads at once). Both give the same embeddings."""
        self.store = store
        self.generator = generator
        self.retriever = retriever
        self.write_retriever = write_retriever or retriever
        self.agent = agent
        self.model_id = model_id
        self.identity = identity or {"model": model_id}  # what a cached answer was made by (model, adapter digest)
        self.cache_answers = cache_answers
        self.index_cache_size = index_cache_size
        self._indexes: OrderedDict[tuple[str, str, int], ProfileIndex] = OrderedDict()
        self._indexes_lock = threading.Lock()  # the worker builds and reads them; request threads forget them
        # Admission checks run in request threads while the worker encodes: a fast tokenizer must not be shared
        # across threads (it raises "Already borrowed"), so they count with a copy of their own.
        self.tokenizer = copy.deepcopy(agent_tokenizer(generator))
        self._admission_lock = threading.Lock()
        self._write_lock = threading.Lock() if write_retriever is not None else _AGENT_LOCK
        self.embedder = getattr(retriever, "name", None) if hasattr(retriever, "embed_documents") else None

    def embed(self, texts: list[str]) -> list[np.ndarray] | None:
        """Embeddings to store with new posts (None for a retriever that keeps no embedding, e.g. BM25)."""
        if self.embedder is None:
            return None
        with self._write_lock:
            return list(self.write_retriever.embed_documents(texts).numpy())

    def check_question(self, question: str, config: AgentConfig) -> None:
        with self._admission_lock:
            prompt = episode_prompt_ids(question, config, self.tokenizer)
        if len(prompt) + config.max_turn_tokens > config.max_model_len:
            raise RequestError(
                413,
                f"question too long: with the agent's prompt it is {len(prompt)} tokens, and the episode budget "
                f"(max_model_len {config.max_model_len}) must leave room for a {config.max_turn_tokens}-token turn",
            )

    def cache_key(self, user_id: str, epoch: str, version: int, question: str, config: AgentConfig) -> str | None:
        """Where a greedy answer is kept, for this user's profile at (epoch, version); None (neither looked up nor
        stored) when caching is off or sampling."""
        if not self.cache_answers or config.temperature != 0:
            return None
        blob = json.dumps([user_id, epoch, version, question, batch_key(config), self.identity], sort_keys=True)
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()

    def _index(self, user_id: str) -> tuple[ProfileIndex, str, int] | None:
        """The user's search index and the (epoch, version) it was built at, kept in memory per (user, epoch,
        version) (at most `index_cache_size`); None for an unknown user. It is built from the stored embeddings, with
        no post's text read (a search fetches its hits' texts); posts stored without an embedding of this encoder
        are embedded now, once, and saved."""
        state = self.store.state(user_id)
        if state is None:
            self.forget(user_id)  # deleted, maybe by another server on the same database
            return None
        with self._indexes_lock:
            cached = self._indexes.get((user_id, *state))
            if cached is not None:
                self._indexes.move_to_end((user_id, *state))
                return cached, *state
        self.forget(user_id)  # the profile changed: what was kept of its former state goes now, not at eviction
        profile = self.store.profile(user_id, texts=self.embedder is None)
        if profile is None:
            return None
        items = [ProfileItem(p.id, p.text) for p in profile.posts]
        if self.embedder is None or not items:  # BM25 (no stored embeddings): indexed from the texts
            index = ProfileIndex(items, self.retriever)
        else:
            vectors = list(profile.embeddings)
            missing = [
                i for i, (e, name) in enumerate(zip(vectors, profile.embedders, strict=True))
                if e is None or name != self.embedder
            ]  # fmt: skip
            if missing:  # written by a --no-model server or under another encoder: embedded once, and saved
                ids = [items[i].id for i in missing]
                texts = self.store.post_texts(user_id, ids)
                made = list(self.retriever.embed_documents([texts.get(pid, "") for pid in ids]).numpy())
                self.store.save_embeddings(user_id, ids, made, self.embedder)
                log.info("user %s: %d posts embedded with %s and saved", user_id, len(missing), self.embedder)
                for i, e in zip(missing, made, strict=True):
                    vectors[i] = e
            prepared = self.retriever.index_embeddings(torch.from_numpy(np.stack(vectors).astype(np.float32)))
            index = ProfileIndex(
                items, self.retriever, prepared=prepared, fetch=partial(self.store.post_texts, user_id)
            )
        with self._indexes_lock:
            self._indexes[(user_id, profile.epoch, profile.version)] = index
            while len(self._indexes) > self.index_cache_size:
                self._indexes.popitem(last=False)
        return index, profile.epoch, profile.version

    def forget(self, user_id: str) -> None:
        """Drop every index kept for the user (their embeddings and post ids): called when they or one of their posts
        are deleted. A batch already running keeps its own reference until it ends, and its cache write is then
        refused by the (epoch, version) check."""
        with self._indexes_lock:
            for key in [key for key in self._indexes if key[0] == user_id]:
                del self._indexes[key]

    def answer_batch(self, jobs: list[Job]) -> list[dict | Exception]:
        """Answer jobs that share their agent settings, in one run of the loop."""
        began = time.perf_counter()
        results: list[dict | Exception | None] = [None] * len(jobs)
        questions, indexes, versions = [], {}, {}
        for i, job in enumerate(jobs):
            with _AGENT_LOCK:
                built = self._index(job.user_id)
            if built is None:  # deleted while its request waited
                results[i] = RequestError(404, f"unknown user {job.user_id!r}")
                continue
            index, epoch, version = built
            indexes[job.id], versions[job.id] = index, (epoch, version)
            questions.append(Question(job.id, job.question, "", [], []))
        config = dataclasses.replace(jobs[0].config, batch_size=max(1, len(questions)))
        trajectories = {}
        if questions:
            with _AGENT_LOCK:  # queries are encoded inside the loop
                for t in run_agent(
                    questions, self.generator, config, retriever=self.retriever, index_for=lambda q: indexes[q.id]
                ):
                    trajectories[t.question_id] = t
        agent_seconds = time.perf_counter() - began
        for i, job in enumerate(jobs):
            if results[i] is not None:
                continue
            t = trajectories[job.id]
            response = {
                "user_id": job.user_id,
                "answer": t.answer,
                "ended": t.ended,
                "searches": [{"query": q, "post_ids": ids} for q, ids in zip(t.searches, t.retrieved_ids, strict=True)],
                "retrieved_post_ids": list(dict.fromkeys(i for ids in t.retrieved_ids for i in ids)),
                "usage": {
                    "prompt_tokens": len(t.prompt_ids),
                    "completion_tokens": sum(t.loss_mask),
                    "inserted_tokens": len(t.loss_mask) - sum(t.loss_mask),
                },
                "batch_size": len(questions),
            }
            epoch, version = versions[job.id]
            key = self.cache_key(job.user_id, epoch, version, job.question, job.config)
            if key is not None:
                try:  # the answer stands without its cache entry; a failed write costs only a later recompute
                    self.store.cache_answer(key, job.user_id, epoch, version, response)
                except Exception as err:
                    log.warning("answer cache write failed (%s); the answer is returned uncached", type(err).__name__)
            results[i] = {**response, "timings": {"queue_s": began - job.queued_at, "agent_s": agent_seconds}}
        return results  # type: ignore[return-value]


class Batcher:
    """One queue of answer jobs and one worker thread running them through `run_batch` in batches."""

    def __init__(
        self,
        run_batch: Callable[[list[Job]], list[dict | Exception]],
        max_batch: int,
        window: float,
        on_batch: Callable[[int], None] | None = None,
        max_queue: int = 256,
    ) -> None:
        self.run_batch = run_batch
        self.max_batch = max_batch
        self.window = window
        self.on_batch = on_batch
        self.max_queue = max_queue
        self.batch_seconds = 1.0  # a running mean of a batch's time, for Retry-After
        self.queue: asyncio.Queue | None = None
        self.in_flight = 0
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="pr2-agent")
        self._task: asyncio.Task | None = None

    @property
    def depth(self) -> int:
        """Jobs waiting plus jobs being answered."""
        return (self.queue.qsize() if self.queue is not None else 0) + self.in_flight

    def start(self) -> None:
        self.queue = asyncio.Queue()
        self._task = asyncio.get_running_loop().create_task(self._work())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def submit(self, job: Job) -> dict:
        """The job's answer. A full queue refuses it at once (429, with the seconds it may take to drain); a caller
        that is cancelled (its client hung up) cancels its job, which is never run if it has not started."""
        if self.depth >= self.max_queue:
            batches = self.depth // max(1, self.max_batch) + 1
            raise RequestError(
                429, f"the answer queue is full ({self.depth} waiting or running); retry later",
                retry_after=max(1, math.ceil(batches * self.batch_seconds)),
            )  # fmt: skip
        future = asyncio.get_running_loop().create_future()
        await self.queue.put((job, future))
        return await future

    async def _take(self) -> list:
        batch = [await self.queue.get()]
        deadline = asyncio.get_running_loop().time() + self.window
        while len(batch) < self.max_batch:
            if not self.queue.empty():
                batch.append(self.queue.get_nowait())
                continue
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(self.queue.get(), left))
            except TimeoutError:
                break
        return batch

    async def _work(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = await self._take()
            groups: dict[str, list] = {}
            for job, future in batch:
                groups.setdefault(batch_key(job.config), []).append((job, future))
            self.in_flight = len(batch)
            for group in groups.values():
                jobs = [job for job, future in group if not future.cancelled()]  # clients that hung up
                if not jobs:
                    continue
                if self.on_batch is not None:
                    self.on_batch(len(jobs))
                began = time.perf_counter()
                try:
                    results = await loop.run_in_executor(self._executor, self.run_batch, jobs)
                    self.batch_seconds = 0.8 * self.batch_seconds + 0.2 * (time.perf_counter() - began)
                except Exception:  # the whole batch failed (a model server down, ...): the log has why; the
                    log.exception("answer batch failed")  # clients hear a 503 that names no internal address
                    results = [RequestError(503, "the model back end failed; retry later")] * len(jobs)
                by_id = dict(zip((j.id for j in jobs), results, strict=True))
                for job, future in group:
                    if future.done() or job.id not in by_id:
                        continue
                    result = by_id[job.id]
                    if isinstance(result, Exception):
                        future.set_exception(result)
                    else:
                        future.set_result(result)
                self.in_flight -= len(group)
            self.in_flight = 0
