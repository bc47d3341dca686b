"""The server's log keeps nothing of a user: after writes, deletions, refusals, a failed cache write and an
internal error, no post text and no API key is in it, and each deletion left one audit line (key id, user, count)."""

from __future__ import annotations

import logging

import httpx

SECRET = "My therapist says my insomnia comes from the night shifts at Zebulon Freight"


def test_the_log_holds_no_post_text_and_no_key_and_audits_each_deletion(live, caplog, monkeypatch):
    caplog.set_level(logging.DEBUG)  # everything any library logs, not only pr2's
    h = live.headers()
    ids = httpx.post(f"{live.url}/v1/users/ana/posts", json={"posts": [{"text": SECRET}, {"text": f"{SECRET} again"}]},
                     headers=h, timeout=60).json()["ids"]  # fmt: skip
    for body in (b'{"text": "' + SECRET.encode() + b'"', {"text": SECRET + "\x00"}, {"text": SECRET, "x": 1}):
        if isinstance(body, bytes):
            httpx.post(f"{live.url}/v1/users/ana/posts", content=body,
                       headers={**h, "content-type": "application/json"}, timeout=60)  # fmt: skip
        else:
            httpx.post(f"{live.url}/v1/users/ana/posts", json=body, headers=h, timeout=60)
    store = live.store

    def broken(*args, **kwargs):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(store, "cache_answer", broken)
    assert httpx.post(f"{live.url}/v1/answer", json={"user_id": "ana", "question": "Why can't I sleep?"},
                      headers=h, timeout=120).status_code == 200  # fmt: skip
    monkeypatch.setattr(store, "list_posts", broken)
    assert httpx.get(f"{live.url}/v1/users/ana/posts", headers=h, timeout=60).status_code == 500
    httpx.get(f"{live.url}/v1/users/ana/posts", headers={"Authorization": f"Bearer {live.key}x"}, timeout=60)
    assert httpx.delete(f"{live.url}/v1/users/ana/posts/{ids[0]}", headers=h, timeout=60).status_code == 200
    assert httpx.delete(f"{live.url}/v1/users/ana", headers=h, timeout=60).status_code == 200
    text = caplog.text  # every record as its handler formats it, tracebacks included
    assert "Zebulon" not in text and "insomnia" not in text
    assert live.key not in text
    audits = [r.getMessage() for r in caplog.records if r.name == "pr2.serve.audit"]
    assert len(audits) == 2 and "deleted user 'ana' and their 1 posts" in audits[1]
    assert "answer cache write failed" in text and "unhandled error" in text  # the probes did reach the log
    assert "Traceback" in text and "the database went away" in text  # with their tracebacks
