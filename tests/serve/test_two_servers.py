"""Two `pr2 serve` processes on one PostgreSQL database under a mixed load drawn from a fixed seed: writes, post and
user deletions, users re-created under old ids, greedy answers (cached by one process, asked again through the
other). Checked against a model of what each user owns: no 5xx, and no answer, fresh or cached, ever retrieves a
post its user does not own at the time it is asked."""

from __future__ import annotations

import random

import httpx
import pytest

from pr2.serve.store import Store
from tests.serve.conftest import free_port
from tests.serve.test_kill import start_server

pytestmark = pytest.mark.slow

TOPICS = ["my balcony garden faces north", "I bake bread on Sundays", "my cat Pixel hates the vet",
          "I cycle to work in the rain", "the budget for my kitchen is tight", "I play the cello badly"]  # fmt: skip
QUESTIONS = ["What should I plant?", "How do I keep my pet calm?", "Which bike should I buy?"]


def test_two_processes_one_database_never_serve_what_a_user_does_not_own(db_url, searching_llama_dir):
    if not db_url.startswith("postgresql"):
        pytest.skip("several server processes share a PostgreSQL database (SQLite is one process's)")
    store = Store(db_url)
    _, key = store.create_key("load")
    store.close()
    model = ["--model", str(searching_llama_dir), "--retriever", "minilm", "--prefill", "<search>"]
    ports = [free_port(), free_port()]
    servers = [start_server(db_url, port, *model) for port in ports]
    rng = random.Random(0)
    owned: dict[str, set[str]] = {}  # user -> the post ids they own now
    answers = 0
    try:
        clients = [httpx.Client(base_url=f"http://127.0.0.1:{p}", headers={"Authorization": f"Bearer {key}"},
                                timeout=120) for p in ports]  # fmt: skip
        for step in range(70):
            http = clients[rng.randrange(2)]  # each step through either process
            user = f"u{rng.randrange(3)}"
            op = rng.choices(["write", "delete_post", "delete_user", "answer"], weights=[4, 2, 1, 4])[0]
            if op == "write" or (op != "delete_user" and not owned.get(user)):
                texts = [f"{rng.choice(TOPICS)} (step {step}, {i})" for i in range(rng.randint(1, 3))]
                r = http.post(f"/v1/users/{user}/posts", json={"posts": [{"text": t} for t in texts]})
                assert r.status_code == 201, (step, r.text)
                owned.setdefault(user, set()).update(r.json()["ids"])
            elif op == "delete_post":
                post = rng.choice(sorted(owned[user]))
                r = http.delete(f"/v1/users/{user}/posts/{post}")
                assert r.status_code == 200, (step, r.text)
                owned[user].discard(post)
            elif op == "delete_user":
                r = http.delete(f"/v1/users/{user}")
                assert r.status_code == (200 if user in owned else 404), (step, r.text)
                owned.pop(user, None)
            else:
                question = rng.choice(QUESTIONS)
                for asked in (http, clients[rng.randrange(2)]):  # the second may be a cache hit, in either process
                    r = asked.post("/v1/answer", json={"user_id": user, "question": question})
                    assert r.status_code == 200, (step, r.text)
                    got = set(r.json()["retrieved_post_ids"])
                    assert got <= owned[user], (step, user, got - owned[user], r.json()["cached"])
                    answers += 1
        assert answers >= 20
        # the property that matters most across processes: cached by one, user re-created through the other
        clients[0].post("/v1/users/u9/posts", json={"text": "my balcony garden faces north"})
        first = clients[0].post("/v1/answer", json={"user_id": "u9", "question": "What should I plant?"}).json()
        clients[1].delete("/v1/users/u9")
        fresh = clients[1].post("/v1/users/u9/posts", json={"text": "I cycle to work in the rain"}).json()["ids"]
        again = clients[0].post("/v1/answer", json={"user_id": "u9", "question": "What should I plant?"}).json()
        assert first["retrieved_post_ids"] and not again["cached"]
        assert set(again["retrieved_post_ids"]) <= set(fresh)
    finally:
        for server in servers:
            server.terminate()
            server.wait(30)
