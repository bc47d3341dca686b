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
3. Many users (`--users N`, e.g. 1000): N more users of 50 posts each (`pr2 synth`'s generator with seed 1, three
   facts and 47 other posts a user) written one request per user (p50/p95 of a request, its 50 embeddings
   included), then every one of them asked their question by `--clients`' largest pool: answers/s, p50/p95, and
   the ratio against the same pool on the first `--questions` users (the reference: a small store). Each user's
   index is built on first use (the server keeps 32), so this phase answers from a cold index every time.

Run: python benchmarks/serve_load.py [--questions 32] [--clients 1,8,32] [--users 1000]
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
    parser.add_argument("--clients", default="1,8,32", help="concurrent clients of phase 2, the first the reference")
    parser.add_argument("--users", type=int, default=0, help="phase 3: this many more users of 50 posts (0: skip)")
    args = parser.parse_args()
    pools = [int(c) for c in args.clients.split(",")]

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

            def answer_all(clients: int, asked: list) -> tuple[float, list[float], float]:
                t0 = time.perf_counter()
                with ThreadPoolExecutor(clients) as pool:
                    results = list(pool.map(ask, asked))
                wall = time.perf_counter() - t0
                return len(asked) / wall, [r[0] for r in results], statistics.mean(r[1] for r in results)

            rows = [(clients, *answer_all(clients, questions)) for clients in pools]
            if args.users:
                many = many_users(args.users)
                request_s = []
                for q in many:
                    t0 = time.perf_counter()
                    http.post(f"/v1/users/{q.id}/posts", json={"posts": [{"text": p.text} for p in q.profile]})
                    request_s.append(time.perf_counter() - t0)
                print(
                    f"{len(many)} more users x {len(many[0].profile)} posts written, one request a user: "
                    f"p50 {1000 * statistics.median(request_s):.0f} ms, p95 {1000 * percentile(request_s, 0.95):.0f} ms"
                )
                t0 = time.perf_counter()
                many_row = (max(pools), *answer_all(max(pools), many))
                print(f"{len(many)} users answered in {time.perf_counter() - t0:.0f} s")
    finally:
        server.terminate()
        server.wait(30)
    base = rows[0][1]
    print(f"| clients | answers/s | vs {pools[0]} client(s) | p50 latency | p95 latency | mean batch |")
    print("|---|---|---|---|---|---|")
    for clients, throughput, latency, batch in rows:
        print(
            f"| {clients} | {throughput:.2f} | {throughput / base:.2f}x | {statistics.median(latency):.1f} s | "
            f"{percentile(latency, 0.95):.1f} s | {batch:.1f} |"
        )
    if args.users:
        clients, throughput, latency, batch = many_row
        small = next(r for r in rows if r[0] == clients)[1]
        print(
            f"| {clients}, over {args.users} users x 50 posts | {throughput:.2f} | {throughput / small:.2f}x the same "
            f"pool on {len(questions)} users | {statistics.median(latency):.1f} s | {percentile(latency, 0.95):.1f} s "
            f"| {batch:.1f} |"
        )


def many_users(n: int) -> list:
    """n users of exactly 50 posts (three facts and 47 other posts), ids apart from the held-out users'."""
    from pr2.data.synth import SynthConfig, generate

    config = SynthConfig(users=max(n, 15), seed=1, min_aspects=3, max_aspects=3, min_distractors=47, max_distractors=47)
    users = [q for split in generate(config).values() for q in split][:n]
    for q in users:
        q.id = f"many-{q.id}"
    return users


if __name__ == "__main__":
    main()
