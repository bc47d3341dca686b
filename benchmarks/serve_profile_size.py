"""A profile of any size in `pr2 serve`: the work an answer does outside generation, for one user with many posts.

One process, SQLite on a temporary file, MiniLM. One user gets `--posts` posts (default 20,000: synthetic sentences
of a few words, written in bulk with their embeddings). Then, timed `--repeats` times each (medians):

- reference, the path before: read the user's whole profile with every post's text, stack the stored embeddings,
  prepare the index and run three searches (what every answer did);
- cold: what an answer does now the first time for this (user, epoch, version): read ids and embeddings without
  texts, prepare the index, run three searches and fetch the texts of their hits;
- warm: the same for the next answer, whose index is kept in memory (three searches and their texts).

Prints each median and the ratios `reference vs cold` and `reference vs warm`, and the write rate.

Run: python benchmarks/serve_profile_size.py [--posts 20000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

WORDS = ["garden", "balcony", "budget", "schedule", "bread", "bike", "cello", "vet", "rain", "kitchen", "north", "tomato", "cat", "night", "shift", "loan", "recipe", "train", "school", "roof", "library", "van", "pond", "apple", "river"]  # fmt: skip
QUERIES = ("what can I grow on a balcony", "my budget", "my schedule")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    from pr2.agent import AgentConfig
    from pr2.generation import GeneratorConfig, load_generator
    from pr2.retrieval import load_retriever
    from pr2.serve.service import Answerer
    from pr2.serve.store import Store

    torch.manual_seed(0)
    rng = random.Random(0)
    retriever = load_retriever("minilm")
    folder = Path(tempfile.mkdtemp(prefix="pr2-profile-size-"))
    store = Store(f"sqlite:///{folder / 'pr2.db'}", max_posts_per_user=args.posts)
    generator = load_generator(GeneratorConfig(model="smollm2"))
    answerer = Answerer(store, generator, retriever, AgentConfig(retriever="minilm"), "smollm2")
    texts = [" ".join(rng.choices(WORDS, k=rng.randint(6, 14))) + f" ({i})" for i in range(args.posts)]
    began = time.perf_counter()
    for start in range(0, len(texts), 1000):
        chunk = texts[start : start + 1000]
        store.add_posts("big", chunk, answerer.embed(chunk), answerer.embedder)
    written = time.perf_counter() - began

    def searches(index) -> None:
        for query in QUERIES:
            index.search(query, 3)

    def reference() -> None:
        from pr2.data.schema import ProfileItem
        from pr2.retrieval.index import ProfileIndex

        profile = store.profile("big", texts=True)
        embeddings = torch.from_numpy(np.stack(profile.embeddings).astype(np.float32))
        items = [ProfileItem(p.id, p.text) for p in profile.posts]
        searches(ProfileIndex(items, retriever, prepared=retriever.index_embeddings(embeddings)))

    def cold() -> None:
        answerer._indexes.clear()
        index, _, _ = answerer._index("big")
        searches(index)

    def warm() -> None:
        index, _, _ = answerer._index("big")
        searches(index)

    cold()  # untimed warm-up of every path
    reference()
    times: dict[str, list[float]] = {"reference (every text read)": [], "cold": [], "warm": []}
    for _ in range(args.repeats):
        for name, run in (("reference (every text read)", reference), ("cold", cold), ("warm", warm)):
            began = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - began)
    medians = {name: statistics.median(values) for name, values in times.items()}
    print(f"one user, {args.posts} posts: written in {written:.1f} s ({1000 * written / args.posts:.2f} ms a post, "
          "embedding included)")  # fmt: skip
    for name, value in medians.items():
        print(f"{name}: median {1000 * value:.1f} ms over {args.repeats}")
    ref = medians["reference (every text read)"]
    print(f"ratio reference vs cold: {ref / medians['cold']:.2f}x; reference vs warm: {ref / medians['warm']:.2f}x")
    store.close()


if __name__ == "__main__":
    main()
