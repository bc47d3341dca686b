"""Profile ranking speed: pr2's ranker against the LaMP-QA benchmark script's algorithm, same encoder weights.

Reference ("lamp-qa-script"): per question, the query and then the profile in fixed batches of `--batch_size`
padded to the longest text of the batch, the encoder run without inference mode (autograd on), as the
benchmark's ranking script does. Also shown: the same reference under torch.no_grad, to separate what autograd
costs from what the batching does.
pr2: inference mode, all texts of 64 questions pooled, duplicates skipped, sorted by length.

Encoder: a randomly initialised BERT-base-sized model (compute does not depend on the weights) with MiniLM's
tokenizer. Data: the bundled sample, each post lengthened to 1-8 posts of the same user so lengths vary like
StackExchange posts (about 20 to 400 tokens). Both rankings must be identical (fp32).

Run: python benchmarks/rank_speed.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

import numpy as np
import torch
from transformers import AutoTokenizer, BertConfig, BertModel

from pr2.data import sample_questions
from pr2.retrieval.base import rank_order
from pr2.retrieval.dense import DenseRetriever, MeanPoolingEncoder
from pr2.retrieval.registry import bundled_minilm_path


def make_data(seed: int = 0):
    rng = random.Random(seed)
    questions, profiles = [], []
    for q in sample_questions():
        texts = [p.text for p in q.profile]
        profiles.append([" ".join(rng.sample(texts, rng.randint(1, 8))) for _ in texts])
        questions.append(q.question)
    return questions, profiles


def reference_rank(model, tokenizer, queries, profiles, batch_size, grad: bool):
    """The benchmark script's algorithm: one question at a time, fixed batches padded to their longest text."""
    context = torch.enable_grad() if grad else torch.no_grad()
    rankings = []
    with context:
        for query, docs in zip(queries, profiles, strict=True):

            def encode(texts):
                rows = []
                for start in range(0, len(texts), batch_size):
                    enc = tokenizer(
                        texts[start : start + batch_size],
                        padding=True,
                        truncation=True,
                        max_length=512,
                        return_tensors="pt",
                    )
                    out = model(**enc).last_hidden_state
                    mask = enc["attention_mask"].unsqueeze(-1).float()
                    rows.append((out * mask).sum(1) / mask.sum(1))
                return torch.cat(rows)

            q, d = encode([query]), encode(docs)
            rankings.append(rank_order((q @ d.T)[0].detach().numpy()))
    return rankings


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch_size", type=int, default=16)
    args = parser.parse_args()
    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(bundled_minilm_path())
    model = BertModel(BertConfig(vocab_size=tokenizer.vocab_size)).eval()  # BERT-base shape, random weights
    queries, profiles = make_data()
    n_docs = sum(map(len, profiles))
    lengths = [len(x) for p in profiles for x in tokenizer(p)["input_ids"]]
    print(
        f"{len(queries)} questions, {n_docs} documents, tokens per document median {int(np.median(lengths))} "
        f"(max {max(lengths)}), torch threads {torch.get_num_threads()}"
    )

    # What bounds the gain: transformer compute follows the padded token count, which sorting can only cut so far.
    def padded(batches):
        return sum(len(b) * max(b) for b in batches)

    ref_tokens = sum(
        padded([lens[i : i + args.batch_size] for i in range(0, len(lens), args.batch_size)])
        for lens in ([len(x) for x in tokenizer(p, truncation=True, max_length=512)["input_ids"]] for p in profiles)
    )
    flat = sorted(min(n, 512) for n in lengths)
    ours_tokens = padded([flat[i : i + args.batch_size] for i in range(0, len(flat), args.batch_size)])
    print(f"padded tokens encoded: reference {ref_tokens}, pr2 {ours_tokens} (real tokens {sum(flat)})")

    ours = DenseRetriever("bench", MeanPoolingEncoder(model, tokenizer, batch_size=args.batch_size))
    times = {"lamp-qa-script": [], "lamp-qa-script+no_grad": [], "pr2": []}
    rankings = {}
    for _ in range(args.repeats):
        for name, run in (
            ("lamp-qa-script", lambda: reference_rank(model, tokenizer, queries, profiles, args.batch_size, True)),
            (
                "lamp-qa-script+no_grad",
                lambda: reference_rank(model, tokenizer, queries, profiles, args.batch_size, False),
            ),
            ("pr2", lambda: [rank_order(s) for s in ours.score_many(queries, profiles)]),
        ):
            start = time.perf_counter()
            rankings[name] = run()
            times[name].append(time.perf_counter() - start)
    identical = rankings["pr2"] == rankings["lamp-qa-script"] == rankings["lamp-qa-script+no_grad"]
    for name, ts in times.items():
        print(f"{name:<24} median {statistics.median(ts):7.2f}s  ({n_docs / statistics.median(ts):6.1f} docs/s)")
    print(f"rankings identical (fp32): {identical}")
    ref, ref_ng, pr2 = (statistics.median(times[k]) for k in ("lamp-qa-script", "lamp-qa-script+no_grad", "pr2"))
    print(f"ratio vs lamp-qa-script+no_grad: {ref_ng / pr2:.2f}")
    print(f"ratio: {ref / pr2:.2f}  (pr2 over lamp-qa-script, median of {args.repeats})")
    if not identical:
        raise SystemExit("rankings differ")


if __name__ == "__main__":
    main()
