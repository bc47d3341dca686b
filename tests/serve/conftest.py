"""Fixtures of the server tests: a database per test (SQLite file; PostgreSQL when PR2_TEST_POSTGRES_URL names a
throwaway cluster, as .ci/run starts one), the searching tiny Llama as the policy, and a live uvicorn server."""

from __future__ import annotations

import functools
import os
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from pr2.agent.protocol import AgentConfig

POSTGRES_ENV = "PR2_TEST_POSTGRES_URL"

# The searching tiny Llama follows the protocol from this prefill: it searches " garden", then answers.
TEST_AGENT = AgentConfig(
    prefill="<search>",
    example_turn=False,
    max_searches=2,
    top_k=2,
    max_turn_tokens=8,
    max_model_len=512,
    item_tokens=32,
    retriever="minilm",
    temperature=0.0,
)


@functools.cache  # the database is made once per worker, not checked again by every test
def _postgres_url() -> str | None:
    """The cluster's URL; under pytest-xdist, a database of this worker's own on it (made on first use), so that
    one worker's clean slate never drops another's tables mid-test."""
    url = os.environ.get(POSTGRES_ENV)
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not url or not worker:
        return url
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    name = f"{parsed.database}_{worker}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            if conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}).first() is None:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    return parsed.set(database=name).render_as_string(hide_password=False)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path) -> str:
    """Each storage test runs on both databases (PostgreSQL only where a cluster is given)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'pr2.db'}"
    url = _postgres_url()
    if not url:
        pytest.skip(f"no PostgreSQL: set {POSTGRES_ENV} (scripts/pg_throwaway.sh starts one; .ci/run does)")
    from pr2.serve.store import metadata, open_engine

    engine = open_engine(url)
    metadata.drop_all(engine)  # a clean database per test
    engine.dispose()
    return url


@pytest.fixture(scope="session")
def serve_generator(searching_llama_dir):
    from pr2.generation import GeneratorConfig, load_generator

    return load_generator(GeneratorConfig(model=str(searching_llama_dir), backend="hf", device="cpu"))


@pytest.fixture(scope="session")
def write_retriever():
    from pr2.retrieval import load_retriever

    return load_retriever("minilm")


def make_answerer(store, serve_generator, minilm_retriever, write_retriever, agent: AgentConfig = TEST_AGENT):
    from pr2.serve.service import Answerer

    return Answerer(store, serve_generator, minilm_retriever, agent, "searching-llama", write_retriever=write_retriever)


@dataclass
class Live:
    url: str
    key: str
    store: object
    app: object

    def headers(self, key: str | None = None) -> dict:
        return {"Authorization": f"Bearer {key or self.key}"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_live(app, store) -> tuple[Live, object, threading.Thread]:
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not server.started:
        if time.time() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    _, key = store.create_key("test")
    return Live(f"http://127.0.0.1:{port}", key, store, app), server, thread


@pytest.fixture
def live(db_url, serve_generator, minilm_retriever, write_retriever):
    """A real server (uvicorn on loopback) over a fresh database, answering with the searching tiny Llama."""
    from pr2.serve.app import create_app
    from pr2.serve.service import ServeConfig
    from pr2.serve.store import Store

    store = Store(db_url)
    answerer = make_answerer(store, serve_generator, minilm_retriever, write_retriever)
    app = create_app(store, answerer, ServeConfig(max_batch=16, batch_window=0.05, max_post_chars=2000))
    handle, server, thread = start_live(app, store)
    yield handle
    server.should_exit = True
    thread.join(timeout=10)
    store.close()


def sqlite_files(url: str) -> list[Path]:
    path = Path(url.removeprefix("sqlite:///"))
    return [p for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")) if p.exists()]
