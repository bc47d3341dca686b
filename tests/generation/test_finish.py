"""One finish rule for every back end: the model's end-of-turn ids, stop strings anywhere, the first tag wins."""

import copy

import pytest
from transformers import GenerationConfig

from pr2.generation.finish import end_of_turn_ids, finish_ids, finish_text

STOPS = ("</search>", "</answer>")


@pytest.fixture(scope="module")
def tok(tiny_generator):
    return tiny_generator.tokenizer


def ids(tok, text):
    return tok(text, add_special_tokens=False)["input_ids"]


# Shaped like the real models' generation configs on the bundled tokenizer: several end ids, and the end of a turn
# differs from the tokenizer's eos (Gemma-2-it: <eos>, <end_of_turn>; Qwen2.5: <|im_end|>, <|endoftext|>;
# Llama-3.1: <|end_of_text|>, <|eom_id|>, <|eot_id|>).
@pytest.mark.parametrize(
    ("name", "tokenizer_eos", "config_eos"),
    [
        ("gemma-2", "<|endoftext|>", ["<|endoftext|>", "<|im_end|>"]),
        ("qwen2.5", "<|endoftext|>", ["<|im_end|>", "<|endoftext|>"]),
        ("llama-3.1", "<|endoftext|>", ["<|endoftext|>", "<repo_name>", "<|im_end|>"]),
    ],
)
def test_a_turn_ends_on_any_end_of_turn_id_of_the_generation_config(tok, name, tokenizer_eos, config_eos):
    tok = copy.deepcopy(tok)
    tok.eos_token = tokenizer_eos
    end_ids = end_of_turn_ids(tok, GenerationConfig(eos_token_id=tok.convert_tokens_to_ids(config_eos)))
    end_of_turn = tok.convert_tokens_to_ids("<|im_end|>")
    assert end_of_turn != tok.eos_token_id and end_of_turn in end_ids
    sampled = [*ids(tok, "I would say hello"), end_of_turn, *ids(tok, " and then babble on")]
    done = finish_ids(sampled, tokenizer=tok, end_ids=end_ids, stop=STOPS, logprobs=[-0.1] * len(sampled))
    assert done.finish_reason == "eos" and done.token_ids[-1] == end_of_turn
    assert done.text == "I would say hello" and len(done.logprobs) == len(done.token_ids)
    # without the generation config (the old rule), the same ids read as "length" and the babble is kept
    assert finish_ids(sampled, tokenizer=tok, end_ids={tok.eos_token_id}, stop=STOPS).finish_reason == "length"


def test_a_stop_string_anywhere_cuts_the_ids_after_the_token_that_completes_it(tok):
    sampled = ids(tok, "<search>rock climbing</search>\n\nAnd more text past the tag")
    done = finish_ids(sampled, tokenizer=tok, end_ids={tok.eos_token_id}, stop=STOPS)
    assert done.finish_reason == "stop" and done.stop_string == "</search>"
    assert "</search>" in done.text and "more text" not in done.text
    assert tok.decode(done.token_ids, skip_special_tokens=True) == done.text
    assert "</search>" not in tok.decode(done.token_ids[:-1], skip_special_tokens=True)


def test_the_first_closing_tag_wins(tok):
    sampled = ids(tok, "<search>q</search> then <answer>a</answer>")
    assert finish_ids(sampled, tokenizer=tok, end_ids=set(), stop=STOPS).stop_string == "</search>"
    sampled = ids(tok, "<answer>a</answer> then <search>q</search>")
    assert finish_ids(sampled, tokenizer=tok, end_ids=set(), stop=STOPS).stop_string == "</answer>"


def test_text_only_servers_follow_the_same_rule():
    done = finish_text("<search>q</search> and on", server_reason="stop", stop=STOPS)
    assert (done.text, done.finish_reason, done.stop_string) == ("<search>q</search>", "stop", "</search>")
    named = finish_text("<search>q", server_reason="stop", stop=STOPS, named="</search>")  # vLLM drops it, names it
    assert (named.text, named.finish_reason) == ("<search>q</search>", "stop")
    assert finish_text("hello", server_reason="stop", stop=STOPS).finish_reason == "eos"
    assert finish_text("hello", server_reason="length", stop=STOPS).finish_reason == "length"


def test_the_hf_back_end_takes_every_end_id_of_the_model(tiny_generator):
    from pr2.generation.hf import HFGenerator

    model = copy.deepcopy(tiny_generator.model)
    model.generation_config.eos_token_id = [2, 7]
    assert HFGenerator(model, tiny_generator.tokenizer, model_name="tiny").eos_ids == {2, 7}
