"""Multi-turn decoding from kept keys and values (generation/turn_cache.py) against the reference path (a fresh
`generate` over the whole context every turn): the same tokens at temperature 0 in fp32, each token fed once."""

from dataclasses import replace

import pytest
import torch

from pr2.generation.base import SamplingParams
from pr2.generation.turn_cache import TurnCache, sample_tokens


def _chat(tokenizer, text: str) -> list[int]:
    from pr2.generation.chat import apply_chat_template

    return apply_chat_template(tokenizer, [{"role": "user", "content": text}])


# the cached path decoding with the model's own kernel (sdpa) and with eager attention for its one-token steps
ENGINES = [None, "eager"]
ENGINE_IDS = ["sdpa-decode", "eager-decode"]


@pytest.mark.parametrize("decode_attention", ENGINES, ids=ENGINE_IDS)
def test_continuing_from_the_cache_gives_the_reference_tokens_turn_after_turn(
    hf_generator, decode_attention, monkeypatch
):
    """Three rows of different lengths, two turns with a different amount of inserted text per row: every turn's
    greedy tokens equal a fresh generate over the whole context, and the cache holds each row's whole context."""
    monkeypatch.setattr(hf_generator, "decode_attention", decode_attention)
    tok = hf_generator.tokenizer
    rows = [_chat(tok, t) for t in ("Name a colour.", "What is the capital of France? Think first.", "Hi")]
    params = SamplingParams(temperature=0.0, max_tokens=12, stop=("</search>", "</answer>"), logprobs=True)
    store = TurnCache()
    keys = ["a", "b", "c"]
    for inserted in ("\nNow tell me more.", ["\n[1] A post.", "\n[1] A much longer inserted post about Paris.", ""]):
        cached = hf_generator.generate(rows, params, turn_cache=store, keys=keys)
        reference = hf_generator.generate(rows, params)
        for c, r in zip(cached, reference, strict=True):
            assert c.token_ids == r.token_ids and c.finish_reason == r.finish_reason
            assert c.logprobs == pytest.approx(r.logprobs, abs=1e-3)
        for key, row, c in zip(keys, rows, cached, strict=True):  # everything but the last sampled token
            assert store.entries[key].ids == row + c.token_ids[:-1]
        extra = [inserted] * 3 if isinstance(inserted, str) else inserted
        rows = [
            row + c.token_ids + tok(x, add_special_tokens=False)["input_ids"]
            for row, c, x in zip(rows, cached, extra, strict=True)
        ]


def test_a_row_that_changed_its_past_is_recomputed_from_where_it_differs(hf_generator):
    tok = hf_generator.tokenizer
    row = _chat(tok, "Count to five.")
    params = SamplingParams(temperature=0.0, max_tokens=8)
    store = TurnCache()
    (first,) = hf_generator.generate([row], params, turn_cache=store, keys=["x"])
    edited = row + first.token_ids[:3] + tok(" no, backwards:", add_special_tokens=False)["input_ids"]
    (again,) = hf_generator.generate([edited], params, turn_cache=store, keys=["x"])
    (reference,) = hf_generator.generate([edited], params)
    assert again.token_ids == reference.token_ids


def test_nucleus_sampling_keeps_exactly_the_nucleus():
    torch.manual_seed(0)
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05], [0.97, 0.01, 0.01, 0.01]]))
    draws = torch.stack([sample_tokens(logits, SamplingParams(temperature=1.0, top_p=0.7)) for _ in range(2000)])
    assert set(draws[:, 0].tolist()) == {0, 1}  # 0.5 + 0.3 reach 0.7; 0.15 and 0.05 never drawn
    assert set(draws[:, 1].tolist()) == {0}
    share = (draws[:, 0] == 0).float().mean().item()
    assert abs(share - 0.5 / 0.8) < 0.04  # renormalised within the nucleus
    greedy = sample_tokens(logits, SamplingParams(temperature=0.0))
    assert greedy.tolist() == [0, 0]


def _kept(probs: torch.Tensor, top_p: float) -> torch.Tensor:
    from pr2.generation.turn_cache import nucleus

    mask = torch.zeros_like(probs, dtype=torch.bool)
    for rows, weights, ids in nucleus(probs, top_p):
        for r, w, i in zip(rows.tolist(), weights, ids, strict=True):
            mask[r, i[w > 0]] = True
    return mask


def test_the_nucleus_is_transformers_top_p_on_a_full_vocabulary_boundary_and_ties_included():
    """The kept set equals TopPLogitsWarper's on SmolLM2's 49,152-word vocabulary: peaked rows (nucleus within the
    top-k) and flat ones (the full sort), a mass that reaches top_p exactly (left out, as there), and a tie
    straddling the boundary (as many of the tied tokens kept)."""
    from transformers.generation.logits_process import TopPLogitsWarper

    vocab = 49_152
    torch.manual_seed(0)
    peaked, flat = torch.randn(4, vocab) * 4, torch.randn(4, vocab) * 0.05
    for logits in (peaked, flat):
        for top_p in (0.1, 0.5, 0.9, 0.99):
            probs = torch.softmax(logits, dim=-1)
            theirs = TopPLogitsWarper(top_p)(None, logits.clone()) > -float("inf")
            ours = _kept(probs, top_p)
            # Where they differ, the token's boundary mass is top_p within float32 rounding of a 49k-term sum, and
            # ours follows the exact rule (kept iff the mass above it, summed in float64, is below top_p).
            for row, token in (ours != theirs).nonzero().tolist():
                above = probs[row][probs[row] > probs[row, token]].double().sum().item()
                assert abs(above - top_p) < 1e-5 and ours[row, token] == (above < top_p), (top_p, row, token)
            assert int((ours != theirs).sum()) <= 1
    exact = torch.full((1, vocab), -float("inf"))
    exact[0, :3] = torch.log(torch.tensor([0.5, 0.25, 0.25]))  # 0.5 reaches top_p = 0.5 exactly: nothing more
    theirs = TopPLogitsWarper(0.5)(None, exact.clone()) > -float("inf")
    assert torch.equal(_kept(torch.softmax(exact, dim=-1), 0.5), theirs) and int(theirs.sum()) == 1
    tie = torch.randn(1, vocab) * 0.1 - 10
    tied = torch.randperm(vocab)[:6]
    tie[0, tied[:2]], tie[0, tied[2:]] = 3.0, 2.0
    probs = torch.softmax(tie, dim=-1)
    top_p = (probs[0, tied[:2]].sum() + 1.5 * probs[0, tied[2]]).item()  # inside the four-way tie
    theirs = TopPLogitsWarper(top_p)(None, tie.clone()) > -float("inf")
    ours = _kept(probs, top_p)
    assert int(ours.sum()) == int(theirs.sum()) == 4
    assert ours[0, tied[:2]].all() and int(ours[0, tied[2:]].sum()) == 2


def test_dtype_auto_picks_bf16_only_where_the_cpu_has_it(monkeypatch):
    from pr2.errors import PR2Error
    from pr2.generation import hf

    monkeypatch.setattr(hf, "cpu_has_native_bf16", lambda: True)
    assert hf.resolve_dtype("auto", "cpu") == "bf16" and hf.resolve_dtype(None, "cpu") == "fp32"
    monkeypatch.setattr(hf, "cpu_has_native_bf16", lambda: False)
    assert hf.resolve_dtype("auto", "cpu") == "fp32" and hf.resolve_dtype("auto", "cuda") == "bf16"
    with pytest.raises(PR2Error, match="unknown dtype 'fp8'"):
        hf.resolve_dtype("fp8", "cpu")


def test_both_paths_sample_by_the_request_alone_not_the_models_generation_config(tiny_llama_dir, tmp_path):
    """A model whose generation_config sets its own sampling (Qwen2.5-Instruct's sets repetition_penalty) changes
    neither path: both decode by SamplingParams alone, so at temperature 0 they give the same tokens."""
    import json
    import shutil

    from pr2.generation import GeneratorConfig, load_generator

    model_dir = tmp_path / "penalised"
    shutil.copytree(tiny_llama_dir, model_dir)
    config_path = model_dir / "generation_config.json"
    config = json.loads(config_path.read_text()) if config_path.exists() else {}
    config.update(repetition_penalty=3.0, no_repeat_ngram_size=2, top_k=5, temperature=0.3, do_sample=True)
    config_path.write_text(json.dumps(config))
    generator = load_generator(GeneratorConfig(model=str(model_dir), backend="hf", device="cpu", dtype="fp32"))
    tok = generator.tokenizer
    rows = [_chat(tok, t) for t in ("Name a colour.", "What is the capital of France?")]
    params = SamplingParams(temperature=0.0, max_tokens=24)
    reference = generator.generate(rows, params)
    cached = generator.generate(rows, params, turn_cache=TurnCache(), keys=["a", "b"])
    assert [c.token_ids for c in cached] == [r.token_ids for r in reference]
    assert any(len(set(r.token_ids)) < len(r.token_ids) for r in reference)  # the penalty was not applied


def test_a_seeded_episode_draws_the_same_whatever_its_batch_and_leaves_the_global_rng_alone(hf_generator):
    """Sampled at temperature 1 with a seed, an episode's tokens are its own: alone, or beside others in any slot,
    the same (its stream comes from the seed, its key and its length, not from the process's RNG)."""
    tok = hf_generator.tokenizer
    mine = _chat(tok, "Name a colour.")
    others = [_chat(tok, t) for t in ("What is the capital of France?", "Hi", "Tell me a joke.")]
    params = SamplingParams(temperature=1.0, top_p=0.95, max_tokens=10, seed=7)
    state = torch.random.get_rng_state()
    (alone,) = hf_generator.generate([mine], params, turn_cache=TurnCache(), keys=["mine"])
    assert torch.equal(torch.random.get_rng_state(), state)  # the global RNG is not reseeded
    first = hf_generator.generate([mine, *others], params, turn_cache=TurnCache(), keys=["mine", "a", "b", "c"])
    last = hf_generator.generate([*others, mine], params, turn_cache=TurnCache(), keys=["a", "b", "c", "mine"])
    assert alone.token_ids == first[0].token_ids == last[-1].token_ids
    other_seed = hf_generator.generate([mine], replace(params, seed=8), turn_cache=TurnCache(), keys=["mine"])
    another_key = hf_generator.generate([mine], params, turn_cache=TurnCache(), keys=["yours"])
    assert other_seed[0].token_ids != alone.token_ids or another_key[0].token_ids != alone.token_ids


@pytest.mark.parametrize("decode_attention", ENGINES, ids=ENGINE_IDS)
def test_batched_equals_one_at_a_time_on_every_engine(hf_generator, decode_attention, monkeypatch):
    """At temperature 0 a row's tokens do not depend on the rows decoded beside it, whatever the decode kernel; and
    the model leaves a call with its own kernel."""
    monkeypatch.setattr(hf_generator, "decode_attention", decode_attention)
    own = hf_generator.model.config._attn_implementation
    tok = hf_generator.tokenizer
    rows = [_chat(tok, t) for t in ("Name a colour.", "What is the capital of France? Think first.", "Hi")]
    params = SamplingParams(temperature=0.0, max_tokens=10)
    together = hf_generator.generate(rows, params, turn_cache=TurnCache(), keys=[0, 1, 2])
    for i, row in enumerate(rows):
        (alone,) = hf_generator.generate([row], params, turn_cache=TurnCache(), keys=[i])
        assert alone.token_ids == together[i].token_ids
    assert hf_generator.model.config._attn_implementation == own


@pytest.mark.parametrize("cached", [True, False], ids=["cached", "reference"])
def test_a_replay_decodes_the_recorded_tokens_exactly(hf_generator, cached):
    """Benchmarks replay recorded episodes through every engine: whatever the sampler draws, the replay decodes the
    recorded tokens and ends where they end, and the other rows of its batch are untouched by it."""
    tok = hf_generator.tokenizer
    rows = [_chat(tok, t) for t in ("Name a colour.", "Write a short poem about the sea.")]
    params = SamplingParams(temperature=1.0, top_p=0.9, max_tokens=16, stop=("</search>",), seed=3)
    recorded = hf_generator.generate(rows, params, turn_cache=TurnCache(), keys=[0, 1])
    other = SamplingParams(temperature=1.0, top_p=0.9, max_tokens=16, stop=("</search>",), seed=99)
    kwargs = {"turn_cache": TurnCache(), "keys": [0, 1]} if cached else {}
    replayed = hf_generator.generate(rows, other, replay=[c.token_ids for c in recorded], **kwargs)
    assert [c.token_ids for c in replayed] == [c.token_ids for c in recorded]
    assert [c.finish_reason for c in replayed] == [c.finish_reason for c in recorded]
    free = hf_generator.generate(rows, other, **kwargs)
    assert [c.token_ids for c in free] != [c.token_ids for c in recorded]  # without the replay, another draw


def test_rows_with_their_own_budgets_share_one_batch(hf_generator):
    """Episodes near their length limit have less room than the rest: in one call each stops at its own budget and
    writes what a call with that budget alone writes."""
    tok = hf_generator.tokenizer
    rows = [_chat(tok, t) for t in ("Name a colour.", "Write a short poem about the sea.", "Count to twenty.")]
    params = SamplingParams(temperature=0.0, max_tokens=12)
    budgets = [3, 12, 7]
    together = hf_generator.generate(rows, params, turn_cache=TurnCache(), keys=[0, 1, 2], budgets=budgets)
    for row, budget, got in zip(rows, budgets, together, strict=True):
        (alone,) = hf_generator.generate([row], replace(params, max_tokens=budget), turn_cache=TurnCache(), keys=[0])
        assert got.token_ids == alone.token_ids and len(got.token_ids) <= budget
        assert got.finish_reason == alone.finish_reason


def test_seeded_draws_follow_the_nucleus_distribution_and_do_not_depend_on_the_sort_order():
    """The counter-based draw of a seeded row: over many streams the tokens come as often as their probability
    within the nucleus says, and permuting the candidates (as a one-ulp change can reorder a flat row's sort)
    changes no draw."""
    from pr2.generation.turn_cache import _race

    probs = torch.tensor([0.4, 0.3, 0.15, 0.1, 0.05])
    logits = probs.log()[None].expand(20000, -1)
    params = SamplingParams(temperature=1.0, top_p=0.8)
    draws = sample_tokens(logits, params, streams=list(range(20000)))
    frequencies = torch.bincount(draws, minlength=5).float() / len(draws)
    nucleus = torch.tensor([0.4, 0.3, 0.15, 0.0, 0.0]) / 0.85  # 0.4 + 0.3 < 0.8 keeps the third, not the fourth
    assert torch.allclose(frequencies, nucleus, atol=0.015), frequencies
    weights = probs[None].expand(500, -1)
    ids = torch.arange(5).expand(500, -1)
    order = torch.tensor([3, 0, 4, 1, 2])
    streams = list(range(10**6, 10**6 + 500))
    straight = ids.gather(-1, _race(weights, ids, streams)[:, None])
    permuted = ids[:, order].gather(-1, _race(weights[:, order], ids[:, order], streams)[:, None])
    assert torch.equal(straight, permuted)
