"""The benchmark's no-personalization and RAG baselines exactly as its `baselines.py` runs them (`--protocol lamp-qa`).

The prompts are read at run time, with `ast`, from the benchmark's `data/formetters.py` (a checkout or the pinned,
hash-checked download; never copied here). What baselines.py does, and pr2 with it:
- RAG: a system message and a user message holding the texts of the first `num_contexts` posts of the profile in
  file order (rank it first: `pr2 rank`), joined by blank lines, then the question; no personalization: the short
  system message of `get_baseline_no_rag_formatter` and the question alone. A model whose chat template refuses
  the system role gets system + blank line + user as one user message.
- sampling: `--temperature` (0.0), top_p 0.95, max_tokens 4096; each question asked `num_generated_outputs` times.
- the answer is JSON (`str_to_json`: a leading/trailing "json" and every newline and fence removed, strict=False
  then json5), field `personalized_answer`; failures are asked again, and the temperature rises by 0.1 for each
  failing output while below 1 (as its loop does); after `max_retries` rounds a failure is answered "".
- output per id: [{"prompt", "whole_output", "output", "log_prob"}].
PlanPers (`planpers.py`) trains a planner first; pr2's `planpers` method is its own prompt, not the benchmark's.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

import json5

from pr2.data.benchmark_code import MAX_TOKENS, TOP_P, benchmark_file, module_strings
from pr2.data.schema import Question
from pr2.errors import PR2Error
from pr2.generation.base import Generator, SamplingParams
from pr2.generation.chat import chat_text

FORMATTERS = "data/formetters.py"


@dataclass(frozen=True)
class LampQABaselinePrompts:
    rag_system: str
    rag_user: str
    no_rag_system: str

    @classmethod
    @cache
    def load(cls, repo: str | None = None) -> LampQABaselinePrompts:
        path = benchmark_file(FORMATTERS, repo)
        texts = module_strings(path, ("_RAG_SYSTEM_PROMPT", "_RAG_USER_PROMPT"))
        return cls(texts["_RAG_SYSTEM_PROMPT"], texts["_RAG_USER_PROMPT"], _no_rag_system(path))

    def messages(self, question: Question, rag: bool, num_contexts: int) -> list[dict]:
        if not rag:
            return [{"role": "system", "content": self.no_rag_system}, {"role": "user", "content": question.question}]
        profile = "\n\n".join(p.text for p in question.profile[:num_contexts])
        user = self.rag_user.format(profile=profile, question=question.question)
        return [{"role": "system", "content": self.rag_system}, {"role": "user", "content": user}]


def _no_rag_system(path) -> str:
    """The system message written inline in get_baseline_no_rag_formatter (the dict with role "system")."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name == "get_baseline_no_rag_formatter":
            for d in ast.walk(node):
                if isinstance(d, ast.Dict):
                    fields = {
                        k.value: v.value
                        for k, v in zip(d.keys, d.values, strict=True)
                        if isinstance(k, ast.Constant) and isinstance(v, ast.Constant)
                    }
                    if fields.get("role") == "system" and isinstance(fields.get("content"), str):
                        return fields["content"]
    raise PR2Error(f"{path}: no system message in get_baseline_no_rag_formatter (is this the benchmark's file?)")


def str_to_json(text: str):
    """The benchmark's reading of a baseline's answer (utils/json_utils.py), or None where it raises."""
    if text.startswith("json"):
        text = text[len("json") :]
    if text.endswith("json"):
        text = text[: -len("json")]
    text = text.strip().replace("\n", "").replace("```json", "").replace("```", "")
    try:
        return json.loads(text, strict=False)
    except ValueError:
        pass
    try:
        return json5.loads(text)
    except ValueError:
        return None


def answer_of(obj) -> str | None:
    try:
        return obj["personalized_answer"]
    except (TypeError, KeyError, IndexError):
        return None


def _template(generator: Generator, messages: list[dict]):
    """What the benchmark's `prompt` field holds: the templated text (the conversation for an API model)."""
    tokenizer = getattr(generator, "tokenizer", None)
    return messages if tokenizer is None else chat_text(tokenizer, messages)


def run_lamp_qa_baseline(
    questions: Sequence[Question],
    generator: Generator,
    *,
    rag: bool,
    num_contexts: int = 5,
    temperature: float = 0.0,
    max_retries: int = 20,
    num_generated_outputs: int = 1,
    repo: str | None = None,
) -> dict[str, list[dict]]:
    """{question id: [{"prompt", "whole_output", "output", "log_prob"}] * num_generated_outputs}."""
    prompts = LampQABaselinePrompts.load(repo)
    ids = [q.id for q in questions for _ in range(num_generated_outputs)]
    by_id = {q.id: q for q in questions}
    pending = [(qid, prompts.messages(by_id[qid], rag, num_contexts)) for qid in ids]
    outputs: dict[str, list[dict]] = {q.id: [] for q in questions}
    retries = 0
    while pending:
        retries += 1
        params = SamplingParams(temperature=temperature, top_p=TOP_P, max_tokens=MAX_TOKENS, logprobs=True)
        completions = generator.generate([m for _, m in pending], params)
        wrongs = []
        for (qid, messages), c in zip(pending, completions, strict=True):
            obj = str_to_json(c.text)
            answer = answer_of(obj)
            if answer is not None:
                log_prob = sum(c.logprobs) if c.logprobs else None
                entry = {"prompt": _template(generator, messages), "whole_output": obj, "output": answer}
                outputs[qid].append({**entry, "log_prob": log_prob})
                continue
            if retries > max_retries:
                outputs[qid].append(
                    {"prompt": _template(generator, messages), "whole_output": "", "output": "", "log_prob": 0}
                )
                continue
            if temperature < 1:
                temperature += 0.1
            wrongs.append((qid, messages))
        pending = wrongs
    return outputs
