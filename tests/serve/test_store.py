"""The server's storage on SQLite and PostgreSQL: posts per user with their embeddings, paging, deletion that leaves
nothing behind, API keys stored hashed."""

from __future__ import annotations

import numpy as np
import pytest

from pr2.errors import PR2Error
from pr2.serve.store import Store
from tests.serve.conftest import sqlite_files


def test_posts_are_added_listed_in_pages_and_deleted(db_url):
    store = Store(db_url)
    ids = store.add_posts("ana", [f"post {i}" for i in range(7)])
    store.add_posts("bo", ["bo's only post"])
    assert len(set(ids)) == 7
    seen, cursor = [], None
    while True:
        page, more = store.list_posts("ana", limit=3, after=cursor)
        seen += [p.text for p in page]
        if not more:
            break
        cursor = page[-1].id
    assert seen == [f"post {i}" for i in range(7)]  # write order, every post once, no other user's
    assert store.delete_post("bo", ids[0]) is False  # another user's post id deletes nothing
    assert store.delete_post("ana", ids[0]) is True
    assert store.count_posts("ana") == 6
    assert store.delete_user("ana") == 6
    assert store.profile("ana") is None and store.delete_user("ana") is None
    assert [p.text for p in store.profile("bo").posts] == ["bo's only post"]


def test_every_write_moves_the_users_version(db_url):
    store = Store(db_url)
    store.add_posts("ana", ["a"])
    epoch, v1 = store.state("ana")
    (pid,) = store.add_posts("ana", ["b"])
    v2 = store.state("ana")[1]
    store.delete_post("ana", pid)
    assert v1 < v2 < store.state("ana")[1] and store.state("ana")[0] == epoch


def test_embeddings_are_stored_with_their_posts(db_url, write_retriever):
    store = Store(db_url)
    texts = ["I grow tomatoes on my balcony", "My budget is 40 dollars", "Ünïcödé 🌱 text, right-to-left: שלום"]
    embeddings = list(write_retriever.embed_documents(texts).numpy())
    store.add_posts("ana", texts, embeddings, "minilm")
    profile = store.profile("ana")
    assert [p.text for p in profile.posts] == texts
    assert profile.embedders == ["minilm"] * 3
    for stored, made in zip(profile.embeddings, embeddings, strict=True):
        np.testing.assert_array_equal(stored, made.astype(np.float32))


def test_api_keys_are_stored_hashed_limited_and_revocable(db_url):
    store = Store(db_url)
    key_id, key = store.create_key("app", ["ana", "bo"])
    _, open_key = store.create_key("admin")
    assert store.key_scope(key) == (key_id, ["ana", "bo"])
    assert store.key_scope(open_key)[1] is None
    assert store.key_scope(key + "x") is None
    with store.engine.connect() as conn:
        dumped = "\n".join(str(row) for row in conn.exec_driver_sql("SELECT * FROM api_keys"))
    assert key not in dumped and open_key not in dumped  # only hashes
    assert store.revoke_key(key_id) and not store.revoke_key(key_id)
    assert store.key_scope(key) is None
    assert [k["revoked"] for k in store.list_keys()] == [True, False]


def test_deleting_a_user_leaves_no_trace_in_the_sqlite_files(tmp_path, write_retriever):
    url = f"sqlite:///{tmp_path / 'pr2.db'}"
    store = Store(url)
    secret = "My therapist says my insomnia comes from the night shifts at Zebulon Freight"
    other = "I keep bees on the roof of the Quarry Lane library"
    (embedding,) = write_retriever.embed_documents([secret]).numpy()
    store.add_posts("ana", [secret], [embedding], "minilm")
    store.add_posts("bo", [other])
    store.cache_answer("k1", "ana", *store.state("ana"), {"answer": "Because of your night shifts at Zebulon Freight"})
    for _ in range(50):  # pages split and move: old copies must not survive either
        store.add_posts("ana", [f"{secret} #{_}"])
    before = b"".join(p.read_bytes() for p in sqlite_files(url))
    assert b"Zebulon" in before and embedding.astype("<f4").tobytes()[:64] in before  # the grep finds them
    store.delete_user("ana")
    assert store.scrubbed()  # the scrub runs in the background, after the deleting request has its answer
    blob = b"".join(p.read_bytes() for p in sqlite_files(url))
    assert b"Zebulon" not in blob  # posts and the cached answer, in the database file and its write-ahead log
    assert embedding.astype("<f4").tobytes()[:64] not in blob  # the stored embedding too
    assert other.encode() in blob  # (the grep sees real content: another user's post is there)
    store.close()
    blob = b"".join(p.read_bytes() for p in sqlite_files(url))
    assert b"Zebulon" not in blob


def test_deleting_a_user_removes_every_row_on_either_database(db_url):
    store = Store(db_url)
    store.add_posts("ana", ["a secret"], [np.ones(4, dtype=np.float32)], "minilm")
    store.cache_answer("k1", "ana", *store.state("ana"), {"answer": "x"})
    assert store.cached_answer("k1") == {"answer": "x"}
    store.delete_user("ana")
    with store.engine.connect() as conn:
        for table in ("posts", "answers", "users"):
            rows = conn.exec_driver_sql(f"SELECT COUNT(*) FROM {table}").scalar_one()
            assert rows == 0, table
    assert store.cached_answer("k1") is None


def test_a_database_that_cannot_be_opened_is_a_one_line_error(tmp_path):
    with pytest.raises(PR2Error, match="cannot open database") as err:
        Store("postgresql+psycopg://someone:hunter2@127.0.0.1:1/nothing")
    assert "hunter2" not in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(PR2Error, match="cannot open database"):
        Store(f"sqlite:///{tmp_path}/missing-folder/x.db")


def test_a_database_from_before_epochs_gains_them_on_open(db_url):
    store = Store(db_url)
    store.add_posts("ana", ["a"])
    with store.engine.begin() as conn:  # as a database made before users had epochs
        conn.exec_driver_sql("ALTER TABLE users DROP COLUMN epoch")
    store.close()
    reopened = Store(db_url)
    epoch, version = reopened.state("ana")
    assert epoch and version == 1
    assert Store(db_url).state("ana") == (epoch, 1)  # given once, then kept


def test_a_database_error_names_the_statement_never_the_values_bound_to_it(db_url):
    """What the server logs of a failed write holds none of the user's text (SQLAlchemy's hide_parameters)."""
    from sqlalchemy import insert

    from pr2.serve.store import posts

    store = Store(db_url)
    secret = "My therapist says my insomnia comes from the night shifts at Zebulon Freight"
    (pid,) = store.add_posts("ana", [secret])
    with pytest.raises(Exception) as err, store.engine.begin() as conn:  # the same post id twice: a unique violation
        conn.execute(insert(posts).values(id=pid, user_id="ana", text=secret, created_at=0.0))
    assert "INSERT INTO posts" in str(err.value) and "Zebulon" not in str(err.value)


def test_the_scrub_runs_in_the_background_not_in_the_deleting_request(db_url, monkeypatch):
    import threading

    store = Store(db_url)
    store.add_posts("ana", ["a secret"])
    started, release = threading.Event(), threading.Event()
    scrub = store._scrub

    def slow_scrub():
        started.set()
        release.wait(30)
        scrub()

    monkeypatch.setattr(store, "_scrub", slow_scrub)
    assert store.delete_user("ana") == 1  # returns while the scrub waits
    assert started.wait(10) and not store.scrubbed(timeout=0.1)
    release.set()
    assert store.scrubbed(timeout=30)


def test_a_user_may_hold_only_so_many_posts_and_a_write_past_it_adds_nothing(db_url):
    from pr2.serve.store import TooManyPosts

    store = Store(db_url, max_posts_per_user=5)
    store.add_posts("ana", ["a", "b", "c"])
    with pytest.raises(TooManyPosts, match="holds 3 posts; adding 3 would pass the limit of 5"):
        store.add_posts("ana", ["d", "e", "f"])
    assert store.count_posts("ana") == 3
    store.add_posts("ana", ["d", "e"])
    assert store.count_posts("ana") == 5
