"""r_np: the reference answer without the profile, in the form of the policy's answers."""

import json

from pr2.generation.base import Completion
from pr2.train.baseline import nonpersonalized_rewards
from tests.train.conftest import FactJudge, fact_task


class Recorder:
    """Answers every prompt with `text` and keeps the prompts."""

    model_name = "recorder"

    def __init__(self, tokenizer, text: str):
        self.tokenizer, self.text, self.prompts = tokenizer, text, []

    def generate(self, prompts, params):
        self.prompts.extend(prompts)
        return [Completion(self.text, None, None, "stop", None) for _ in prompts]


def test_r_np_answers_start_with_the_agents_answer_prefill_and_the_cache_knows_it(tmp_path, hf_generator):
    questions = fact_task()
    path = tmp_path / "r_np.json"
    gen = Recorder(hf_generator.tokenizer, " nothing I know of.")
    r_np = nonpersonalized_rewards(questions, gen, FactJudge(), path, key={"model": "m"}, answer_prefill="About you:")
    assert set(r_np) == {q.id for q in questions} and set(r_np.values()) == {0.0}
    assert len(gen.prompts) == len(questions)
    assert all(isinstance(p, str) and p.endswith("assistant\nAbout you:") for p in gen.prompts)
    assert json.loads(path.read_text())["key"] == {"model": "m", "answer_prefill": "About you:"}
    # the same model asked plainly is another reference: recomputed, not read from the prefilled cache
    plain = Recorder(hf_generator.tokenizer, questions[0].rubric_aspects[0].evidence)  # states the fact word
    r_np = nonpersonalized_rewards(questions, plain, FactJudge(), path, key={"model": "m"})
    assert len(plain.prompts) == len(questions) and all(isinstance(p, list) for p in plain.prompts)
    assert r_np[questions[0].id] > 0
