"""Deleted stays deleted, on SQLite and PostgreSQL: an answer made from posts that were deleted while it was made
(the user deleted, or re-created under the same id) leaves nothing behind, however the requests overlap; a failed
cache write never fails the answers of its batch; concurrent first writes for a new user never give a 500."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np

from pr2.serve.service import Job
from pr2.serve.store import Store
from tests.serve.conftest import TEST_AGENT, make_answerer

OLD = "My garden is a narrow balcony facing north"
NEW = "I have a big sunny allotment by the river"
QUESTION = "What should I plant?"


def test_a_user_recreated_under_the_same_id_is_another_user(db_url):
    store = Store(db_url)
    store.add_posts("ana", [OLD])
    first = store.state("ana")
    store.delete_user("ana")
    store.add_posts("ana", [NEW])
    second = store.state("ana")
    assert first[1] == second[1] == 1  # the version starts again...
    assert first[0] != second[0]  # ...but the epoch never repeats


def test_a_cache_write_for_a_deleted_or_changed_profile_writes_nothing(db_url):
    store = Store(db_url)
    store.add_posts("ana", [OLD])
    epoch, version = store.state("ana")
    store.delete_user("ana")
    store.add_posts("ana", [NEW])  # re-created: same id, version 1 again
    store.cache_answer("k-old", "ana", epoch, version, {"answer": "from the deleted posts"})
    assert store.cached_answer("k-old") is None
    epoch, version = store.state("ana")
    store.add_posts("ana", ["one more"])  # the profile moved on: the answer was made from the one before
    store.cache_answer("k-stale", "ana", epoch, version, {"answer": "from an older profile"})
    assert store.cached_answer("k-stale") is None
    epoch, version = store.state("ana")
    store.cache_answer("k-now", "ana", epoch, version, {"answer": "current"})
    store.cache_answer("k-now", "ana", epoch, version, {"answer": "twice: the first stays"})
    assert store.cached_answer("k-now") == {"answer": "current"}


class Recreating:
    """A policy that, while the answer is being made, has the user deleted and re-created with other posts (the
    race a real server meets when a deletion arrives during minutes of generation)."""

    def __init__(self, inner, store, user):
        self.inner, self.store, self.user, self.done = inner, store, user, False
        self.model_name, self.tokenizer = inner.model_name, inner.tokenizer

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def generate(self, prompts, params, **kwargs):
        if not self.done:
            self.done = True
            self.store.delete_user(self.user)
            self.store.add_posts(self.user, [NEW], list(np.zeros((1, 384), dtype=np.float32)), "minilm")
        return self.inner.generate(prompts, params, **kwargs)


def test_an_answer_in_flight_when_its_user_is_recreated_is_never_served_to_the_new_one(
    db_url, serve_generator, minilm_retriever, write_retriever
):
    store = Store(db_url)
    answerer = make_answerer(store, serve_generator, minilm_retriever, write_retriever)
    old_ids = store.add_posts("ana", [OLD], answerer.embed([OLD]), answerer.embedder)
    answerer.generator = Recreating(serve_generator, store, "ana")
    (result,) = answerer.answer_batch([Job("ana", QUESTION, TEST_AGENT)])
    assert not isinstance(result, Exception)
    answerer.generator = serve_generator
    epoch, version = store.state("ana")
    key = answerer.cache_key("ana", epoch, version, QUESTION, TEST_AGENT)
    assert store.cached_answer(key) is None  # nothing the old posts made is kept for the new user
    (again,) = answerer.answer_batch([Job("ana", QUESTION, TEST_AGENT)])
    assert not set(again["retrieved_post_ids"]) & set(old_ids)


def test_a_failed_cache_write_never_fails_the_answers_of_its_batch(
    db_url, serve_generator, minilm_retriever, write_retriever, monkeypatch, caplog
):
    store = Store(db_url)
    answerer = make_answerer(store, serve_generator, minilm_retriever, write_retriever)
    for user in ("ana", "bo"):
        store.add_posts(user, [OLD], answerer.embed([OLD]), answerer.embedder)

    def broken(*args, **kwargs):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(store, "cache_answer", broken)
    results = answerer.answer_batch([Job("ana", QUESTION, TEST_AGENT), Job("bo", QUESTION, TEST_AGENT)])
    assert all(isinstance(r, dict) and "answer" in r for r in results)
    assert "answer cache write failed" in caplog.text and OLD not in caplog.text


def test_concurrent_first_writes_for_a_new_user_never_give_a_500(live):
    def write(i):
        body = {"text": f"post {i}"}
        return httpx.post(f"{live.url}/v1/users/new-user/posts", json=body, headers=live.headers(), timeout=120)

    with ThreadPoolExecutor(8) as pool:
        codes = [r.status_code for r in pool.map(write, range(16))]
    assert codes == [201] * 16
    assert live.store.count_posts("new-user") == 16 and live.store.state("new-user")[1] == 16


def test_posts_stored_without_embeddings_are_embedded_once_and_saved(
    db_url, serve_generator, minilm_retriever, write_retriever
):
    """Posts a --no-model server wrote carry no embedding: the first answer embeds them and saves them; later
    answers read them and encode only their queries."""
    store = Store(db_url)
    store.add_posts("ana", [OLD, NEW])  # as a --no-model server writes them
    answerer = make_answerer(store, serve_generator, minilm_retriever, write_retriever)
    assert answerer.answer_batch([Job("ana", QUESTION, TEST_AGENT)])[0]["answer"] is not None
    profile = store.profile("ana")
    assert profile.embedders == [answerer.embedder] * 2 and all(e is not None for e in profile.embeddings)
    np.testing.assert_allclose(profile.embeddings[0], answerer.embed([OLD])[0], atol=1e-5)
    calls = []
    embed = minilm_retriever.embed_documents
    minilm_retriever.embed_documents = lambda texts: calls.append(len(texts)) or embed(texts)
    try:
        answerer.answer_batch([Job("ana", "Another question?", TEST_AGENT)])
    finally:
        minilm_retriever.embed_documents = embed
    assert calls == []  # no post encoded again


def test_answering_reads_embeddings_and_only_the_texts_a_search_returns(
    db_url, serve_generator, minilm_retriever, write_retriever, monkeypatch
):
    """A profile of any size: an answer reads the stored embeddings, fetches the texts of the posts its searches
    return, and keeps the prepared index for the next answer until the profile changes."""
    store = Store(db_url)
    answerer = make_answerer(store, serve_generator, minilm_retriever, write_retriever)
    texts = [f"post {i}: my garden has {i} tomato plants" for i in range(40)]
    store.add_posts("ana", texts, answerer.embed(texts), answerer.embedder)
    fetched, profiles = [], []
    post_texts, profile = store.post_texts, store.profile
    monkeypatch.setattr(store, "post_texts", lambda user, ids: fetched.extend(ids) or post_texts(user, ids))
    monkeypatch.setattr(store, "profile", lambda *a, **k: profiles.append(k) or profile(*a, **k))
    (result,) = answerer.answer_batch([Job("ana", QUESTION, TEST_AGENT)])
    assert profiles == [{"texts": False}]  # no post text read with the profile
    assert result["retrieved_post_ids"] and set(fetched) == set(result["retrieved_post_ids"])
    assert len(fetched) < len(texts)
    answerer.answer_batch([Job("ana", "Which seeds?", TEST_AGENT)])
    assert len(profiles) == 1  # the same (user, epoch, version): the kept index
    store.add_posts("ana", ["one more"], answerer.embed(["one more"]), answerer.embedder)
    answerer.answer_batch([Job("ana", "Which seeds?", TEST_AGENT)])
    assert len(profiles) == 2  # the profile changed: built again


def test_a_post_deleted_after_its_index_was_built_is_never_returned(db_url, minilm_retriever):
    from pr2.data.schema import ProfileItem
    from pr2.retrieval.index import ProfileIndex

    store = Store(db_url)
    ids = store.add_posts("ana", [OLD, NEW])
    items = [ProfileItem(i, "") for i in ids]
    prepared = minilm_retriever.index_embeddings(minilm_retriever.embed_documents([OLD, NEW]))
    index = ProfileIndex(items, minilm_retriever, prepared=prepared, fetch=lambda got: store.post_texts("ana", got))
    store.delete_post("ana", ids[0])
    hits = index.search("north-facing balcony garden", k=2)
    assert [h.id for h in hits] == [ids[1]] and hits[0].text == NEW


def test_the_kept_index_holds_no_post_text_and_goes_when_a_post_is_deleted(live):
    """What the server keeps in memory between answers is the profile's embeddings and post ids, never a text; a
    deletion drops the user's kept index at once (not at eviction), so nothing of a deleted post outlives it."""
    answerer = live.app.state.answerer
    body = {"posts": [{"text": OLD}, {"text": NEW}]}
    posted = httpx.post(f"{live.url}/v1/users/ana/posts", json=body, headers=live.headers(), timeout=120)
    ids = posted.json()["ids"]
    asked = httpx.post(
        f"{live.url}/v1/answer", json={"user_id": "ana", "question": QUESTION}, headers=live.headers(), timeout=300
    )
    assert asked.status_code == 200 and asked.json()["retrieved_post_ids"]  # its searches fetched texts
    kept = [index for key, index in answerer._indexes.items() if key[0] == "ana"]
    assert len(kept) == 1 and {item.id for item in kept[0].items} == set(ids)
    assert all(item.text == "" for item in kept[0].items)  # ids only: the fetched texts were not kept
    gone = httpx.delete(f"{live.url}/v1/users/ana/posts/{ids[0]}", headers=live.headers(), timeout=30)
    assert gone.status_code == 200
    assert not [key for key in answerer._indexes if key[0] == "ana"]
