"""Shared fixtures. Every test runs offline: no model or data is fetched from a hub."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

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


def bigram_llama(smollm2_dir: Path, path: Path, wire) -> Path:
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


QUERY_WORDS = (" garden", " budget")


@pytest.fixture(scope="session")
def choosing_llama_dir(smollm2_dir, tmp_path_factory) -> Path:
    """A bigram model (`bigram_llama`): after most tokens " garden" or " budget", about equally likely; after either
    word, end of turn. The two words read different directions of the hidden state (2 and 3), which the embeddings
    leave at zero; a small random MLP gives the adapter a gradient to move them (all-zero weights would leave every
    LoRA at a saddle)."""
    import torch

    def wire(model, tokenizer, end) -> None:
        mlp = model.model.layers[0].mlp
        for proj in (mlp.gate_proj, mlp.up_proj, mlp.down_proj):
            proj.weight.normal_(0.0, 0.05)
        model.model.embed_tokens.weight[:, 0] = 1.0
        for direction, word in enumerate(QUERY_WORDS, start=2):
            w = one_token(tokenizer, word)
            model.model.embed_tokens.weight[w] = torch.nn.functional.one_hot(torch.tensor(1), 16).float()
            model.lm_head.weight[w, 0] = 4.0
            model.lm_head.weight[w, direction] = 4.0
        model.lm_head.weight[end, 1] = 20.0

    return bigram_llama(smollm2_dir, tmp_path_factory.mktemp("choosing-llama"), wire)
