"""The reward columns TRL computes per completion: judged reward, r_np, and the optional grounding bonus."""

from pr2.data.schema import Aspect, ProfileItem, Question
from pr2.judge import JudgeConfig, build_judge
from pr2.train.reward import PERSONALIZED, REWARD_WEIGHTS, reward_functions

QUESTION = Question(
    "u1",
    "What should I cook tonight?",
    "",
    [ProfileItem("p1", "Three years on a halal diet.")],
    [Aspect("Fits their diet", "", "halal", extra={"fact": {"phrases": ["halal"], "post": "p1", "facet": "diet"}})],
)


def columns(bonus: float, answers, grounding):
    funcs = reward_functions({"u1": QUESTION}, build_judge(JudgeConfig(mode="fact")), {"u1": 0.25}, bonus)
    assert len(funcs) == len(REWARD_WEIGHTS) and REWARD_WEIGHTS[PERSONALIZED] == 1.0
    assert all(w == 0.0 for i, w in enumerate(REWARD_WEIGHTS) if i != PERSONALIZED)  # only the first is optimised
    n = len(answers)
    kwargs = {
        "prompts": [None] * n,
        "completions": [None] * n,
        "answer": answers,
        "question_id": ["u1"] * n,
        "searches": [1] * n,
        "ended": ["answer"] * n,
        "grounding": grounding,
    }
    return [f(**kwargs) for f in funcs]


def test_without_a_bonus_the_reward_is_the_judges():
    personalized, r_np, _, _, judged = columns(0.0, ["Cook a halal stew.", "Cook pasta."], [5, 20])
    assert personalized == judged == [1.0, 0.0] and r_np == [0.25, 0.25]


def test_the_grounding_bonus_adds_to_the_judged_reward_and_is_capped():
    personalized, _, _, _, judged = columns(0.1, ["Cook a halal stew.", "Cook pasta.", "Cook rice."], [5, 20, 0])
    assert judged == [1.0, 0.0, 0.0]  # logged apart: what the judge gave
    assert personalized == [1.05, 0.1, 0.0]
