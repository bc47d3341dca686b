"""The HTTP API of `pr2 serve` (FastAPI): posts per user, personalized answers, OpenAI-compatible chat, health and
Prometheus metrics. Every refusal is a 4xx whose body is one line: {"error": {"message": ..., "type": ...}} (the
shape OpenAI clients read)."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import logging
import math
import time
import unicodedata
import uuid
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from pr2.errors import PR2Error
from pr2.serve.service import Answerer, Batcher, Job, RequestError, ServeConfig
from pr2.serve.store import IdempotencyConflict, Replayed, TooManyPosts

log = logging.getLogger(__name__)
audit = logging.getLogger("pr2.serve.audit")  # one line per deletion: which key, which user, how many posts; no text

MAX_USER_ID = 256
MAX_QUESTION_CHARS = 20_000
MAX_SEED = 2**63 - 1  # a seed the database and torch both hold
HTTP_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})


# --- request bodies (unknown fields are refused: a typo'd setting should not be silently ignored) ---


class PostIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str


class PostsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    posts: list[PostIn] | None = None
    text: str | None = None


class AgentSettings(BaseModel):
    """What a request may change of the server's agent settings."""

    model_config = ConfigDict(extra="forbid")
    top_k: int | None = Field(None, ge=1, le=20)
    max_searches: int | None = Field(None, ge=0, le=8)
    max_turn_tokens: int | None = Field(None, ge=1, le=1024)
    temperature: float | None = Field(None, ge=0.0, le=2.0)
    top_p: float | None = Field(None, gt=0.0, le=1.0)
    seed: int | None = Field(None, ge=0, le=MAX_SEED)


class AnswerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user_id: str
    question: str
    settings: AgentSettings | None = None


class ChatIn(BaseModel):
    model_config = ConfigDict(extra="allow")  # OpenAI clients send fields pr2 has no use for
    model: str | None = None
    messages: list[dict[str, Any]]
    user: str | None = None
    temperature: float | None = Field(None, ge=0.0, le=2.0)
    top_p: float | None = Field(None, gt=0.0, le=1.0)
    seed: int | None = Field(None, ge=0, le=MAX_SEED)
    stream: bool | None = False
    max_tokens: int | None = Field(None, ge=1)
    """Honoured as the agent's per-turn budget (its answer's length included); above the server's, refused."""
    max_completion_tokens: int | None = Field(None, ge=1)


# --- checks that give one-line messages ---


def _check_text(value: str, what: str, limit: int) -> None:
    if not value.strip():
        raise RequestError(422, f"{what} is empty")
    if len(value) > limit:
        raise RequestError(413, f"{what} is {len(value)} characters; the limit is {limit}")
    if "\x00" in value:
        raise RequestError(422, f"{what} contains a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise RequestError(422, f"{what} is not valid Unicode (a lone surrogate)") from None


def check_user_id(user_id: str) -> None:
    if not user_id or len(user_id) > MAX_USER_ID:
        raise RequestError(422, f"user id must be 1 to {MAX_USER_ID} characters")
    if any(unicodedata.category(c) in ("Cc", "Cs") for c in user_id):
        raise RequestError(422, "user id contains a control character or a lone surrogate")


def _error(status: int, message: str, retry_after: int | None = None) -> JSONResponse:
    kind = {401: "authentication_error", 403: "permission_error", 404: "not_found_error", 429: "rate_limit_error"}.get(
        status, "invalid_request_error" if status < 500 else "server_error"
    )
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    body = {"error": {"message": " ".join(message.split()), "type": kind}}
    return JSONResponse(body, status_code=status, headers=headers)


OPEN_PATHS = frozenset({"/healthz", "/metrics", "/openapi.json"})
"""Paths served without an API key; every other request shows its key before any of its body is read."""


class Guard:
    """An ASGI middleware that runs `guard(scope, receive, send, inner)` around the app."""

    def __init__(self, app, guard) -> None:
        self.app, self.guard = app, guard

    async def __call__(self, scope, receive, send):
        await self.guard(scope, receive, send, self.app)


class BodyTooLarge(HTTPException):
    """Raised while the body is read; an HTTPException, so that FastAPI passes it on instead of calling it a
    parse error."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body over {limit} bytes")


class BodyLimit:
    """Counts the bytes of a request body as they arrive and stops at the limit (413), whatever the request says
    of its length: a chunked body has no Content-Length, and a stated one may lie."""

    def __init__(self, app, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        received = 0

        async def counted():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise BodyTooLarge(self.limit)
            return message

        started = False

        async def tracked_send(message):
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, tracked_send)
        except BodyTooLarge:
            if not started:
                await _error(413, f"request body over {self.limit} bytes")(scope, receive, send)


class Metrics:
    """Prometheus collectors of one app (its own registry: several apps may live in one process, as in tests)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("pr2_requests", "HTTP requests", ["route", "method", "status"], registry=self.registry)
        self.latency = Histogram(
            "pr2_request_seconds",
            "HTTP request latency",
            ["route"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "pr2_answer_batch_size",
            "Answer requests run together",
            buckets=(1, 2, 4, 8, 16, 32, 64),
            registry=self.registry,
        )
        self.queue_depth = Gauge("pr2_answer_queue_depth", "Answer requests waiting or running", registry=self.registry)
        self.posts_written = Counter("pr2_posts_written", "Posts added", registry=self.registry)
        self.answers = Counter("pr2_answers", "Answers given", ["cached"], registry=self.registry)


def create_app(store, answerer: Answerer | None, config: ServeConfig | None = None) -> FastAPI:
    """The API over `store`; `answerer` None serves posts only (answer routes answer 503)."""
    config = config or ServeConfig()
    store.max_posts_per_user = config.max_posts_per_user  # the store enforces it inside the write's transaction
    metrics = Metrics()
    batcher = (
        Batcher(
            answerer.answer_batch, config.max_batch, config.batch_window, metrics.batch_size.observe, config.max_queue
        )
        if answerer is not None
        else None
    )
    metrics.queue_depth.set_function(lambda: batcher.depth if batcher is not None else 0)

    @asynccontextmanager
    async def lifespan(_app):
        if batcher is not None:
            batcher.start()
        yield
        if batcher is not None:
            await batcher.stop()

    app = FastAPI(title="pr2", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.store, app.state.answerer, app.state.metrics = store, answerer, metrics
    app.state.batcher = batcher
    in_flight: dict[str, int] = {}  # answer requests waiting or running, per API key id

    async def guard(scope, receive, send, inner) -> None:
        """Every request, as plain ASGI (no task group between the client and the route, so a hang-up and the
        body limit reach the route as they happen): its key checked before its body is read, a stated length over
        the limit refused, an unexpected error a one-line 500, and the request counted in the metrics."""
        if scope["type"] != "http":
            return await inner(scope, receive, send)
        began = time.perf_counter()
        request = Request(scope)
        status = 500

        async def sending(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        length = request.headers.get("content-length")
        refused = None
        if request.url.path not in OPEN_PATHS:
            try:  # the key first: a client without one gets nothing read of its body
                scope.setdefault("state", {})["key_scope"] = await key_scope(request)
            except RequestError as err:
                refused = _error(err.status, str(err))
        if refused is None and length is not None and (not length.isdigit() or int(length) > config.max_body_bytes):
            refused = _error(413, f"request body over {config.max_body_bytes} bytes")
        if refused is not None:
            await refused(scope, receive, sending)
        else:
            try:
                await inner(scope, receive, sending)
            except Exception:  # never a traceback to the client; the log has it
                log.exception("unhandled error on %s %s", request.method, request.url.path)
                await _error(500, "internal error (see the server log)")(scope, receive, sending)
        path = getattr(scope.get("route"), "path", "unmatched")
        method = request.method if request.method in HTTP_METHODS else "OTHER"  # a bounded set of label values
        metrics.requests.labels(path, method, str(status)).inc()
        metrics.latency.labels(path).observe(time.perf_counter() - began)

    @app.exception_handler(RequestError)
    async def _refused(_request, err: RequestError):
        return _error(err.status, str(err), err.retry_after)

    @app.exception_handler(PR2Error)
    async def _pr2_error(_request, err: PR2Error):
        return _error(400, str(err))

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request, err: RequestValidationError):
        first = err.errors()[0] if err.errors() else {"msg": "invalid request", "loc": ()}
        if first.get("type") == "json_invalid":
            return _error(400, f"malformed JSON: {first.get('ctx', {}).get('error', first['msg'])}")
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or "body"
        return _error(422, f"{where}: {first['msg']}")

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request, err: StarletteHTTPException):
        return _error(err.status_code, str(err.detail))

    async def key_scope(request: Request) -> tuple[str, list[str] | None]:
        header = request.headers.get("authorization", "")
        scheme, _, key = header.partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise RequestError(401, "missing API key: send 'Authorization: Bearer <key>' (create one: pr2 keys create)")
        scope = await run_in_threadpool(store.key_scope, key.strip())
        if scope is None:
            raise RequestError(401, "invalid or revoked API key")
        return scope

    async def authorize(request: Request, user_id: str | None) -> str:
        """The request's key id, once its key may act for `user_id` (checked before the body was read)."""
        scope = getattr(request.state, "key_scope", None) or await key_scope(request)
        key_id, allowed = scope
        if user_id is not None:
            check_user_id(user_id)
            if allowed is not None and user_id not in allowed:
                raise RequestError(403, f"this API key may not act for user {user_id!r}")
        return key_id

    # --- posts ---

    @app.post("/v1/users/{user_id}/posts", status_code=201)
    async def add_posts(user_id: str, body: PostsIn, request: Request, response: Response):
        key_id = await authorize(request, user_id)
        idempotency = None
        if (given := request.headers.get("idempotency-key")) is not None:
            if not 1 <= len(given) <= 256 or not given.isprintable():
                raise RequestError(422, "Idempotency-Key must be 1 to 256 printable characters")
            digest = hashlib.sha256(json.dumps([user_id, body.model_dump()], sort_keys=True).encode()).hexdigest()
            idempotency = (key_id, given, digest)
        if (body.posts is None) == (body.text is None):
            raise RequestError(422, "give either 'text' (one post) or 'posts' (a list of {'text': ...})")
        texts = [body.text] if body.text is not None else [p.text for p in body.posts]
        if not texts:
            raise RequestError(422, "posts is empty")
        if len(texts) > config.max_posts_per_request:
            raise RequestError(413, f"{len(texts)} posts in one request; the limit is {config.max_posts_per_request}")
        for i, t in enumerate(texts):
            _check_text(t, "text" if body.text is not None else f"posts[{i}].text", config.max_post_chars)
        embeddings = await run_in_threadpool(answerer.embed, texts) if answerer is not None else None
        embedder = answerer.embedder if answerer is not None else None
        try:
            ids = await run_in_threadpool(store.add_posts, user_id, texts, embeddings, embedder, idempotency)
        except IdempotencyConflict:
            raise RequestError(422, "this Idempotency-Key was used with another request; use a new key") from None
        except TooManyPosts as err:
            raise RequestError(413, str(err)) from None
        if isinstance(ids, Replayed):
            response.headers["Idempotent-Replayed"] = "true"
        else:
            metrics.posts_written.inc(len(ids))
        return {"user_id": user_id, "ids": list(ids)}

    @app.get("/v1/users/{user_id}/posts")
    async def list_posts(user_id: str, request: Request, limit: int = 100, after: str | None = None):
        await authorize(request, user_id)
        if not 1 <= limit <= 1000:
            raise RequestError(422, "limit must be 1 to 1000")
        if after is not None and (len(after) > 200 or any(unicodedata.category(c) in ("Cc", "Cs") for c in after)):
            raise RequestError(422, "after must be the 'next' of an earlier page")
        if not await run_in_threadpool(store.user_exists, user_id):
            raise RequestError(404, f"unknown user {user_id!r}")
        listed = await run_in_threadpool(store.list_posts, user_id, limit, after)
        if listed is None:
            raise RequestError(422, "after: no post of this user has that id (deleted since?); list from the start")
        page, more = listed
        return {
            "user_id": user_id,
            "posts": [{"id": p.id, "text": p.text, "created_at": p.created_at} for p in page],
            "has_more": more,
            "next": page[-1].id if more else None,  # the last post's own id: nothing of other users' posts
        }

    @app.delete("/v1/users/{user_id}/posts/{post_id}")
    async def delete_post(user_id: str, post_id: str, request: Request):
        key_id = await authorize(request, user_id)
        if len(post_id) > 200 or any(unicodedata.category(c) in ("Cc", "Cs") for c in post_id):
            raise RequestError(422, "post id contains a control character or is too long to be one of ours")
        if not await run_in_threadpool(store.delete_post, user_id, post_id):
            raise RequestError(404, f"user {user_id!r} has no post {post_id!r}")
        if answerer is not None:
            answerer.forget(user_id)
        audit.info("key %s deleted post %s of user %r", key_id, post_id, user_id)
        return {"deleted": post_id}

    @app.delete("/v1/users/{user_id}")
    async def delete_user(user_id: str, request: Request):
        key_id = await authorize(request, user_id)
        deleted = await run_in_threadpool(store.delete_user, user_id)
        if deleted is None:
            raise RequestError(404, f"unknown user {user_id!r}")
        if answerer is not None:
            answerer.forget(user_id)
        audit.info("key %s deleted user %r and their %d posts", key_id, user_id, deleted)
        return {"deleted_user": user_id, "deleted_posts": deleted}

    # --- answers ---

    async def answer(user_id: str, question: str, settings: dict, request: Request, key_id: str) -> dict:
        if answerer is None:
            raise RequestError(503, "this server was started without a model")
        if in_flight.get(key_id, 0) >= config.max_in_flight_per_key:
            raise RequestError(
                429, f"{config.max_in_flight_per_key} answer requests already in flight for this key; retry later",
                retry_after=max(1, math.ceil(batcher.batch_seconds)),
            )  # fmt: skip
        in_flight[key_id] = in_flight.get(key_id, 0) + 1
        try:
            return await _answer(user_id, question, settings, request)
        finally:
            in_flight[key_id] -= 1
            if not in_flight[key_id]:
                del in_flight[key_id]

    async def until_done_or_gone(job_result, request: Request):
        """The job's result; if the client hangs up first, the job is cancelled (it leaves the queue unrun)."""
        task = asyncio.ensure_future(job_result)
        while True:
            done, _ = await asyncio.wait({task}, timeout=0.25)
            if done:
                return task.result()
            if await request.is_disconnected():
                task.cancel()
                raise RequestError(499, "the client closed the connection")

    async def _answer(user_id: str, question: str, settings: dict, request: Request) -> dict:
        began = time.perf_counter()
        _check_text(question, "question", MAX_QUESTION_CHARS)
        agent = dataclasses.replace(answerer.agent, **{k: v for k, v in settings.items() if v is not None})
        if agent.max_turn_tokens > answerer.agent.max_turn_tokens:
            raise RequestError(
                422, f"settings.max_turn_tokens: at most {answerer.agent.max_turn_tokens} on this server"
            )
        await run_in_threadpool(answerer.check_question, question, agent)
        state = await run_in_threadpool(store.state, user_id)
        if state is None:
            raise RequestError(404, f"unknown user {user_id!r}: add posts first")
        key = answerer.cache_key(user_id, *state, question, agent)
        cached = await run_in_threadpool(store.cached_answer, key) if key else None
        if cached is not None:
            result = {**cached, "cached": True, "timings": {"queue_s": 0.0, "agent_s": 0.0}}
        else:
            job = await until_done_or_gone(batcher.submit(Job(user_id, question, agent)), request)
            result = {**job, "cached": False}
        metrics.answers.labels(str(result["cached"]).lower()).inc()
        result["timings"]["total_s"] = time.perf_counter() - began
        return result

    @app.post("/v1/answer")
    async def answer_route(body: AnswerIn, request: Request):
        key_id = await authorize(request, body.user_id)
        settings = body.settings.model_dump() if body.settings is not None else {}
        return await answer(body.user_id, body.question, settings, request, key_id)

    @app.post("/v1/chat/completions")
    async def chat(body: ChatIn, request: Request):
        if not body.user:
            raise RequestError(400, "the request's 'user' field names whose history to answer from; it is missing")
        key_id = await authorize(request, body.user)
        question = _last_user_message(body.messages)
        settings = {"temperature": body.temperature, "top_p": body.top_p, "seed": body.seed}
        budget = body.max_completion_tokens or body.max_tokens
        if budget is not None:  # honoured: every turn of the agent, the answer's included, stays within it
            settings["max_turn_tokens"] = budget
        result = await answer(body.user, question, settings, request, key_id)
        usage = result["usage"]
        reply = {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "created": int(time.time()),
            "model": body.model or answerer.model_id,
        }
        finish = "stop" if result["ended"] == "answer" else "length"
        extra = {k: result[k] for k in ("searches", "retrieved_post_ids", "ended", "cached", "timings")}
        totals = {
            "prompt_tokens": usage["prompt_tokens"],
            "completion_tokens": usage["completion_tokens"],
            "total_tokens": usage["prompt_tokens"] + usage["completion_tokens"],
        }
        if body.stream:
            return StreamingResponse(
                _chunks(reply, result["answer"], finish, totals, extra), media_type="text/event-stream"
            )
        return {
            **reply,
            "object": "chat.completion",
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": result["answer"]}, "finish_reason": finish}
            ],
            "usage": totals,
            "pr2": extra,
        }

    @app.get("/v1/models")
    async def models(request: Request):
        await authorize(request, None)
        served = answerer.model_id if answerer is not None else "pr2"
        return {"object": "list", "data": [{"id": served, "object": "model", "created": 0, "owned_by": "pr2"}]}

    # --- operations ---

    @app.get("/healthz")
    async def healthz():
        from sqlalchemy import text

        def ping() -> None:
            with store.engine.connect() as conn:
                conn.execute(text("SELECT 1"))

        try:
            await run_in_threadpool(ping)
        except Exception as err:
            return _error(503, f"database unreachable: {type(err).__name__}")
        return {
            "status": "ok",
            "database": store.engine.dialect.name,
            "model": answerer.model_id if answerer is not None else None,
            "queue_depth": batcher.depth if batcher is not None else 0,
        }

    @app.get("/metrics")
    async def prometheus():
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    app.openapi = lambda: _openapi(app)
    app.add_middleware(BodyLimit, limit=config.max_body_bytes)  # counts every byte received, inside the guard
    app.add_middleware(Guard, guard=guard)
    return app


STREAM_CHARS = 64
"""Characters of the answer per server-sent event when a client asks to stream."""


async def _chunks(reply: dict, answer: str, finish: str, usage: dict, extra: dict):
    """The answer as OpenAI's chat.completion.chunk events: the role, the text in pieces, then a last chunk with
    the finish reason, the usage and pr2's own fields (searches, retrieved posts), then [DONE]. pr2 answers after
    the agent's episode ends, so the pieces arrive together; clients that read streams read them unchanged."""

    def event(delta: dict, finish_reason=None, **more) -> str:
        chunk = {**reply, "object": "chat.completion.chunk",
                 "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}], **more}  # fmt: skip
        return f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n"

    yield event({"role": "assistant", "content": ""})
    for start in range(0, len(answer), STREAM_CHARS):
        yield event({"content": answer[start : start + STREAM_CHARS]})
    yield event({}, finish, usage=usage, pr2=extra)
    yield "data: [DONE]\n\n"


ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["message", "type"],
            "properties": {"message": {"type": "string"}, "type": {"type": "string"}},
        }
    },
}
REFUSALS = {
    "400": "malformed JSON or a request pr2 does not take",
    "401": "no API key, or an invalid or revoked one",
    "403": "the key may not act for this user",
    "404": "unknown user or post",
    "413": "a body, post or question over its limit",
    "422": "a field of the wrong type or out of range",
    "429": "the answer queue is full, or this key has too many answers in flight (see Retry-After)",
}


def _openapi(app: FastAPI) -> dict:
    """FastAPI's schema of the routes, with the error shape pr2 really sends (`{"error": {"message", "type"}}`, the
    one OpenAI clients read) on every refusal, in place of FastAPI's default validation-error body."""
    if app.openapi_schema is None:
        from fastapi.openapi.utils import get_openapi

        schema = get_openapi(title=app.title, version=app.version, routes=app.routes)
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for name in ("HTTPValidationError", "ValidationError"):
            components.pop(name, None)
        components["Error"] = ERROR_SCHEMA
        body = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                responses = operation.setdefault("responses", {})
                for status, description in REFUSALS.items():
                    responses[status] = {"description": description, "content": body}
        app.openapi_schema = schema
    return app.openapi_schema


def _last_user_message(messages: list[dict[str, Any]]) -> str:
    for at in range(len(messages) - 1, -1, -1):
        message = messages[at]
        if message.get("role") != "user":
            continue
        if any(m.get("role") in ("user", "assistant", "tool") for m in messages[:at]):
            raise RequestError(
                400, "pr2 answers one question from the user's history, not a conversation: send only the last user "
                "message (earlier turns would not be used)",
            )  # fmt: skip
        content = message.get("content")
        if isinstance(content, str):
            return content
        if isinstance(content, list):
            parts = [p.get("text") for p in content if isinstance(p, dict) and p.get("type") == "text"]
            if any(not isinstance(text, str) for text in parts):
                raise RequestError(422, "messages: a text part of the last user message has no text")
            if parts:
                return "\n".join(parts)
        raise RequestError(422, "messages: the last user message has no text content")
    raise RequestError(422, "messages: no user message (the question is the last user message)")
