"""Secrets (API keys, `user:pass@` in URLs, Authorization headers) never reach a log, an error, a saved config, a
fingerprint, a run folder or a trajectory: every file a run writes, and all it prints, is searched for them."""

from __future__ import annotations

import base64
import logging
from pathlib import Path

from typer.testing import CliRunner

from pr2.cli import app
from pr2.data import sample_path
from pr2.secrets import RedactingFilter, redact
from tests.judge.fake_judge import FakeJudgeServer

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "lamp-qa"
PASSWORD, KEY = "hunter2pass", "sk-test-0123456789abcdefSECRET"
BASIC = base64.b64encode(f"alice:{PASSWORD}".encode()).decode()
runner = CliRunner()


def with_user(url: str) -> str:
    return url.replace("http://", f"http://alice:{PASSWORD}@")


def leaks(folder: Path, *texts: str) -> list[str]:
    """Where a secret shows: files under `folder` and the given texts."""
    found = [
        str(p)
        for p in folder.rglob("*")
        if p.is_file() and any(s.encode() in p.read_bytes() for s in (PASSWORD, KEY, BASIC))
    ]
    return found + [t[:200] for t in texts if any(s in t for s in (PASSWORD, KEY, BASIC))]


def test_redact_each_shape():
    assert redact(f"http://alice:{PASSWORD}@host:8000/v1") == "http://***@host:8000/v1"
    assert KEY not in redact(f"Authorization: Bearer {KEY}") and "Authorization" in redact(
        f"Authorization: Bearer {KEY}"
    )
    assert KEY not in redact(f"{{'authorization': 'Bearer {KEY}'}}")
    assert KEY not in redact(f"api_key={KEY}&x=1") and KEY not in redact(f'"api_key": "{KEY}"')
    assert KEY not in redact(f"bad key Bearer {KEY}") and BASIC not in redact(f"got Basic {BASIC}")
    assert redact("http://localhost:8000/v1 and no secret") == "http://localhost:8000/v1 and no secret"
    serve_key = "pr2_0123456789ab_" + "Zx9-_" * 8  # pr2 keys create's shape, in any text
    assert serve_key not in redact(f"client used {serve_key} today")


def test_a_run_with_secret_urls_and_key_writes_and_prints_none(tmp_path, monkeypatch, caplog):
    key_file = tmp_path / "key.txt"
    key_file.write_text(KEY)
    out = tmp_path / "out"
    monkeypatch.setenv("LAMP_QA_REPO", str(FIXTURE))
    caplog.handler.addFilter(RedactingFilter())  # as the command line attaches it to its handlers
    data = str(sample_path() / "Society_and_Culture_test.json")
    with caplog.at_level(logging.DEBUG), FakeJudgeServer() as server:
        url = with_user(server.url)
        policy = ["--model", "served", "--backend", "openai", "--api_key_addr", str(key_file)]
        result = runner.invoke(
            app,
            [
                *("baseline", "--protocol", "lamp-qa", *policy, "--base-url", url, "--questions_address", data),
                *("--output_address", str(out), "--limit", "2", "--judge-model", "served", "--judge-mode", "generate"),
                *("--judge-backend", "openai", "--judge-base-url", url, "--judge-api-key-addr", str(key_file)),
            ],
        )
        assert result.exit_code == 0, result.output
        # httpx sends the URL's user:password as basic auth (a server behind a password), in place of the key
        assert server.headers and all(h.get("Authorization", "").startswith("Basic ") for h in server.headers)
        refused = runner.invoke(
            app,
            [
                *("baseline", "--protocol", "lamp-qa", *policy, "--questions_address", data, "--limit", "1"),
                *("--base-url", with_user(server.url.replace("/v1", "/refuse/v1"))),
                *("--output_address", str(tmp_path / "refused")),
            ],
        )
    assert refused.exit_code != 0 and "***" in refused.output
    assert (out / "scores.json").exists() and (out / "pr2-fingerprint.json").exists()
    assert "***@127.0.0.1" in (out / "pr2-fingerprint.json").read_text()
    for folder in (out, tmp_path / "refused"):
        assert not leaks(folder, result.output, refused.output, caplog.text)


def test_training_saves_its_config_and_fingerprint_without_the_judge_servers_password(tmp_path, tiny_llama_dir):
    out = tmp_path / "run"
    key_file = tmp_path / "key.txt"
    key_file.write_text(KEY)
    with FakeJudgeServer() as server:
        url = with_user(server.url.replace("/v1", "/refuse/v1"))  # refuses: the run stops at its first judgement
        result = runner.invoke(
            app,
            [
                *("train", "--config", str(Path(__file__).resolve().parents[1] / "configs" / "cpu-smoke.yaml")),
                *(f"--set={s}" for s in (f"output_dir={out}", f"model={tiny_llama_dir}", "limit=1")),
                *(f"--set={s}" for s in ("judge_model=served", "judge_mode=generate", "judge_backend=openai")),
                *(f"--set={s}" for s in (f"judge_base_url={url}", f"lamp_qa_repo={FIXTURE}", "agent.prefill=<answer>")),
                *(f"--set={s}" for s in ("agent.retriever=bm25", "agent.max_turn_tokens=8", "agent.max_model_len=800")),
                f"--set=judge_api_key_addr={key_file}",
            ],
        )
    assert result.exit_code == 2 and "refused" in result.output, result.output
    assert "***@127.0.0.1" in (out / "pr2-train-config.json").read_text()
    assert "***@127.0.0.1" in (out / "pr2-fingerprint.json").read_text()
    assert not leaks(out, result.output)
