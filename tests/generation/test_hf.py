import pytest

from pr2.generation import SamplingParams
from pr2.generation.chat import apply_chat_template, fold_system

COUNT = [{"role": "user", "content": "Count from 1 to 20, separated by commas."}]
STORY = [
    {"role": "system", "content": "You are a storyteller."},
    {"role": "user", "content": "Tell a story about a cat."},
]


def test_stop_string_ends_the_completion_and_is_kept(hf_generator):
    out = hf_generator.generate([COUNT], SamplingParams(max_tokens=60, stop=("7",)))
    (c,) = out
    assert c.finish_reason == "stop" and c.stop_string == "7"
    assert c.text.endswith("7") and "8" not in c.text
    assert hf_generator.tokenizer.decode(c.token_ids, skip_special_tokens=True) == c.text


def test_batched_rows_finish_independently(hf_generator):
    out = hf_generator.generate([COUNT, STORY], SamplingParams(max_tokens=20, stop=("4",)))
    assert [c.finish_reason for c in out] == ["stop", "length"]
    assert len(out[1].token_ids) == 20 and len(out[0].token_ids) < 20
    # left padding does not change greedy results: each row alone gives the same ids
    alone = hf_generator.generate([STORY], SamplingParams(max_tokens=20, stop=("4",)))[0]
    assert alone.token_ids == out[1].token_ids


def test_eos_is_reported_and_kept_in_the_ids(hf_generator):
    short = [{"role": "user", "content": "Reply with just the word yes."}]
    c = hf_generator.generate([short], SamplingParams(max_tokens=40))[0]
    assert c.finish_reason == "eos"
    assert c.token_ids[-1] in hf_generator.eos_ids
    assert hf_generator.tokenizer.decode(c.token_ids, skip_special_tokens=True) == c.text


def test_n_samples_per_prompt_prompt_major_and_seeded(hf_generator):
    params = SamplingParams(temperature=1.0, max_tokens=10, n=3, seed=7)
    a = hf_generator.generate([COUNT, STORY], params)
    b = hf_generator.generate([COUNT, STORY], params)
    assert len(a) == 6
    assert [c.token_ids for c in a] == [c.token_ids for c in b]  # the seed makes it reproducible
    assert len({tuple(c.token_ids) for c in a[3:]}) > 1  # samples of one prompt differ


def test_logprobs_one_per_token_and_greedy_token_is_most_likely(hf_generator):
    c = hf_generator.generate([COUNT], SamplingParams(max_tokens=8, logprobs=True))[0]
    assert len(c.logprobs) == len(c.token_ids) == 8
    assert all(lp <= 0 for lp in c.logprobs)
    assert hf_generator.generate([COUNT], SamplingParams(max_tokens=8))[0].logprobs is None


def test_token_id_prompts_continue_exactly(hf_generator):
    ids = hf_generator.encode_prompt(COUNT)
    first = hf_generator.generate([ids], SamplingParams(max_tokens=6))[0]
    again = hf_generator.generate([ids + first.token_ids[:3]], SamplingParams(max_tokens=3))[0]
    assert again.token_ids == first.token_ids[3:6]


def test_score_gives_candidate_logprobs_consistent_with_sampling(hf_generator):
    scores = hf_generator.score([COUNT, STORY], ["0", "1", "2"])
    assert all(set(s) == {"0", "1", "2"} and all(v < 0 for v in s.values()) for s in scores)
    greedy = hf_generator.generate([COUNT], SamplingParams(max_tokens=1, logprobs=True))[0]
    assert greedy.text == "1" and max(scores[0], key=scores[0].get) == "1"
    assert scores[0]["1"] == pytest.approx(greedy.logprobs[0], abs=1e-4)


class RefusesSystem:
    """A chat template that raises on a system role, as Gemma's does."""

    def apply_chat_template(self, messages, add_generation_prompt=True, tokenize=True):
        if messages[0]["role"] == "system":
            raise ValueError("System role not supported")
        return [len(m["content"]) for m in messages]


def test_system_prompt_folded_for_templates_that_refuse_it():
    assert fold_system(STORY) == [{"role": "user", "content": "You are a storyteller.\n\nTell a story about a cat."}]
    assert apply_chat_template(RefusesSystem(), STORY) == [len("You are a storyteller.\n\nTell a story about a cat.")]

    class Broken:
        def apply_chat_template(self, *a, **k):
            raise ValueError("template is broken")

    with pytest.raises(ValueError, match="broken"):  # other template errors are not hidden
        apply_chat_template(Broken(), STORY)
