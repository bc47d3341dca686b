"""Shared fixtures. Every test runs offline: no model or data is fetched from a hub."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# pytest-xdist (pyproject's addopts): each worker takes its share of the cores, set before torch is imported, so
# that workers do not fight over them (the subprocesses a test starts inherit it too).
if os.environ.get("PYTEST_XDIST_WORKER_COUNT"):
    _share = max(1, (os.cpu_count() or 1) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"]))
    os.environ.setdefault("OMP_NUM_THREADS", str(_share))

import json
from pathlib import Path

import pytest


def make_record(qid: str = "q1", n_profile: int = 3, n_aspects: int = 2, **extra) -> dict:
    return {
        "id": qid,
        "question": f"Question {qid}?",
        "narrative": f"Narrative of {qid}.",
        "profile": [{"id": f"{qid}-{i}", "text": f"post {i} of {qid}"} for i in range(n_profile)],
        "rubric_aspects": [
            {"aspect": f"aspect {j}", "reason": f"reason {j}", "evidence": f"evidence {j}"} for j in range(n_aspects)
        ],
        **extra,
    }


@pytest.fixture
def write_json(tmp_path: Path):
    def write(name: str, data, *, jsonl: bool = False) -> Path:
        path = tmp_path / name
        if jsonl:
            path.write_text("".join(json.dumps(r) + "\n" for r in data))
        else:
            path.write_text(json.dumps(data))
        return path

    return write


@pytest.fixture
def one_torch_thread():
    """torch on one thread for the test, then as before: a forked child cannot use the parent's OpenMP pool, and a run
    in this process compares with one-thread processes sum for sum."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def default_synth() -> dict:
    """The default generated benchmark (`pr2 synth --users 300 --seed 0`), its splits made once: read, never change."""
    from pr2.data.synth import SynthConfig, generate

    return generate(SynthConfig(users=300, seed=0))


@pytest.fixture(scope="session")
def tiny_encoder_dir(tmp_path_factory) -> Path:
    """A tiny randomly initialised BERT encoder (Contriever-style use) with MiniLM's real tokenizer."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    from pr2.retrieval.registry import bundled_minilm_path

    path = tmp_path_factory.mktemp("tiny-bert")
    tokenizer = AutoTokenizer.from_pretrained(bundled_minilm_path())
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=512,
    )
    BertModel(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_st_dir(tiny_encoder_dir, tmp_path_factory) -> Path:
    """The tiny BERT as a sentence-transformers folder (mean pooling): stands in for MiniLM in mechanics tests."""
    from sentence_transformers import SentenceTransformer, models

    path = tmp_path_factory.mktemp("tiny-st")
    body = models.Transformer(str(tiny_encoder_dir))
    SentenceTransformer(modules=[body, models.Pooling(body.get_word_embedding_dimension())], device="cpu").save(
        str(path)
    )
    return path


@pytest.fixture(scope="session")
def minilm_retriever():
    """The real bundled MiniLM, loaded once for the tests where what it retrieves matters."""
    from pr2.retrieval import load_retriever

    return load_retriever("minilm")


@pytest.fixture(scope="session")
def tiny_llama_dir(smollm2_dir, tmp_path_factory) -> Path:
    """A randomly initialised 2-layer Llama with SmolLM2's real tokenizer, chat template and end-of-turn ids.

    Every code path (hf back end, `transformers serve`, TRL, PEFT) loads it by path exactly as it loads SmolLM2,
    in a fraction of the time; it writes token soup, so tests that use it check mechanics, never behaviour.
    """
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, GenerationConfig

    path = tmp_path_factory.mktemp("tiny-llama")
    config = AutoConfig.from_pretrained(smollm2_dir)
    config.update(
        {
            "hidden_size": 64,
            "intermediate_size": 128,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
            "head_dim": 16,
            "max_position_embeddings": 2048,
        }
    )
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.generation_config = GenerationConfig.from_pretrained(smollm2_dir)
    model.save_pretrained(path)
    AutoTokenizer.from_pretrained(smollm2_dir).save_pretrained(path)
    return path


SEARCH_WORD = " garden"
"""What the searching model writes, then it ends its turn: one word and end-of-turn, every turn."""


def bigram_llama(smollm2_dir: Path, path: Path, wire, **shape) -> Path:
    """Save at `path` a 1-layer Llama (SmolLM2's tokenizer, chat template and end-of-turn ids) whose weights are all
    zero but its norms, after `wire(model, tokenizer, end_of_turn_id)` sets the ones it needs under no_grad. With
    zero attention and MLP, each next token depends on the last token alone: a bigram model wired by hand."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, GenerationConfig

    tokenizer = AutoTokenizer.from_pretrained(smollm2_dir)
    config = AutoConfig.from_pretrained(smollm2_dir)
    config.update(
        {
            "hidden_size": 16,
            "intermediate_size": 32,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "num_key_value_heads": 1,
            "head_dim": 8,
            "max_position_embeddings": 2048,
            "tie_word_embeddings": False,
            **shape,
        }
    )
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    with torch.no_grad():
        for param in model.parameters():
            param.zero_()
        model.model.norm.weight.fill_(1.0)
        model.model.layers[0].input_layernorm.weight.fill_(1.0)
        model.model.layers[0].post_attention_layernorm.weight.fill_(1.0)
        wire(model, tokenizer, tokenizer.convert_tokens_to_ids("<|im_end|>"))
    model.generation_config = GenerationConfig.from_pretrained(smollm2_dir)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def one_token(tokenizer, word: str) -> int:
    ids = tokenizer(word, add_special_tokens=False)["input_ids"]
    assert len(ids) == 1, (word, ids)
    return ids[0]


@pytest.fixture(scope="session")
def searching_llama_dir(smollm2_dir, tmp_path_factory) -> Path:
    """A bigram model (`bigram_llama`): after the word " garden" it ends the turn, after anything else it writes
    " garden". With the agent's prefill `<search>` each episode searches for "garden" and, once the loop opens
    `<answer>`, answers "garden": the tiny stand-in for a policy that follows the protocol (the warm start keeps
    only episodes that searched and answered)."""
    import torch

    def wire(model, tokenizer, end) -> None:
        word = one_token(tokenizer, SEARCH_WORD)
        model.model.embed_tokens.weight[:, 0] = 1.0  # every token: direction 0 ...
        model.model.embed_tokens.weight[word] = torch.nn.functional.one_hot(torch.tensor(1), 16).float()
        model.lm_head.weight[word, 0] = 20.0  # ... after which the word is likely
        model.lm_head.weight[end, 1] = 20.0  # after the word (direction 1): end of turn

    return bigram_llama(smollm2_dir, tmp_path_factory.mktemp("searching-llama"), wire)


@pytest.fixture(scope="session")
def tiny_generator(tiny_llama_dir):
    from pr2.generation import GeneratorConfig, load_generator

    return load_generator(GeneratorConfig(model=str(tiny_llama_dir), backend="hf", device="cpu"))


@pytest.fixture(scope="session")
def smollm2_dir() -> Path:
    """The bundled SmolLM2-135M-Instruct as a transformers folder (converted from the GGUF once per machine)."""
    from pr2.generation.models import bundled_smollm2

    return bundled_smollm2()


@pytest.fixture(scope="session")
def hf_generator(smollm2_dir):
    from pr2.generation import GeneratorConfig, load_generator

    return load_generator(GeneratorConfig(model="smollm2", backend="hf", device="cpu"))


QUERY_WORDS = (" garden", " flower")
COLOURS = (" red", " blue", " green", " yellow", " purple", " orange", " pink", " white", " brown", " grey", " gold",
           " silver")  # fmt: skip


def query_choosing_wire(reads: bool):
    """The wiring of `choosing_llama_dir` (reads=False) and `reading_llama_dir` (reads=True).

    Choosing: after most tokens " garden" or " flower", about equally likely (both read direction 0, which every
    token has; their own directions 2 and 3 are left at zero for an adapter to move, through a small random MLP:
    all-zero weights would leave every LoRA at a saddle); after either word, end of turn (direction 1).
    Reading: one attention head copies a colour word from the context. The token ">" (direction 40; it ends both
    `<search>` and `<answer>`) queries what only colour words carry as keys (direction 4), so at ">" the head
    attends to the colours in context, if any; each colour's own direction (5 + i) is copied to an output direction
    (20 + i) that writes that colour. So after `<answer>` the model names the colour it was shown, and with none
    shown it writes a query word, as after `<search>`. After a colour, end of turn."""

    def wire(model, tokenizer, end) -> None:
        layer = model.model.layers[0]
        for proj in (layer.mlp.gate_proj, layer.mlp.up_proj, layer.mlp.down_proj):
            proj.weight.normal_(0.0, 0.05)
        embed, head, attn = model.model.embed_tokens.weight, model.lm_head.weight, layer.self_attn
        embed[:, 0] = 1.0
        for direction, word in enumerate(QUERY_WORDS, start=2):
            w = one_token(tokenizer, word)
            embed[w] = 0.0
            embed[w, 1] = 1.0
            head[w, 0] = 4.0
            head[w, direction] = 4.0
        head[end, 1] = 20.0
        if not reads:
            return
        layer.mlp.down_proj.weight[2:4] = 0.0  # the two query words start tied
        trigger = one_token(tokenizer, ">")
        embed[trigger, 40] = 1.0
        # RoPE barely turns the head's last pair (31, 63) over a few hundred positions: query and key meet there.
        attn.q_proj.weight[31, 40] = 3.0
        attn.k_proj.weight[31, 4] = 3.0
        for i, word in enumerate(COLOURS):
            c = one_token(tokenizer, word)
            embed[c] = 0.0
            embed[c, 1], embed[c, 4], embed[c, 5 + i] = 1.0, 1.0, 1.0
            attn.v_proj.weight[5 + i, 5 + i] = 1.0
            attn.o_proj.weight[20 + i, 5 + i] = 1.0
            head[c, 20 + i] = 4.0

    return wire


@pytest.fixture(scope="session")
def choosing_llama_dir(smollm2_dir, tmp_path_factory) -> Path:
    """A bigram model (`bigram_llama`) that chooses between two query words: see `query_choosing_wire`."""
    return bigram_llama(smollm2_dir, tmp_path_factory.mktemp("choosing-llama"), query_choosing_wire(reads=False))


@pytest.fixture(scope="session")
def reading_llama_dir(smollm2_dir, tmp_path_factory) -> Path:
    """`choosing_llama_dir`, wider, and able to read: after `<answer>` it names the colour word it was shown, if
    any (`query_choosing_wire`). That it can read a colour is wired; which query shows it one is for GRPO to learn."""
    shape = {"hidden_size": 64, "num_attention_heads": 1, "num_key_value_heads": 1, "head_dim": 64}
    return bigram_llama(smollm2_dir, tmp_path_factory.mktemp("reading-llama"), query_choosing_wire(reads=True), **shape)
