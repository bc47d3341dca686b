"""Judging against a latency-bound server: every pair of an evaluation in one call, many requests in flight.

A local OpenAI-compatible server on loopback answers each request after a fixed delay (default 200 ms, like a busy
judge server whose batch absorbs more requests at no extra cost). pr2's LLM judge scores the same 256 pairs with
the openai back end's default concurrency, and the reference does it one request at a time (concurrency 1), in
the same process. Prints both times and the ratio (target: 20x or more).
Run: python benchmarks/judge_concurrency.py [--pairs 256] [--delay 0.2] [--concurrency 64]
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from pr2.generation import GeneratorConfig, load_generator
from pr2.judge.judge import JudgeConfig, LLMJudge, Pair


def serve(delay: float) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            time.sleep(delay)
            text = f'{{"score": {len(body["messages"][0]["content"]) % 3}}}'
            data = json.dumps(
                {
                    "id": "x",
                    "object": "chat.completion",
                    "created": 0,
                    "model": "judge",
                    "choices": [
                        {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
                    ],
                }
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, default=256)
    parser.add_argument("--delay", type=float, default=0.2)
    parser.add_argument("--concurrency", type=int, default=GeneratorConfig().concurrency)
    args = parser.parse_args()
    server = serve(args.delay)
    url = f"http://127.0.0.1:{server.server_port}/v1"
    pairs = [Pair("q?", "details", f"response {i}", "aspect", "reason", "evidence") for i in range(args.pairs)]
    times, scores = {}, {}
    for name, concurrency in (("one at a time", 1), (f"concurrency {args.concurrency}", args.concurrency)):
        generator = load_generator(
            GeneratorConfig(model="judge", backend="openai", base_url=url, concurrency=concurrency)
        )
        judge = LLMJudge(JudgeConfig(model="judge", mode="generate", protocol="pr2"), generator)
        start = time.perf_counter()
        scores[name] = [j.score for j in judge.judge(pairs)]
        times[name] = time.perf_counter() - start
        print(f"{name:<16} {times[name]:7.2f}s for {len(pairs)} pairs ({args.delay * 1000:.0f} ms per request)")
    server.shutdown()
    reference, ours = times["one at a time"], times[f"concurrency {args.concurrency}"]
    assert scores["one at a time"] == scores[f"concurrency {args.concurrency}"], "the two runs scored differently"
    print(f"ratio: {reference / ours:.1f}x  (one request at a time over concurrency {args.concurrency})")


if __name__ == "__main__":
    main()
