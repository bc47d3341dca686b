"""The agent loop with the real bundled SmolLM2 (and a scripted policy where exact limits are checked)."""

import math
from dataclasses import replace

import pytest

from pr2.agent import AgentConfig, run_agent
from pr2.agent.loop import episode_prompt_ids
from pr2.data import sample_questions
from pr2.data.schema import ProfileItem, Question
from pr2.generation.base import Completion

# Starting the turn inside a search makes the real model write a query and stop at </search> deterministically.
FORCED_SEARCH = "<think>I should look at what this person wrote before.</think>\n<search>"


@pytest.fixture(scope="module")
def minilm(minilm_retriever):
    return minilm_retriever


class CountingGenerator:
    def __init__(self, inner):
        self.inner, self.calls = inner, []
        self.model_name, self.tokenizer = inner.model_name, inner.tokenizer

    def encode_prompt(self, prompt):
        return self.inner.encode_prompt(prompt)

    def generate(self, prompts, params):
        self.calls.append(len(prompts))
        return self.inner.generate(prompts, params)


@pytest.fixture(scope="module")
def forced_run(hf_generator, minilm):
    questions = sample_questions("test")[:3]
    counting = CountingGenerator(hf_generator)
    config = AgentConfig(  # mechanics only: the prefill forces the search, the worked example is not needed
        prefill=FORCED_SEARCH,
        example_turn=False,
        max_model_len=330,
        max_turn_tokens=32,
        item_tokens=24,
        max_searches=2,
        seed=0,
        temperature=0.7,
    )
    return questions, counting, run_agent(questions, counting, config, retriever=minilm)


def test_generation_stops_at_search_and_information_follows(forced_run, hf_generator):
    _, _, trajectories = forced_run
    for t in trajectories:
        assert t.searches  # the forced first search
        infos = [i for i, s in enumerate(t.segments) if s.kind == "information"]
        assert len(infos) >= len(t.searches)
        for i in infos:  # every insertion follows a turn that stopped right at </search>
            assert t.segments[i - 1].kind == "model" and t.segments[i - 1].text.endswith("</search>")
            assert t.segments[i].text.strip().startswith("<information>")
        assert t.searches[0] in (FORCED_SEARCH + t.text)


def test_information_comes_from_that_users_profile(forced_run):
    questions, _, trajectories = forced_run
    for q, t in zip(questions, trajectories, strict=True):
        own = {p.id: p.text for p in q.profile}
        shown = [i for ids in t.retrieved_ids for i in ids]
        assert shown and set(shown) <= set(own)
        assert len(shown) == len(set(shown))  # items already shown are skipped
        info = next(s.text for s in t.segments if s.kind == "information")
        assert own[t.retrieved_ids[0][0]][:40] in info
        assert len(t.retrieved_ids[0]) == 3


def test_masks_and_logprobs_align_with_ids(forced_run, hf_generator):
    _, _, trajectories = forced_run
    for t in trajectories:
        ids, mask, lps = t.completion_ids, t.loss_mask, t.completion_logprobs
        assert len(ids) == len(mask) == len(lps) > 0
        pos = 0
        for s in t.segments:
            assert mask[pos : pos + len(s.token_ids)] == [int(s.kind == "model")] * len(s.token_ids)
            if s.kind == "model":
                assert hf_generator.tokenizer.decode(s.token_ids, skip_special_tokens=True) == s.text
                assert all(lp <= 0 for lp in s.logprobs)
                assert lps[pos : pos + len(s.token_ids)] == s.logprobs
            else:  # nothing was sampled there: NaN, never 0.0 (the log-probability of a certain token)
                assert all(math.isnan(lp) for lp in lps[pos : pos + len(s.token_ids)])
            pos += len(s.token_ids)
        assert 0 in mask and 1 in mask


def test_each_turn_is_one_batched_call_and_budget_ends_episodes(forced_run):
    _, counting, trajectories = forced_run
    assert counting.calls[0] == 3
    assert counting.calls == sorted(counting.calls, reverse=True)  # finished episodes leave the batch
    for t in trajectories:
        assert t.ended in ("answer", "length", "search_limit", "no_answer")
        assert len(t.prompt_ids) + len(t.completion_ids) <= 700
        assert len(t.searches) <= 2
        if t.ended != "answer":
            assert t.answer == "" or t.ended == "length"


class ScriptedPolicy:
    """Always searches (or answers when told to): exact checks of the loop's limits."""

    model_name = "scripted"

    def __init__(self, tokenizer, obey: bool):
        self.tokenizer, self.obey, self.turns = tokenizer, obey, 0

    def generate(self, prompts, params):
        self.turns += 1
        out = []
        for p in prompts:
            opened = isinstance(p, str) and p.endswith("<answer>")  # force_answer opened the tag for us
            told = isinstance(p, str) and p.rstrip().endswith("</information>") and "Do not search again" in p[-300:]
            if opened:
                text = "Fine.</answer>"
            else:
                text = "<answer>Fine.</answer>" if (self.obey and told) else f"<search>query {self.turns}</search>"
            stop = "</answer>" if text.endswith("</answer>") else "</search>"
            out.append(Completion(text, None, None, "stop", stop))
        return out


def _question(n_posts=10):
    return Question(
        "u1", "How do I paint skies?", "", [ProfileItem(f"p{i}", f"post {i} about skies") for i in range(n_posts)], []
    )


def test_search_limit_tells_the_model_to_answer_then_ends(hf_generator, minilm):
    config = AgentConfig(max_searches=2, prefill=None, max_model_len=4000, force_answer=False)
    (t,) = run_agent([_question()], ScriptedPolicy(hf_generator.tokenizer, obey=False), config, retriever=minilm)
    assert t.ended == "search_limit" and t.answer == "" and len(t.searches) == 2
    assert "That was your last search" in t.segments[3].text
    (t,) = run_agent([_question()], ScriptedPolicy(hf_generator.tokenizer, obey=True), config, retriever=minilm)
    assert t.ended == "answer" and t.answer == "Fine." and len(t.searches) == 2


def test_candidate_pool_and_empty_profile(hf_generator, minilm):
    config = AgentConfig(max_searches=3, prefill=None, candidate_pool=4, top_k=3)
    ranked = _question()
    ranked.extra["profile_ranked_by"] = "contriever"  # as pr2 rank writes it: its order is trusted
    (t,) = run_agent([ranked], ScriptedPolicy(hf_generator.tokenizer, obey=False), config, retriever=minilm)
    shown = [i for ids in t.retrieved_ids for i in ids]
    assert set(shown) == {"p0", "p1", "p2", "p3"}  # only the first 4 of the ranked profile, none twice
    (t,) = run_agent([_question(0)], ScriptedPolicy(hf_generator.tokenizer, obey=True), config, retriever=minilm)
    assert t.retrieved_ids[0] == [] and "no further posts" in t.segments[1].text


def test_candidate_pool_of_an_unranked_profile_is_ranked_first_not_cut_in_file_order(hf_generator):
    from pr2.retrieval import load_retriever

    posts = [ProfileItem(f"p{i}", f"My sourdough bread recipe number {i}") for i in range(8)]
    posts += [ProfileItem(f"sky{i}", f"Painting skies in watercolor, attempt {i}") for i in range(3)]
    q = Question("u2", "How do I paint watercolor skies?", "", posts, [])
    config = AgentConfig(max_searches=3, prefill=None, candidate_pool=3, top_k=3)
    (t,) = run_agent([q], ScriptedPolicy(hf_generator.tokenizer, obey=False), config, retriever=load_retriever("bm25"))
    assert {i for ids in t.retrieved_ids for i in ids} == {"sky0", "sky1", "sky2"}


class Scripted:
    """Answers each turn with the given (text, finish_reason, stop_string, ids?) and records max_tokens."""

    model_name = "scripted"

    def __init__(self, tokenizer, turns):
        self.tokenizer, self.turns, self.max_tokens = tokenizer, list(turns), []

    def generate(self, prompts, params):
        self.max_tokens.append(params.max_tokens)
        text, reason, stop = self.turns.pop(0)
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        return [Completion(text, ids, [-0.5] * len(ids), reason, stop) for _ in prompts]


def test_max_tokens_never_exceeds_what_is_left_of_the_budget(hf_generator):
    tok = hf_generator.tokenizer
    config = AgentConfig(max_searches=1, prefill=None, example_turn=False, max_turn_tokens=64, force_answer=False)
    prompt_len = len(episode_prompt_ids(_question().question, config, tok))
    config = replace(config, max_model_len=prompt_len + 100)
    policy = Scripted(
        tok, [("<search>skies</search>", "stop", "</search>"), ("<answer>Blue.</answer>", "stop", "</answer>")]
    )
    (t,) = run_agent([_question()], policy, config, retriever=_bm25(), tokenizer=tok)
    assert policy.max_tokens[0] == 64  # room: 100
    used = len(t.prompt_ids) + sum(len(s.token_ids) for s in t.segments[:2])
    assert policy.max_tokens[1] == min(64, prompt_len + 100 - used) < 64


def test_a_turn_that_stops_at_search_searches_even_if_it_wrote_answer_before(hf_generator):
    tok = hf_generator.tokenizer
    config = AgentConfig(max_searches=1, prefill=None, force_answer=False)
    turns = [
        ("I could write <answer> now, but first <search>skies</search>", "stop", "</search>"),
        ("<answer>Use blue.</answer>", "stop", "</answer>"),
    ]
    (t,) = run_agent([_question()], Scripted(tok, turns), config, retriever=_bm25(), tokenizer=tok)
    assert t.searches == ["skies"] and t.answer == "Use blue." and t.ended == "answer"


def test_a_closing_tag_the_policy_never_sampled_is_not_trained_on(hf_generator):
    tok = hf_generator.tokenizer
    config = AgentConfig(max_searches=1, prefill=None, force_answer=False)
    # a server that dropped the stop string without naming it: the turn ends "eos" inside an open search
    turns = [("<search>skies", "eos", None), ("<answer>Blue.</answer>", "stop", "</answer>")]
    (t,) = run_agent([_question()], Scripted(tok, turns), config, retriever=_bm25(), tokenizer=tok)
    assert t.searches == ["skies"]
    first, info = t.segments[0], t.segments[1]
    assert first.token_ids == tok("<search>skies", add_special_tokens=False)["input_ids"]
    assert info.kind == "information" and info.text.startswith("</search>")  # inserted: loss mask 0


def test_a_turn_that_ends_without_search_or_answer_is_told_to_answer_once_with_answer_on_stop(hf_generator):
    tok = hf_generator.tokenizer
    thought = ("<think>They like skies.</think>", "eos", None)
    (t,) = run_agent(
        [_question()], Scripted(tok, [thought]), AgentConfig(prefill=None), retriever=_bm25(), tokenizer=tok
    )
    assert t.ended == "no_answer" and t.answer == ""  # the default: the episode ends there
    config = AgentConfig(prefill=None, answer_on_stop=True)
    turns = [thought, ("Paint them blue.</answer>", "stop", "</answer>")]
    (t,) = run_agent([_question()], Scripted(tok, turns), config, retriever=_bm25(), tokenizer=tok)
    assert t.ended == "answer" and t.answer == "Paint them blue." and t.searches == []
    assert t.segments[1].kind == "information" and t.segments[1].text.endswith("<answer>")
    unforced = replace(config, force_answer=False)  # else the opened <answer> takes whatever comes next
    (t,) = run_agent([_question()], Scripted(tok, [thought, thought]), unforced, retriever=_bm25(), tokenizer=tok)
    assert t.ended == "no_answer" and "You ended your turn" in t.segments[1].text  # told once, then it ends


def _bm25():
    from pr2.retrieval import load_retriever

    return load_retriever("bm25")


def test_last_search_opens_the_answer_when_force_answer(hf_generator, minilm):
    config = AgentConfig(max_searches=2, prefill=None, max_model_len=4000)
    (t,) = run_agent([_question()], ScriptedPolicy(hf_generator.tokenizer, obey=False), config, retriever=minilm)
    assert t.ended == "answer" and t.answer == "Fine." and len(t.searches) == 2
    assert t.segments[3].kind == "information" and t.segments[3].text.endswith("<answer>")
    assert t.loss_mask[-len(t.segments[-1].token_ids) :] == [1] * len(t.segments[-1].token_ids)


class SplitTagPolicy:
    """Runs out of turn tokens inside "</search>"; the next turn finishes the tag, then the row is padded (eos)."""

    model_name = "split-tag"

    def __init__(self, tokenizer):
        self.tokenizer, self.turns = tokenizer, 0

    def generate(self, prompts, params):
        self.turns += 1
        out = []
        for _ in prompts:
            if self.turns == 1:
                text, reason = "<search>stage fright</", "length"
            elif self.turns == 2:
                text, reason = "search>", "eos"
            else:
                text, reason = "<answer>Breathe.</answer>", "stop"
            ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
            if reason == "eos":
                ids = [*ids, self.tokenizer.eos_token_id]
            out.append(Completion(text, ids, [-0.5] * len(ids), reason, "</answer>" if reason == "stop" else None))
        return out


def test_a_stop_tag_split_across_turns_still_searches(hf_generator, minilm):
    tokenizer = hf_generator.tokenizer
    config = AgentConfig(max_searches=1, prefill=None, max_model_len=4000, force_answer=False)
    (t,) = run_agent([_question()], SplitTagPolicy(tokenizer), config, retriever=minilm, tokenizer=tokenizer)
    assert t.searches == ["stage fright"] and t.retrieved_ids and t.ended == "answer"
    second = t.segments[1]
    assert second.kind == "model" and second.text == "search>"
    assert tokenizer.eos_token_id not in second.token_ids  # the padding was never sampled: not trained on
    assert len(second.token_ids) == len(second.logprobs)
    assert t.segments[2].kind == "information"


@pytest.mark.slow  # two full runs of the real model
def test_batched_loop_at_temperature_zero_equals_one_question_at_a_time(hf_generator, minilm):
    """The invariant any faster engine must keep: batching changes the speed, never a trajectory (ids, masks,
    searches, answers, how each ended; log-probabilities up to float noise). Rows that stop at </search> after
    different numbers of tokens share each batched turn: what a padded batch would get wrong, if anything."""
    questions = sample_questions("test")[:2]
    config = AgentConfig(
        prefill=FORCED_SEARCH, max_model_len=440, max_turn_tokens=32, max_searches=1, temperature=0.0, batch_size=2
    )
    together = run_agent(questions, hf_generator, config, retriever=minilm)
    alone = run_agent(questions, hf_generator, replace(config, batch_size=1), retriever=minilm)
    first_turns = [len(t.segments[0].token_ids) for t in together]
    assert len(set(first_turns)) > 1 and any(t.searches for t in together), first_turns
    for a, b in zip(together, alone, strict=True):
        assert (a.question_id, a.completion_ids, a.loss_mask) == (b.question_id, b.completion_ids, b.loss_mask)
        assert (a.searches, a.retrieved_ids, a.answer, a.ended) == (b.searches, b.retrieved_ids, b.answer, b.ended)
        assert a.completion_logprobs == pytest.approx(b.completion_logprobs, abs=1e-3, nan_ok=True)


def test_answer_prefill_goes_in_wherever_the_answer_opens_and_is_never_trained_on(hf_generator):
    tok = hf_generator.tokenizer
    config = AgentConfig(max_searches=2, prefill=None, answer_prefill="About you:", force_answer=True)
    # the policy opens the answer itself: the turn stops at <answer>, the prefill is inserted, the answer goes on
    turns = [
        ("<search>skies</search>", "stop", "</search>"),
        ("<think>They paint.</think><answer>", "stop", "<answer>"),
        (" your skies want blue.</answer>", "stop", "</answer>"),
    ]
    policy = Scripted(tok, turns)
    seen = []
    inner = policy.generate
    policy.generate = lambda prompts, params: seen.append(params.stop) or inner(prompts, params)
    (t,) = run_agent([_question()], policy, config, retriever=_bm25(), tokenizer=tok)
    assert all("<answer>" in stop for stop in seen)
    assert t.ended == "answer" and t.answer == "About you: your skies want blue."
    prefill = t.segments[3]
    assert prefill.kind == "information" and prefill.text == "About you:"  # loss mask 0
    assert t.loss_mask == [0 if s.kind == "information" else 1 for s in t.segments for _ in s.token_ids]
    # the loop opens the answer (last search): the prefill follows the tag it inserts
    turns = [("<search>skies</search>", "stop", "</search>"), ("<search>paint</search>", "stop", "</search>")]
    turns.append((" blue skies.</answer>", "stop", "</answer>"))
    (t,) = run_agent([_question()], Scripted(tok, turns), config, retriever=_bm25(), tokenizer=tok)
    assert t.segments[3].text.endswith("<answer>About you:") and t.answer == "About you: blue skies."
    # without a prefill <answer> is no stop string: one turn may open and close its answer
    turns = [("<answer>Blue.</answer>", "stop", "</answer>")]
    policy = Scripted(tok, turns)
    seen.clear()
    inner = policy.generate
    policy.generate = lambda prompts, params: seen.append(params.stop) or inner(prompts, params)
    (t,) = run_agent([_question()], policy, replace(config, answer_prefill=None), retriever=_bm25(), tokenizer=tok)
    assert seen == [("</search>", "</answer>")] and t.answer == "Blue."


def test_a_tag_finished_by_the_next_turn_wins_over_a_later_stop_string(hf_generator):
    tok = hf_generator.tokenizer
    config = AgentConfig(max_searches=1, prefill=None, answer_prefill="About you:")
    turns = [  # the first turn runs out of tokens inside "</search>"; the next one finishes it, then opens the answer
        ("<search>skies</search", "length", None),
        (">\n<answer>", "stop", "<answer>"),
        (" blue.</answer>", "stop", "</answer>"),
    ]
    (t,) = run_agent([_question()], Scripted(tok, turns), config, retriever=_bm25(), tokenizer=tok)
    assert t.searches == ["skies"] and t.segments[1].text == ">"  # the turn is cut right after the tag
    assert t.segments[2].kind == "information" and t.segments[2].text.endswith("<answer>About you:")


def test_search_openings_begin_the_turns_after_results_as_the_policys_own_text(hf_generator):
    """A warm start proposing later searches: after search j's results the loop writes opening j, kept as model text
    (trained on) that the policy's next completion continues; a turn told to answer gets none."""
    tok = hf_generator.tokenizer
    config = AgentConfig(max_searches=2, prefill=None, force_answer=False)
    opening = "<think>I should check their sky.</think>\n<search>sky"
    turns = [
        ("<search>paint</search>", "stop", "</search>"),
        ("line</search>", "stop", "</search>"),  # continues the opened search: "skyline"
        ("<answer>Blue.</answer>", "stop", "</answer>"),
    ]
    (t,) = run_agent(
        [_question()], Scripted(tok, turns), config, retriever=_bm25(), tokenizer=tok,
        search_openings=[[opening, "never used: the last search's turn must answer"]],
    )  # fmt: skip
    assert t.searches == ["paint", "skyline"] and t.answer == "Blue."
    kinds = [(s.kind, s.text) for s in t.segments]
    assert kinds[2] == ("model", opening) and t.segments[2].logprobs is None  # not sampled: no logprob to trust
    assert kinds[1][0] == kinds[4][0] == "information" and "never used" not in t.text
    assert t.loss_mask.count(1) == sum(len(s.token_ids) for s in t.segments if s.kind == "model")
    (plain,) = run_agent([_question()], Scripted(tok, turns[::2]), config, retriever=_bm25(), tokenizer=tok)
    assert plain.searches == ["paint"] and all(s.text != opening for s in plain.segments)  # none given: unchanged


SEEDED_RUN = """
import json, sys
from dataclasses import replace
from pr2.agent import AgentConfig, run_agent
from pr2.data.schema import ProfileItem, Question
from pr2.generation import GeneratorConfig, load_generator
from pr2.retrieval import load_retriever

generator = load_generator(GeneratorConfig(model=sys.argv[1], backend="hf", device="cpu"))
questions = [
    Question(uid, q, "", [ProfileItem(f"p{j}", f"post {j} about {q}") for j in range(4)], [])
    for uid, q in [("u0", "How do I paint skies?"), ("u1", "Which tent should I buy?"), ("u0", "How do I paint skies?")]
]
config = AgentConfig(max_model_len=520, max_turn_tokens=12, temperature=1.0, top_p=0.9, seed=5, batch_size=3)
together = run_agent(questions, generator, config, retriever=load_retriever("bm25"))
alone = run_agent(questions, generator, replace(config, batch_size=1), retriever=load_retriever("bm25"))
print(json.dumps([[t.completion_ids for t in together], [t.completion_ids for t in alone]]))
"""


def test_a_seeded_run_writes_the_same_episodes_in_every_process(tiny_llama_dir, tmp_path):
    """`--seed` promises the same episodes on a rerun, and a resumed run redoes its batches: each episode's random
    stream is named by its question and which of its episodes it is (it was named by an object's id, which differs
    from process to process), so neither the process nor the batch an episode falls in changes what it draws."""
    import json
    import os
    import subprocess
    import sys

    script = tmp_path / "seeded_run.py"
    script.write_text(SEEDED_RUN)
    runs = []
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed, "HF_HUB_OFFLINE": "1"}
        out = subprocess.run(
            [sys.executable, str(script), str(tiny_llama_dir)], env=env, capture_output=True, text=True, check=True
        )
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    assert runs[0] == runs[1]
    together, alone = runs[0]
    assert together == alone
    assert together[0] != together[2]  # the same question twice in a run: two episodes, two streams
