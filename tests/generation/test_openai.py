"""The openai back end against a real OpenAI-compatible server: `transformers serve` with the bundled model."""

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from pr2.errors import PR2Error
from pr2.generation import GeneratorConfig, SamplingParams, load_generator
from pr2.generation.openai_backend import read_api_key

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(smollm2_dir, tmp_path_factory):
    port = _free_port()
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    cli = Path(sys.executable).with_name("transformers")
    with log.open("w") as handle:
        proc = subprocess.Popen(
            [str(cli), "serve", str(smollm2_dir), "--port", str(port)],
            stdout=handle,
            stderr=subprocess.STDOUT,
            env={**os.environ, "HF_HUB_OFFLINE": "1"},
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 180
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"{url}/health", timeout=2)
            break
        except OSError:
            if proc.poll() is not None:
                pytest.fail(f"transformers serve exited: {log.read_text()[-2000:]}")
            time.sleep(1)
    else:
        proc.kill()
        pytest.fail("transformers serve did not start in 180 s")
    yield f"{url}/v1", str(smollm2_dir)
    proc.terminate()
    proc.wait(timeout=30)


COUNT = [{"role": "user", "content": "Count from 1 to 20, separated by commas."}]


def test_chat_endpoint_stop_string_kept_and_reported(server):
    url, model = server
    gen = load_generator(GeneratorConfig(model=model, backend="openai", base_url=url))
    (c,) = gen.generate([COUNT], SamplingParams(max_tokens=40, stop=("4",)))
    assert c.finish_reason == "stop" and c.stop_string == "4" and c.text.endswith("4")
    assert "5" not in c.text


def test_completions_endpoint_with_text_and_length(server):
    url, model = server
    gen = load_generator(GeneratorConfig(model=model, backend="openai", base_url=url))
    a, b = gen.generate(["1, 2, 3,", "Once upon a time"], SamplingParams(max_tokens=5))
    assert b.finish_reason == "length"
    assert a.text.strip().startswith("4")


def test_n_samples_even_when_the_server_ignores_n(server):
    url, model = server
    gen = load_generator(GeneratorConfig(model=model, backend="openai", base_url=url, concurrency=2))
    out = gen.generate([COUNT, "Hello"], SamplingParams(max_tokens=6, n=3, temperature=1.0, seed=1))
    assert len(out) == 6
    assert all(c.text for c in out)


def test_unreachable_server_is_a_one_line_error():
    gen = load_generator(GeneratorConfig(model="m", backend="openai", base_url=f"http://127.0.0.1:{_free_port()}/v1"))
    gen._client = gen._client.with_options(max_retries=0)
    with pytest.raises(PR2Error, match=r"cannot reach the server at http://127.0.0.1:\d+/v1 for model 'm'") as info:
        gen.generate(["hi"], SamplingParams(max_tokens=2))
    assert "\n" not in str(info.value)


def test_api_key_from_file_never_shown(tmp_path, monkeypatch):
    key = tmp_path / "key.txt"
    key.write_text("sk-secret-123\n")
    assert read_api_key(str(key)) == "sk-secret-123"
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env-456")
    assert read_api_key(None) == "sk-env-456"
    gen = load_generator(GeneratorConfig(model="m", backend="openai", base_url="http://x/v1", api_key_addr=str(key)))
    assert "sk-secret" not in repr(gen)
    with pytest.raises(PR2Error, match=r"API key file .*missing.txt does not exist"):
        read_api_key(str(tmp_path / "missing.txt"))


def test_logprob_scoring_needs_a_server_that_returns_logprobs(server):
    url, model = server
    gen = load_generator(GeneratorConfig(model=model, backend="openai", base_url=url))
    with pytest.raises(PR2Error, match="returned no log-probabilities"):  # transformers serve ignores logprobs
        gen.score([COUNT], ["0", "1", "2"])


def test_rate_limits_and_server_errors_are_retried():
    """A server that answers 429, then 503, then succeeds: the request goes through (the openai client's backoff)."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    statuses = [429, 503]
    seen = []

    class Flaky(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            seen.append(self.path)
            status = statuses.pop(0) if statuses else 200
            body = (
                {"error": {"message": "slow down"}}
                if status != 200
                else {
                    "id": "x",
                    "object": "text_completion",
                    "created": 0,
                    "model": "m",
                    "choices": [{"index": 0, "text": " ok", "finish_reason": "stop", "logprobs": None}],
                }
            )
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Retry-After", "0")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    httpd = HTTPServer(("127.0.0.1", 0), Flaky)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        gen = load_generator(
            GeneratorConfig(model="m", backend="openai", base_url=f"http://127.0.0.1:{httpd.server_port}/v1")
        )
        (c,) = gen.generate(["hi"], SamplingParams(max_tokens=2))
        assert c.text == " ok" and len(seen) == 3
    finally:
        httpd.shutdown()
