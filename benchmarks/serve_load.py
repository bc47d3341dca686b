"""Load on `pr2 serve` over loopback: writing posts, and answers at 1, 8 and 32 concurrent clients against the same
questions answered one at a time, in one run (one server process, one database).

The server runs the shipped laptop policy (SmolLM2-135M + the packaged adapter, with the agent settings it was
trained with, bf16 where the CPU has it natively, else fp32) and MiniLM search, on a fresh SQLite database, answer cache off (every
phase answers every question). Users and questions: held-out test users of `pr2 synth --users 300 --seed 0`.

1. Writes: every post of each user, one request per post, one client: p50/p95 latency of adding a post (its
   embedding is computed in the request), then the same posts again as one request per user (bulk), per post.
2. Answers: the first `--questions` users' questions, one client one at a time (the reference), then 8 and 32
   concurrent clients (a bounded pool; each client sends its next question when its answer comes back).
   Throughput (answers/s) and p50/p95 latency of each; ratio of throughput against one at a time; mean batch size
   the server ran (from each answer's `batch_size`).

Run: python benchmarks/serve_load.py [--questions 32]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def start(db: str, port: int) -> subprocess.Popen:
    from pr2.demo import ASSETS

    cmd = [
        sys.executable, "-m", "pr2.cli", "serve", "--db", db, "--port", str(port), "--model", "smollm2",
        "--adapter", str(ASSETS / "adapter"), "--dtype", "auto", "--max-batch", "32", "--no-answer-cache",
    ]  # fmt: skip
    from pr2.serve.server import wait_until_healthy

    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_until_healthy(f"http://127.0.0.1:{port}", proc, seconds=300)
    return proc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=32)
    parser.add_argument("--port", type=int, default=8471)
    args = parser.parse_args()

    from pr2.demo import heldout_questions
    from pr2.serve.store import Store

    work = Path(tempfile.mkdtemp(prefix="pr2-serve-load-"))
    questions = heldout_questions(args.questions)
    db = f"sqlite:///{work / 'serve.db'}"
    _, key = Store(db).create_key("load")
    server = start(db, args.port)
    headers = {"Authorization": f"Bearer {key}"}
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{args.port}", headers=headers, timeout=600) as http:
            write_s = []
            for q in questions:
                for p in q.profile:
                    t0 = time.perf_counter()
                    r = http.post(f"/v1/users/{q.id}/posts", json={"text": p.text})
                    write_s.append(time.perf_counter() - t0)
                    r.raise_for_status()
            bulk_s, bulk_n = 0.0, 0
            for q in questions:
                t0 = time.perf_counter()
                http.post(f"/v1/users/bulk-{q.id}/posts", json={"posts": [{"text": p.text} for p in q.profile]})
                bulk_s += time.perf_counter() - t0
                bulk_n += len(q.profile)
            print(f"users: {len(questions)}, posts: {len(write_s)} ({len(write_s) / len(questions):.0f} per user)")
            print(
                f"add one post: p50 {1000 * statistics.median(write_s):.1f} ms, "
                f"p95 {1000 * percentile(write_s, 0.95):.1f} ms; bulk (a user's posts in one request): "
                f"{1000 * bulk_s / bulk_n:.1f} ms per post"
            )

            def ask(q) -> tuple[float, int]:
                t0 = time.perf_counter()
                r = http.post("/v1/answer", json={"user_id": q.id, "question": q.question})
                r.raise_for_status()
                return time.perf_counter() - t0, r.json()["batch_size"]

            ask(questions[0])  # warm: first-call allocations off the clock
            rows = []
            for clients in (1, 8, 32):
                t0 = time.perf_counter()
                with ThreadPoolExecutor(clients) as pool:
                    results = list(pool.map(ask, questions))
                wall = time.perf_counter() - t0
                latency = [r[0] for r in results]
                rows.append((clients, len(questions) / wall, latency, statistics.mean(r[1] for r in results)))
    finally:
        server.terminate()
        server.wait(30)
    base = rows[0][1]
    print("| clients | answers/s | vs one at a time | p50 latency | p95 latency | mean batch |")
    print("|---|---|---|---|---|---|")
    for clients, throughput, latency, batch in rows:
        print(
            f"| {clients} | {throughput:.2f} | {throughput / base:.2f}x | {statistics.median(latency):.1f} s | "
            f"{percentile(latency, 0.95):.1f} s | {batch:.1f} |"
        )


if __name__ == "__main__":
    main()
