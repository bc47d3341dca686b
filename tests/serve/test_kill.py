"""Nothing lost: SIGKILL `pr2 serve` while clients write; after a restart every acknowledged post is there, with its
embedding, and no request's posts are half-written."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict

import httpx
import pytest

from pr2.errors import PR2Error
from pr2.serve.server import wait_until_healthy
from pr2.serve.store import Store
from tests.serve.conftest import free_port

pytestmark = pytest.mark.slow


def start_server(db_url: str, port: int, *args: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "pr2.cli", "serve", "--db", db_url, "--port", str(port), *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_until_healthy(f"http://127.0.0.1:{port}", proc)
    except PR2Error:
        proc.kill()
        raise AssertionError(f"pr2 serve did not start: {proc.stdout.read()}") from None
    return proc


def test_sigkill_while_writing_loses_no_acknowledged_post(db_url, searching_llama_dir):
    store = Store(db_url)
    _, key = store.create_key("writer")
    store.close()
    port = free_port()
    model_args = ["--model", str(searching_llama_dir), "--retriever", "minilm", "--prefill", "<search>"]
    server = start_server(db_url, port, *model_args)
    headers = {"Authorization": f"Bearer {key}"}
    acked: dict[str, str] = {}  # post id -> text, for every acknowledged post
    sent: dict[str, int] = {}  # request tag -> how many posts it carried
    lock, first_ack = threading.Lock(), threading.Event()

    def client(c: int) -> None:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=30) as http:
            for r in range(10_000):
                tag = f"c{c}-r{r}-"
                texts = [f"{tag}{i} I water my {c} plants every {r} days" for i in range(1 + (c + r) % 5)]
                with lock:
                    sent[tag] = len(texts)
                try:
                    resp = http.post(f"/v1/users/user{c % 3}/posts", json={"posts": [{"text": t} for t in texts]})
                except httpx.HTTPError:
                    return  # the server is gone
                assert resp.status_code == 201, resp.text
                with lock:
                    acked.update(zip(resp.json()["ids"], texts, strict=True))
                first_ack.set()

    clients = [threading.Thread(target=client, args=(c,)) for c in range(4)]
    for t in clients:
        t.start()
    assert first_ack.wait(120)
    time.sleep(1.5)
    server.send_signal(signal.SIGKILL)
    server.wait()
    assert key not in server.stdout.read()  # the server's log never holds a key
    for t in clients:
        t.join(60)
    assert len(acked) > 10

    server = start_server(db_url, port, "--no-model")
    try:
        stored = {}
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=30) as http:
            for u in range(3):
                after = None
                while True:
                    params = {"limit": 1000, **({"after": after} if after else {})}
                    page = http.get(f"/v1/users/user{u}/posts", params=params).json()
                    stored.update({p["id"]: p["text"] for p in page["posts"]})
                    after = page["next"]
                    if not page["has_more"]:
                        break
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(30)
    missing = {i: t for i, t in acked.items() if stored.get(i) != t}
    assert not missing, f"{len(missing)} acknowledged posts lost or changed"
    per_request = defaultdict(int)
    for text in stored.values():
        per_request[text.split("-", 2)[0] + "-" + text.split("-", 2)[1] + "-"] += 1
    half = {tag: n for tag, n in per_request.items() if n != sent[tag]}
    assert not half, f"half-written requests: {half}"
    store = Store(db_url)
    for u in range(3):
        profile = store.profile(f"user{u}")
        assert all(e is not None and e.shape == (384,) for e in profile.embeddings)  # written with its post
    if store.is_sqlite:
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA integrity_check").scalar_one() == "ok"
    store.close()
