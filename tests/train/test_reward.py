"""The reward columns TRL computes per completion: judged reward, r_np, the generated benchmark's evidence bonus and
its attack tests (what earns the bonus is finding the user's evidence posts, nothing an answer can write)."""

import pytest

from pr2.agent import AgentConfig, run_agent
from pr2.data.schema import Aspect, ProfileItem, Question
from pr2.errors import PR2Error
from pr2.generation.base import Completion
from pr2.judge import JudgeConfig, build_judge
from pr2.retrieval.index import ProfileIndex
from pr2.train.reward import evidence_share, evidence_targets, reward_columns


def reward_functions(*args, **kwargs) -> dict:
    """The reward columns by name."""
    return {c.name: c.func for c in reward_columns(*args, **kwargs)}


QUESTION = Question(
    "u1",
    "What should I cook tonight?",
    "",
    [ProfileItem("p1", "Three years on a halal diet."), ProfileItem("p2", "What should I cook when tired?")],
    [Aspect("Fits their diet", "", "halal", extra={"fact": {"phrases": ["halal"], "post": "p1", "facet": "diet"}})],
)


def columns(questions, bonus: float, answers, retrieved, qid="u1"):
    cols = reward_columns(questions, build_judge(JudgeConfig(mode="fact")), {qid: 0.25}, bonus)
    assert {c.name: c.weight for c in cols if c.weight} == {"personalized": 1.0}  # the only column optimised
    funcs = [c.func for c in cols]
    n = len(answers)
    kwargs = {
        "prompts": [None] * n,
        "completions": [None] * n,
        "answer": answers,
        "question_id": [qid] * n,
        "searches": [len(r) for r in retrieved],
        "ended": ["answer"] * n,
        "retrieved": retrieved,
    }
    return [f(**kwargs) for f in funcs]


def test_without_a_bonus_the_reward_is_the_judges():
    personalized, r_np, _, _, judged, evidence, finding = columns(
        {"u1": QUESTION}, 0.0, ["Cook a halal stew.", "Cook pasta."], [[["p1"]], [["p2"]]]
    )
    assert personalized == judged == [1.0, 0.0] and r_np == [0.25, 0.25]
    assert evidence == [1.0, 0.0] and finding == [1.0, 0.0]  # logged either way


def test_the_evidence_bonus_pays_for_retrieving_evidence_posts_only():
    personalized, *_, judged, evidence, finding = columns(
        {"u1": QUESTION}, 0.5, ["Cook a halal stew.", "Cook a halal stew.", "Pasta."], [[["p2"], ["p1"]], [["p2"]], []]
    )
    assert judged == [1.0, 1.0, 0.0]  # logged apart: what the judge gave
    assert personalized == [1.5, 1.0, 0.0] and evidence == [1.0, 0.0, 0.0] and finding == [0.5, 0.0, 0.0]


def test_an_episode_that_never_answers_earns_no_bonus_when_the_bonus_needs_an_answer():
    """The gaming the centred estimator found: search to the limit, find the evidence, never answer."""
    funcs = reward_functions({"u1": QUESTION}, build_judge(JudgeConfig(mode="fact")), {}, 0.5, needs_answer=True)
    kwargs = {"prompts": [None] * 2, "completions": [None] * 2, "question_id": ["u1"] * 2}
    rewards = funcs["personalized"](
        **kwargs, answer=["", "Pasta."], retrieved=[[["p1"]], [["p1"]]], ended=["search_limit", "answer"]
    )
    assert rewards == [0.0, 0.5]  # the same search: paid only where the episode answered
    unconditioned = reward_functions({"u1": QUESTION}, build_judge(JudgeConfig(mode="fact")), {}, 0.5)
    assert unconditioned["personalized"](
        **kwargs, answer=["", "Pasta."], retrieved=[[["p1"]], [["p1"]]], ended=["search_limit", "answer"]
    ) == [0.5, 0.5]


def test_the_evidence_bonus_refuses_data_without_evidence_posts():
    plain = Question("u2", "Q?", "", [ProfileItem("p1", "x")], [Aspect("Fits", "", "")])
    with pytest.raises(PR2Error, match="evidence_bonus needs questions"):
        reward_functions({"u2": plain}, build_judge(JudgeConfig(mode="fact")), {}, 0.5)


class Echo:
    """A policy that searches with `query(question)` until told to answer, then writes `answer(question)`."""

    model_name = "attack"

    def __init__(self, query, answer):
        self.query, self.answer = query, answer

    def generate(self, prompts, params):
        out = []
        for p in prompts:
            question = p.split("<|im_start|>user\n")[-1].split("<|im_end|>")[0] if isinstance(p, str) else ""
            text = (
                f"{self.answer(question, p)}</answer>"
                if p.rstrip().endswith("<answer>")
                else f"<search>{self.query(question)}</search>"
            )
            out.append(Completion(text, None, None, "stop", text[-9:] if text.endswith("</search>") else "</answer>"))
        return out


@pytest.mark.slow
def test_attacks_earn_neither_the_bonus_nor_the_judge(hf_generator, minilm_retriever, default_synth):
    """Echoing the question (as searches and as the answer), copying the posts such searches retrieve, or listing
    every training value: on held-out users of the default benchmark none earns any of the evidence bonus or of the
    judge (copying the shown posts states values, but only pasted from the posts that hold them)."""
    splits = default_synth
    heldout = (splits["validation"] + splits["test"])[:24]
    values = sorted({p for q in splits["train"] for a in q.rubric_aspects for p in a.extra["fact"]["phrases"]})

    def copied(question, prompt):  # every post it was shown, word for word
        return " ".join(line[4:] for line in prompt.splitlines() if line.startswith("[") and "] " in line[:5])

    attacks = {
        "question echoed": Echo(lambda q: q, lambda q, p: q),
        "on-theme posts copied": Echo(lambda q: q, copied),
        "every training value": Echo(lambda q: q, lambda q, p: " ".join(values)),
    }
    config = AgentConfig(prefill=None, example_turn=False, max_searches=3, force_answer=True, max_model_len=4000)
    by_id = {q.id: q for q in heldout}
    targets = evidence_targets(heldout, minilm_retriever, config.top_k * config.max_searches)
    funcs = reward_functions(by_id, build_judge(JudgeConfig(mode="fact")), {}, 0.5, targets)
    indexes = {q.id: ProfileIndex(q.profile, minilm_retriever) for q in heldout}  # each profile encoded once
    for name, policy in attacks.items():
        trajectories = run_agent(
            heldout, policy, config, tokenizer=hf_generator.tokenizer, index_for=lambda q: indexes[q.id]
        )
        assert all(t.ended == "answer" and len(t.searches) == 3 for t in trajectories), name
        n = len(trajectories)
        personalized = funcs["personalized"](
            prompts=[None] * n, completions=[None] * n, answer=[t.answer for t in trajectories],
            question_id=[t.question_id for t in trajectories], retrieved=[t.retrieved_ids for t in trajectories],
        )  # fmt: skip
        judged = funcs["judged"](
            prompts=[None] * n, completions=[None] * n, answer=[t.answer for t in trajectories],
            question_id=[t.question_id for t in trajectories],
        )  # fmt: skip
        bonus = (sum(personalized) - sum(judged)) / n
        assert bonus == 0.0, (name, bonus)  # the shaping term: none of it, for any of them
        assert sum(judged) == 0.0, (name, sum(judged) / n)


@pytest.mark.slow
def test_facet_searches_earn_the_bonus_on_the_same_users(minilm_retriever, default_synth):
    """The counterpart of the attacks: searching each facet's own words finds the evidence the question misses."""
    from pr2.data.synth import FACETS

    heldout = default_synth["test"][:24]
    config = AgentConfig(prefill=None, example_turn=False, max_searches=3)
    targets = evidence_targets(heldout, minilm_retriever, config.top_k * config.max_searches)
    assert sum(map(len, targets.values())) >= len(heldout)  # most evidence is beyond the question's reach
    shares = []
    for q in heldout:
        queries = [next(f.query for f in FACETS if f.name == a.extra["fact"]["facet"]) for a in q.rubric_aspects]
        (scores,) = [minilm_retriever.score_many(queries, [[p.text for p in q.profile]] * len(queries))]
        retrieved = [[q.profile[i].id for i in sorted(range(len(s)), key=lambda i: -s[i])[:3]] for s in scores]
        if targets[q.id]:
            shares.append(evidence_share(q, retrieved, targets[q.id]))
    assert sum(shares) / len(shares) >= 0.8


@pytest.mark.slow
def test_a_search_that_knows_nothing_earns_the_bonus_only_above_chance(minilm_retriever, default_synth):
    """Fixed queries that name no facet (the laptop policy's own "a short query") rank a profile as if at random: the
    plain bonus pays them about what 9 random posts find, the above-chance bonus about nothing, while facet searches
    keep most of theirs. The question's own words find no target and cost nothing; an episode that leaves the
    question unanswered is paid nothing but still bears what it lost to chance."""
    from pr2.data.synth import FACETS
    from pr2.train.reward import question_reach

    heldout = (default_synth["validation"] + default_synth["test"])[:24]
    by_id = {q.id: q for q in heldout}
    reach = question_reach(heldout, minilm_retriever, 9)
    targets = evidence_targets(heldout, minilm_retriever, 9, reach)
    judge = build_judge(JudgeConfig(mode="fact"))
    plain = reward_functions(by_id, judge, {}, 1.0, targets)["personalized"]
    above = reward_functions(by_id, judge, {}, 1.0, targets, above_chance=True, reach=reach)["personalized"]
    above_if_answered = reward_functions(
        by_id, judge, {}, 1.0, targets, above_chance=True, reach=reach, needs_answer=True
    )["personalized"]

    def shown(queries_for) -> list[list[list[str]]]:  # per user, 3 posts a search, never a post twice (as the agent)
        queries = [(q, query) for q in heldout for query in queries_for(q)]
        scores = minilm_retriever.score_many([x for _, x in queries], [[p.text for p in q.profile] for q, _ in queries])
        out: dict[str, list[list[str]]] = {q.id: [] for q in heldout}
        for (q, _), s in zip(queries, scores, strict=True):
            seen = {i for ids in out[q.id] for i in ids}
            order = [q.profile[i].id for i in sorted(range(len(s)), key=lambda i: -s[i])]
            out[q.id].append([i for i in order if i not in seen][:3])
        return list(out.values())

    def bonuses(func, retrieved, ended="answer") -> list[float]:
        n = len(heldout)
        return func(prompts=[None] * n, completions=[None] * n, answer=[""] * n, question_id=list(by_id),
                    retrieved=retrieved, ended=[ended] * n)  # fmt: skip  # no answer text: all of it is the bonus

    def bonus(func, retrieved) -> float:
        return sum(bonuses(func, retrieved)) / len(heldout)

    for fixed in ("a short query", "information", "tell me more about it"):
        knows_nothing = shown(lambda q, fixed=fixed: [fixed] * 3)
        assert bonus(plain, knows_nothing) >= 0.05, fixed  # the hole: chance pays
        assert bonus(above, knows_nothing) <= 0.05, fixed  # above chance: nothing (a query drawn to the other posts
        # than the facets', as "a short query" is, sits below chance: -0.16)
        unanswered = bonuses(above_if_answered, knows_nothing, ended="search_limit")
        assert unanswered == [min(b, 0.0) for b in bonuses(above, knows_nothing)], fixed
        assert min(unanswered) < 0, fixed  # the penalty stays where the question is left unanswered
    echoed = shown(lambda q: [q.question] * 3)
    assert bonus(above, echoed) == 0.0  # the question's own reach: no target, no cost
    facets = shown(
        lambda q: [next(f.query for f in FACETS if f.name == a.extra["fact"]["facet"]) for a in q.rubric_aspects][:3]
    )
    assert bonus(above, facets) >= 0.4  # 0.67 (0.87 plain)


def test_the_judged_column_does_not_depend_on_the_order_trl_calls_the_columns():
    """Each column asked on its own, judged column first, still gives the judge's part: nothing relies on the
    personalized reward having been computed before it."""
    funcs = reward_functions({"u1": QUESTION}, build_judge(JudgeConfig(mode="fact")), {}, 0.5)
    kwargs = {"prompts": [None] * 2, "completions": [None] * 2, "question_id": ["u1"] * 2,
              "answer": ["Cook a halal stew.", "Pasta."], "retrieved": [[["p1"]], [["p2"]]], "ended": ["answer"] * 2}  # fmt: skip
    assert funcs["judged"](**kwargs) == [1.0, 0.0]
    assert funcs["personalized"](**kwargs) == [1.5, 0.0]
    other = {**kwargs, "answer": ["Pasta.", "Cook a halal stew."]}
    assert funcs["judged"](**other) == [0.0, 1.0]  # a new batch is judged anew, not read from the last
    assert funcs["judged"](**other) == [0.0, 1.0]  # and asked twice, the same
