"""A deterministic judge behind a local OpenAI-compatible server: its answer is a function of the exact messages and
temperature it receives, so two clients that send the same requests get the same scores, and any difference in the
messages shows. Loopback only; stops with the test (or the comparison script) that started it.

Behaviour: as a judge (its system message speaks of a judge) the score is sha256(messages) mod 3, written the
benchmark's way (```json {"match_score": N}```); as a baseline's model it answers ```json {"personalized_answer":
...}```. A request whose hash is divisible by 4 answers in prose (unreadable) while the temperature is below 0.25,
so retries and the temperature schedule are exercised too.
"""

from __future__ import annotations

import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def digest(messages: list[dict]) -> int:
    canonical = json.dumps([{"role": m["role"], "content": m["content"]} for m in messages], sort_keys=True)
    return int(hashlib.sha256(canonical.encode()).hexdigest(), 16)


def answer(messages: list[dict], temperature: float) -> str:
    """A judge's answer when the system message speaks of a judge, else a baseline's (the benchmark's JSON)."""
    h = digest(messages)
    if h % 4 == 0 and temperature < 0.25:
        return "I would say the response covers it reasonably well."
    if "judge" not in messages[0]["content"].lower():
        return f'```json\n{{"personalized_answer": "answer {h % 1000}"}}\n```'
    return f'```json\n{{"match_score": {h % 3}}}\n```'


class FakeJudgeServer:
    """`with FakeJudgeServer() as server:` serves /v1/chat/completions on 127.0.0.1; `server.requests` records
    every request body, `server.headers` their headers. A path under /refuse/ answers 401 quoting the request's
    Authorization header back, as some servers do (so a client's error text holds the key)."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.headers: list[dict] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                owner.requests.append(body)
                owner.headers.append(dict(self.headers))
                if "/refuse/" in self.path:
                    data = json.dumps({"error": {"message": f"bad key {self.headers.get('Authorization')}"}}).encode()
                    self.send_response(401)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                if not self.path.endswith("/chat/completions"):
                    self.send_error(404)
                    return
                text = answer(body["messages"], float(body.get("temperature") or 0.0))
                reply = {
                    "id": "fake",
                    "object": "chat.completion",
                    "created": 0,
                    "model": body.get("model", "fake"),
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": text},
                            "finish_reason": "stop",
                        }
                    ],
                }
                data = json.dumps(reply).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_port}/v1"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> FakeJudgeServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()


class FakeLLM:
    """The same judge as a stand-in for the benchmark's vLLM `LLM`: its tokenizer 'templates' a conversation as its
    JSON, so `generate` sees exactly the messages the benchmark built."""

    class _Tokenizer:
        def apply_chat_template(self, conversation, tokenize=False, add_generation_prompt=True):
            return json.dumps(conversation)

    class _Output:
        def __init__(self, text):
            self.outputs = [type("Completion", (), {"text": text})()]

    def __init__(self) -> None:
        self.messages: list[list[dict]] = []

    def get_tokenizer(self):
        return self._Tokenizer()

    def generate(self, prompts, sampling_params):
        out = []
        for prompt in prompts:
            messages = json.loads(prompt)
            self.messages.append(messages)
            out.append(self._Output(answer(messages, sampling_params.temperature)))
        return out
