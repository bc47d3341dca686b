"""No request knocks the server over, on SQLite and PostgreSQL: the key is checked before a body is read, a body is
limited by the bytes received (a chunked one has no Content-Length to trust), the answer queue is bounded (429 with
Retry-After) with a limit per key, a request whose client hung up leaves the queue, and greedy requests batch
together whatever their seed."""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import httpx
import pytest

from tests.serve.conftest import TEST_AGENT, make_answerer, start_live

GARDEN = "My garden is a narrow balcony facing north"


def raw_request(url: str, request: bytes, timeout: float = 30) -> bytes:
    """Send bytes as they are (a chunked body, no Content-Length) and read what the server answers."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(request)
        chunks = []
        try:
            while data := sock.recv(65536):
                chunks.append(data)
        except (TimeoutError, ConnectionResetError):
            pass
    return b"".join(chunks)


def chunked_post(path: str, key: str | None, chunks: list[bytes]) -> bytes:
    head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
    head += f"Authorization: Bearer {key}\r\n" if key else ""
    head += "Connection: close\r\n\r\n"
    body = b"".join(f"{len(c):x}\r\n".encode() + c + b"\r\n" for c in chunks) + b"0\r\n\r\n"
    return head.encode() + body


@pytest.fixture
def small_live(db_url, serve_generator, minilm_retriever, write_retriever):
    """A server with small limits: 64 kB bodies, 2 answers waiting at most, 1 in flight per key."""
    from pr2.serve.app import create_app
    from pr2.serve.service import ServeConfig
    from pr2.serve.store import Store

    store = Store(db_url)
    answerer = make_answerer(store, serve_generator, minilm_retriever, write_retriever)
    config = ServeConfig(
        max_batch=16, batch_window=0.05, max_body_bytes=64 * 1024, max_queue=2, max_in_flight_per_key=1
    )
    app = create_app(store, answerer, config)
    handle, server, thread = start_live(app, store)
    yield handle
    server.should_exit = True
    thread.join(timeout=10)
    store.close()


def test_a_chunked_body_past_the_limit_is_refused_by_the_bytes_received(small_live):
    piece = b'{"text": "' + b"x" * 30_000
    answer = raw_request(small_live.url, chunked_post("/v1/users/ana/posts", small_live.key, [piece, b"y" * 40_000]))
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert small_live.store.count_posts("ana") == 0


def test_without_a_key_no_body_is_read(small_live):
    """A client with no key is refused before its body: a body far past the limit still gets a 401."""
    answer = raw_request(small_live.url, chunked_post("/v1/users/ana/posts", None, [b"x" * 200_000]))
    assert answer.startswith(b"HTTP/1.1 401"), answer[:200]
    r = httpx.post(small_live.url + "/v1/answer", json={"user_id": "ana", "question": "q"}, timeout=30)
    assert r.status_code == 401 and "\n" not in r.json()["error"]["message"]


def test_the_answer_queue_is_bounded_with_retry_after_and_a_limit_per_key(small_live):
    store = small_live.store
    r = httpx.post(f"{small_live.url}/v1/users/ana/posts", json={"text": GARDEN}, headers=small_live.headers())
    assert r.status_code == 201
    _, other_key = store.create_key("other")
    keys = [small_live.key, other_key, *(store.create_key(f"k{i}")[1] for i in range(4))]
    blocker = threading.Event()
    answerer = small_live.app.state.answerer
    run = answerer.answer_batch

    def slow(jobs):  # hold the worker so that requests pile up
        blocker.wait(30)
        return run(jobs)

    small_live.app.state.batcher.run_batch = slow

    def ask(key, question="What should I plant?"):
        body = {"user_id": "ana", "question": question, "settings": {"temperature": 0.5}}  # not cached
        return httpx.post(
            f"{small_live.url}/v1/answer", json=body, headers={"Authorization": f"Bearer {key}"}, timeout=60
        )

    results = {}
    threads = [threading.Thread(target=lambda i=i: results.__setitem__(i, ask(keys[i]))) for i in range(len(keys))]
    for t in threads:
        t.start()
        time.sleep(0.15)
    same_key = ask(small_live.key, "Another question?")  # its first request is still in flight
    blocker.set()
    for t in threads:
        t.join()
    codes = sorted(r.status_code for r in results.values())
    refused = [r for r in results.values() if r.status_code == 429]
    assert same_key.status_code == 429 and "in flight for this key" in same_key.json()["error"]["message"]
    assert refused and all(int(r.headers["retry-after"]) >= 1 for r in refused)
    assert codes.count(200) >= 2 and set(codes) <= {200, 429}


def test_a_request_whose_client_hung_up_leaves_the_queue(small_live):
    httpx.post(f"{small_live.url}/v1/users/ana/posts", json={"text": GARDEN}, headers=small_live.headers())
    batcher = small_live.app.state.batcher
    answered: list[int] = []
    blocker = threading.Event()
    run = batcher.run_batch

    def watched(jobs):
        blocker.wait(30)
        answered.append(len(jobs))
        return run(jobs)

    batcher.run_batch = watched
    body = {"user_id": "ana", "question": "What should I plant?", "settings": {"temperature": 0.5}}
    first = threading.Thread(
        target=lambda: httpx.post(f"{small_live.url}/v1/answer", json=body, headers=small_live.headers(), timeout=60)
    )
    first.start()
    time.sleep(0.3)  # the first is running (held); the second waits in the queue, then hangs up
    _, key2 = small_live.store.create_key("second")
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{small_live.url}/v1/answer", json=body, headers={"Authorization": f"Bearer {key2}"}, timeout=0.5)
    time.sleep(0.5)  # the server notices the hang-up
    blocker.set()
    first.join()
    time.sleep(0.5)
    assert answered == [1]  # the hung-up request was never run
    assert batcher.depth == 0


def test_greedy_requests_batch_together_whatever_their_seed(db_url, serve_generator, minilm_retriever, write_retriever):
    from dataclasses import replace

    from pr2.serve.service import Batcher, Job, batch_key

    jobs = [Job("ana", "q", replace(TEST_AGENT, temperature=0.0, seed=s)) for s in (0, 1, 12345)]
    assert len({batch_key(j.config) for j in jobs}) == 1  # greedy: the seed changes nothing
    sampled = [Job("ana", "q", replace(TEST_AGENT, temperature=0.7, seed=s)) for s in (0, 1)]
    assert len({batch_key(j.config) for j in sampled}) == 2

    seen: list[int] = []
    batcher = Batcher(lambda js: seen.append(len(js)) or [{"answer": ""}] * len(js), max_batch=8, window=0.2)

    async def main():
        batcher.start()
        await asyncio.gather(*(batcher.submit(j) for j in jobs))
        await batcher.stop()

    asyncio.run(main())
    assert seen == [3]


def test_a_model_back_end_that_fails_is_a_503_that_names_no_internal_address(live):
    httpx.post(f"{live.url}/v1/users/ana/posts", json={"text": GARDEN}, headers=live.headers())

    def down(jobs):
        raise ConnectionError("connection refused: http://10.0.0.7:8000/v1/completions")

    live.app.state.batcher.run_batch = down
    body = {"user_id": "ana", "question": "What should I plant?", "settings": {"temperature": 0.5}}
    r = httpx.post(f"{live.url}/v1/answer", json=body, headers=live.headers(), timeout=60)
    assert r.status_code == 503 and "10.0.0.7" not in r.text and "\n" not in r.json()["error"]["message"]
