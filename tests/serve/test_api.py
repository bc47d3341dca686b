"""The HTTP API on a real uvicorn server: posts, answers from the user's own history only, OpenAI-compatible chat
with `user=`, keys, batching, metrics, and refusals that are 4xx with one line (never a 500)."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.serve.conftest import TEST_AGENT

GARDEN = "My garden is a narrow balcony facing north"


def post(live, path, body=None, key=None, **kw):
    return httpx.post(live.url + path, json=body, headers=live.headers(key), timeout=120, **kw)


def add(live, user, texts):
    r = post(live, f"/v1/users/{user}/posts", {"posts": [{"text": t} for t in texts]})
    assert r.status_code == 201, r.text
    return r.json()["ids"]


def test_posts_round_trip_and_answers_come_from_the_users_own_posts(live):
    ana = add(live, "ana", [GARDEN, "I bake bread on Sundays", "My cat is called Pixel"])
    bo = add(live, "bo", ["My garden has three apple trees and a pond", "I drive a red van"])
    listed = httpx.get(f"{live.url}/v1/users/ana/posts?limit=2", headers=live.headers()).json()
    assert [p["id"] for p in listed["posts"]] == ana[:2] and listed["next"] is not None
    rest = httpx.get(f"{live.url}/v1/users/ana/posts?after={listed['next']}", headers=live.headers()).json()
    assert [p["id"] for p in rest["posts"]] == ana[2:] and rest["next"] is None and rest["has_more"] is False
    # the cursor is ana's own last post id: nothing in it counts or names bo's posts; bo's id is no cursor for ana
    assert listed["next"] == ana[1] and listed["has_more"] is True
    wrong = httpx.get(f"{live.url}/v1/users/ana/posts?after={bo[0]}", headers=live.headers())
    assert wrong.status_code == 422 and bo[0] not in wrong.text

    r = post(live, "/v1/answer", {"user_id": "ana", "question": "What should I plant?"})
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["searches"] and out["searches"][0]["query"] == "garden"
    assert set(out["retrieved_post_ids"]) <= set(ana)  # never bo's garden post
    assert out["searches"][0]["post_ids"][0] == ana[0]  # the stored embedding found ana's garden post first
    assert out["cached"] is False and out["timings"]["total_s"] > 0
    again = post(live, "/v1/answer", {"user_id": "ana", "question": "What should I plant?"}).json()
    assert again["cached"] is True and again["answer"] == out["answer"]
    add(live, "ana", ["I moved: my new garden gets full sun"])  # a new post: the cached answer no longer applies
    assert post(live, "/v1/answer", {"user_id": "ana", "question": "What should I plant?"}).json()["cached"] is False
    assert set(post(live, "/v1/answer", {"user_id": "bo", "question": "Hi"}).json()["retrieved_post_ids"]) <= set(bo)


def test_a_search_encodes_only_its_query(live, minilm_retriever, monkeypatch):
    add(live, "ana", [GARDEN, "I bake bread"])

    def no_indexing(documents):
        raise AssertionError("posts were re-encoded at answer time")

    monkeypatch.setattr(minilm_retriever, "index", no_indexing)
    assert post(live, "/v1/answer", {"user_id": "ana", "question": "What should I plant?"}).status_code == 200


def test_openai_client_gets_personalized_answers_with_user(live):
    from openai import OpenAI

    ids = add(live, "ana", [GARDEN, "I bake bread on Sundays"])
    client = OpenAI(base_url=live.url + "/v1", api_key=live.key)
    reply = client.chat.completions.create(
        model="pr2", messages=[{"role": "user", "content": "What should I plant?"}], user="ana", temperature=0
    )
    assert reply.choices[0].message.role == "assistant"
    assert (
        reply.choices[0].message.content
        == post(live, "/v1/answer", {"user_id": "ana", "question": "What should I plant?"}).json()["answer"]
    )
    assert reply.usage.prompt_tokens > 0
    assert set(reply.model_extra["pr2"]["retrieved_post_ids"]) <= set(ids)
    r = post(live, "/v1/chat/completions", {"model": "pr2", "messages": [{"role": "user", "content": "Hi"}]})
    assert r.status_code == 400 and "'user'" in r.json()["error"]["message"]


def test_openai_clients_stream_list_models_and_have_max_tokens_honoured(live):
    """What an OpenAI client expects: `stream=True` reads server-sent chunks (the answer, then pr2's fields in the
    last), `models.list()` names the served model, `max_tokens` bounds every turn, and a conversation's earlier
    turns are refused in one line rather than silently dropped."""
    from openai import BadRequestError, OpenAI, UnprocessableEntityError

    ids = add(live, "ana", [GARDEN, "I bake bread on Sundays"])
    client = OpenAI(base_url=live.url + "/v1", api_key=live.key)
    question = [{"role": "user", "content": "What should I plant?"}]
    whole = client.chat.completions.create(model="pr2", messages=question, user="ana", temperature=0)
    chunks = list(
        client.chat.completions.create(model="pr2", messages=question, user="ana", temperature=0, stream=True)
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == whole.choices[0].message.content
    assert chunks[0].choices[0].delta.role == "assistant"
    last = chunks[-1]
    assert last.choices[0].finish_reason == whole.choices[0].finish_reason
    assert set(last.model_extra["pr2"]["retrieved_post_ids"]) <= set(ids) and last.usage.completion_tokens > 0
    assert [m.id for m in client.models.list()] == [live.app.state.answerer.model_id]
    short = client.chat.completions.create(model="pr2", messages=question, user="ana", temperature=0, max_tokens=3)
    assert short.usage.completion_tokens <= 3 * (TEST_AGENT.max_searches + 1)  # every turn within 3 tokens
    with pytest.raises(UnprocessableEntityError, match="max_turn_tokens"):  # above the server's own cap
        client.chat.completions.create(model="pr2", messages=question, user="ana", max_tokens=10_000)
    conversation = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}, *question]
    with pytest.raises(BadRequestError, match="not a conversation"):
        client.chat.completions.create(model="pr2", messages=conversation, user="ana")
    system_first = [{"role": "system", "content": "Be brief."}, *question]
    assert client.chat.completions.create(model="pr2", messages=system_first, user="ana", temperature=0).choices


def test_keys_are_required_limited_to_their_users_and_revocable(live):
    add(live, "ana", ["a post"])
    assert httpx.get(f"{live.url}/v1/users/ana/posts").status_code == 401
    assert httpx.get(f"{live.url}/v1/users/ana/posts", headers=live.headers("pr2_nope")).status_code == 401
    key_id, limited = live.store.create_key("ana's app", ["ana"])
    assert httpx.get(f"{live.url}/v1/users/ana/posts", headers=live.headers(limited)).status_code == 200
    r = post(live, "/v1/users/bo/posts", {"text": "x"}, key=limited)
    assert r.status_code == 403
    r = post(live, "/v1/chat/completions", {"messages": [{"role": "user", "content": "q"}], "user": "bo"}, key=limited)
    assert r.status_code == 403
    live.store.revoke_key(key_id)
    assert httpx.get(f"{live.url}/v1/users/ana/posts", headers=live.headers(limited)).status_code == 401


def test_requests_asked_together_are_answered_in_one_batch(live):
    users = [f"user{i}" for i in range(8)]
    for u in users:
        add(live, u, [f"{u}: {GARDEN}", f"{u} likes tea"])
    with ThreadPoolExecutor(8) as pool:
        outs = list(
            pool.map(lambda u: post(live, "/v1/answer", {"user_id": u, "question": "What should I grow?"}), users)
        )
    assert all(r.status_code == 200 for r in outs)
    assert max(r.json()["batch_size"] for r in outs) > 1
    metrics = httpx.get(f"{live.url}/metrics").text
    assert "pr2_answer_batch_size_bucket" in metrics and "pr2_answer_queue_depth" in metrics
    assert 'pr2_requests_total{method="POST",route="/v1/answer",status="200"} 8.0' in metrics
    assert httpx.get(f"{live.url}/healthz").json()["status"] == "ok"


def test_a_request_never_sees_another_users_posts(live):
    """Many users sharing words, random questions at once: every retrieved id is the asker's own."""
    import random

    rng = random.Random(0)
    words = ["garden", "bread", "budget", "knees", "guitar", "vegan", "train", "rent"]
    owned = {}
    for i in range(12):
        user = f"u{i}"
        owned[user] = set(add(live, user, [f"{user} {w} {rng.choice(words)}" for w in rng.sample(words, 4)]))
    asks = [(u, f"{rng.choice(words)} {rng.choice(words)}?") for u in owned for _ in range(2)]
    with ThreadPoolExecutor(12) as pool:
        outs = list(pool.map(lambda a: post(live, "/v1/answer", {"user_id": a[0], "question": a[1]}), asks))
    for (user, _), r in zip(asks, outs, strict=True):
        assert r.status_code == 200, r.text
        got = set(r.json()["retrieved_post_ids"])
        assert got and got <= owned[user]


BAD = [
    ("malformed JSON", "/v1/answer", b'{"user_id": "ana", "question": ', 400),
    ("empty post", "/v1/users/ana/posts", {"text": "   "}, 422),
    ("oversized post", "/v1/users/ana/posts", {"text": "x" * 2001}, 413),
    ("no posts", "/v1/users/ana/posts", {"posts": []}, 422),
    ("both forms", "/v1/users/ana/posts", {"text": "a", "posts": [{"text": "b"}]}, 422),
    ("NUL", "/v1/users/ana/posts", {"text": "a\x00b"}, 422),
    ("lone surrogate", "/v1/users/ana/posts", b'{"text": "a\\ud800b"}', 422),
    ("unknown field", "/v1/answer", {"user_id": "ana", "question": "q", "temprature": 1}, 422),
    ("wrong type", "/v1/answer", {"user_id": "ana", "question": 5}, 422),
    ("unknown user", "/v1/answer", {"user_id": "nobody", "question": "q"}, 404),
    ("question past the budget", "/v1/answer", {"user_id": "ana", "question": "garden " * 600}, 413),
    ("setting out of range", "/v1/answer", {"user_id": "ana", "question": "q", "settings": {"top_k": 0}}, 422),
    (
        "turn over the server's cap",
        "/v1/answer",
        {"user_id": "ana", "question": "q", "settings": {"max_turn_tokens": 9}},
        422,
    ),
    (
        "an earlier turn",
        "/v1/chat/completions",
        {"messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "q"}], "user": "ana"},
        400,
    ),
    (
        "max_tokens 0",
        "/v1/chat/completions",
        {"messages": [{"role": "user", "content": "q"}], "user": "ana", "max_tokens": 0},
        422,
    ),
    ("no user message", "/v1/chat/completions", {"messages": [{"role": "system", "content": "q"}], "user": "ana"}, 422),
    (
        "a chat part whose text is null",
        "/v1/chat/completions",
        {"messages": [{"role": "user", "content": [{"type": "text", "text": None}]}], "user": "ana"},
        422,
    ),
    ("a seed of 2^64", "/v1/answer", {"user_id": "ana", "question": "q", "settings": {"seed": 2**64}}, 422),
    ("a negative seed", "/v1/answer", {"user_id": "ana", "question": "q", "settings": {"seed": -1}}, 422),
    (
        "a chat seed of 2^64",
        "/v1/chat/completions",
        {"messages": [{"role": "user", "content": "q"}], "user": "ana", "seed": 2**64},
        422,
    ),
]


@pytest.mark.parametrize(("what", "path", "body", "status"), BAD, ids=[b[0] for b in BAD])
def test_bad_input_is_a_4xx_with_one_line(live, what, path, body, status):
    add(live, "ana", [GARDEN])
    if isinstance(body, bytes):  # raw bytes: what a JSON encoder would never send
        headers = {**live.headers(), "content-type": "application/json"}
        r = httpx.post(live.url + path, content=body, headers=headers, timeout=60)
    else:
        r = post(live, path, body)
    assert r.status_code == status, (what, r.text)
    message = r.json()["error"]["message"]
    assert message and "\n" not in message and "Traceback" not in message


def test_path_and_query_values_a_database_cannot_hold_are_a_4xx_not_a_500(live):
    """A page cursor past 2^63 and a NUL in a path segment reach the database today (PostgreSQL refuses both)."""
    add(live, "ana", [GARDEN])
    for method, path in (
        ("GET", f"/v1/users/ana/posts?after={2**63}"),
        ("GET", f"/v1/users/ana/posts?after={2**70}"),
        ("GET", "/v1/users/ana/posts?after=abc%00def"),
        ("DELETE", "/v1/users/ana/posts/abc%00def"),
        ("DELETE", "/v1/users/an%00a"),
        ("GET", "/v1/users/an%00a/posts"),
    ):
        r = httpx.request(method, live.url + path, headers=live.headers(), timeout=60)
        assert 400 <= r.status_code < 500, (method, path, r.status_code, r.text)
        assert "\n" not in r.json()["error"]["message"]


def test_the_metrics_method_label_takes_a_bounded_set(live):
    for verb in ("BREW", "WHEN", "XYZZY"):
        httpx.request(verb, live.url + "/healthz", timeout=60)
    metrics = httpx.get(live.url + "/metrics", timeout=60).text
    assert 'method="BREW"' not in metrics and 'method="XYZZY"' not in metrics
    assert 'method="OTHER"' in metrics


def test_any_unicode_is_stored_and_returned_exactly(live):
    texts = ["Ünïcödé ✓ 🌱🚲", "שלום עולם", "e\u0301 (combining)", "中文 日本語 한국어", "\u200b zero width"]
    ids = add(live, "名前 ünï", texts)
    got = httpx.get(f"{live.url}/v1/users/名前 ünï/posts", headers=live.headers()).json()
    assert [p["text"] for p in got["posts"]] == texts and [p["id"] for p in got["posts"]] == ids


def test_fuzzed_bodies_never_cause_a_500(live):
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    add(live, "ana", [GARDEN])
    values = st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=50),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
        max_leaves=12,
    )
    bodies = st.dictionaries(
        st.sampled_from(["user_id", "question", "settings", "text", "posts", "messages", "user", "x"]), values
    )

    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
    @given(path=st.sampled_from(["/v1/answer", "/v1/users/ana/posts", "/v1/chat/completions"]), body=bodies)
    def check(path, body):
        r = httpx.post(live.url + path, content=json.dumps(body), headers=live.headers(), timeout=120)
        assert r.status_code < 500, (path, body, r.text)

    check()


def test_deleting_a_user_removes_their_posts_and_answers(live):
    add(live, "ana", [GARDEN])
    post(live, "/v1/answer", {"user_id": "ana", "question": "What should I plant?"})
    r = httpx.delete(f"{live.url}/v1/users/ana", headers=live.headers())
    assert r.status_code == 200 and r.json()["deleted_posts"] == 1
    assert httpx.get(f"{live.url}/v1/users/ana/posts", headers=live.headers()).status_code == 404
    assert post(live, "/v1/answer", {"user_id": "ana", "question": "What should I plant?"}).status_code == 404
    assert httpx.delete(f"{live.url}/v1/users/ana", headers=live.headers()).status_code == 404


def test_answer_cache_off_neither_looks_up_nor_stores(tmp_path, serve_generator, minilm_retriever):
    from pr2.serve.service import Answerer
    from pr2.serve.store import Store
    from tests.serve.conftest import TEST_AGENT

    store = Store(f"sqlite:///{tmp_path / 'pr2.db'}")
    on = Answerer(store, serve_generator, minilm_retriever, TEST_AGENT, "m")
    off = Answerer(store, serve_generator, minilm_retriever, TEST_AGENT, "m", cache_answers=False)
    assert on.cache_key("ana", "e1", 1, "q", TEST_AGENT) is not None
    assert on.cache_key("ana", "e1", 1, "q", TEST_AGENT) != on.cache_key("ana", "e2", 1, "q", TEST_AGENT)
    assert off.cache_key("ana", "e1", 1, "q", TEST_AGENT) is None


def test_openapi_describes_the_error_shape_pr2_really_sends(live):
    schema = httpx.get(live.url + "/openapi.json", timeout=30).json()
    assert "HTTPValidationError" not in json.dumps(schema)
    error = schema["components"]["schemas"]["Error"]
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            for status in ("401", "422"):
                ref = operation["responses"][status]["content"]["application/json"]["schema"]["$ref"]
                assert ref == "#/components/schemas/Error", (method, path, status)
    refused = post(live, "/v1/answer", {"user_id": "ana", "question": 5})  # a real 422 has that shape
    assert refused.status_code == 422
    body = refused.json()
    assert set(body) == set(error["required"]) and set(body["error"]) == set(error["properties"]["error"]["required"])


def test_an_idempotency_key_makes_a_retried_write_add_nothing_twice(live):
    body = {"posts": [{"text": GARDEN}, {"text": "I bake bread on Sundays"}]}
    headers = {**live.headers(), "Idempotency-Key": "write-0001"}
    first = httpx.post(f"{live.url}/v1/users/ana/posts", json=body, headers=headers, timeout=60)
    again = httpx.post(f"{live.url}/v1/users/ana/posts", json=body, headers=headers, timeout=60)
    assert first.status_code == again.status_code == 201
    assert again.json()["ids"] == first.json()["ids"] and again.headers["idempotent-replayed"] == "true"
    assert live.store.count_posts("ana") == 2
    other = httpx.post(f"{live.url}/v1/users/ana/posts", json={"text": "else"}, headers=headers, timeout=60)
    assert other.status_code == 422 and "Idempotency-Key" in other.json()["error"]["message"]
    # retries racing each other: one write, every answer its ids
    race = {**live.headers(), "Idempotency-Key": "write-0002"}
    with ThreadPoolExecutor(6) as pool:
        replies = list(pool.map(lambda _: httpx.post(
            f"{live.url}/v1/users/bo/posts", json={"text": "I drive a red van"}, headers=race, timeout=60
        ), range(6)))  # fmt: skip
    assert {r.status_code for r in replies} == {201} and len({tuple(r.json()["ids"]) for r in replies}) == 1
    assert live.store.count_posts("bo") == 1
    # another API key's Idempotency-Key is its own
    _, key2 = live.store.create_key("second")
    mine = httpx.post(f"{live.url}/v1/users/ana/posts", json=body,
                      headers={"Authorization": f"Bearer {key2}", "Idempotency-Key": "write-0001"}, timeout=60)  # fmt: skip
    assert mine.status_code == 201 and mine.json()["ids"] != first.json()["ids"]
    assert live.store.count_posts("ana") == 4


def test_a_write_past_the_per_user_limit_is_a_413(live):
    live.store.max_posts_per_user = 3
    assert httpx.post(f"{live.url}/v1/users/ana/posts", json={"posts": [{"text": "a"}, {"text": "b"}]},
                      headers=live.headers()).status_code == 201  # fmt: skip
    r = httpx.post(
        f"{live.url}/v1/users/ana/posts", json={"posts": [{"text": "c"}, {"text": "d"}]}, headers=live.headers()
    )
    assert r.status_code == 413 and "limit of 3 per user" in r.json()["error"]["message"]
    assert live.store.count_posts("ana") == 2
