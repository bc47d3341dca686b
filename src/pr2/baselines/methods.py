"""Baselines in the LaMP-QA setting, answering in the same output format as the agent.

- none: the question alone.
- rag: the top-k posts of the user's profile for the question (default 10, as in the LaMP-QA paper) in the prompt.
- planpers: a planner model first writes the aspects this user likely expects (from the question and the top-k
  posts); the answer is then generated with that plan and the same posts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

from pr2.data.schema import Question
from pr2.errors import PR2Error
from pr2.generation.base import Generator, SamplingParams, check_sampling
from pr2.retrieval import ProfileIndex, Retriever

METHODS = ("none", "rag", "planpers")


@dataclass
class BaselineConfig:
    """How a baseline answers."""

    method: str = "rag"
    """none, rag or planpers."""
    top_k: int = 10
    """Profile posts in the prompt (rag, planpers)."""
    retriever: str = "minilm"
    """Ranks the profile against the question: bm25, minilm, contriever, an encoder id/path, or `ranked` to take
    the profile order as given (a file from `pr2 rank`)."""
    item_tokens: int = 256
    """Each post is cut to this many tokens (characters/4 where no tokenizer is at hand)."""
    max_tokens: int = 512
    """Tokens of the answer (and of the plan)."""
    temperature: float = 0.1
    """Sampling temperature (LaMP-QA's baselines use 0.1)."""
    seed: int | None = 0
    batch_size: int = 16
    """Questions per generate call."""
    answer_prefill: str | None = None
    """pr2 protocol: text the answer starts with (the agent's `answer_prefill`, so that a baseline compared with a
    policy trained with it answers in the same form); part of the answer, never generated."""
    protocol: str = "pr2"
    """pr2 (the prompts above) or lamp-qa (the benchmark's baselines.py exactly: its prompts, read from its code,
    the first `num_contexts` posts in file order, its JSON answer and retries; none and rag only)."""
    lamp_qa_repo: str | None = None
    """A checkout of the LaMP-QA repository for `lamp-qa` (else $LAMP_QA_REPO, else a pinned download)."""
    num_contexts: int = 5
    """lamp-qa: posts in the RAG prompt, the first of the (ranked) profile (the benchmark's default 5; its paper 10)."""
    max_retries: int = 20
    """lamp-qa: rounds after which an answer that is not the expected JSON is left empty."""
    num_generated_outputs: int = 1
    """lamp-qa: answers per question."""

    def __post_init__(self) -> None:
        check_sampling(
            temperature=self.temperature, top_k=self.top_k, max_tokens=self.max_tokens, item_tokens=self.item_tokens,
            batch_size=self.batch_size, num_contexts=self.num_contexts,
            num_generated_outputs=self.num_generated_outputs,
        )  # fmt: skip


@dataclass
class BaselineOutput:
    id: str
    answer: str
    method: str
    context_ids: list[str] = field(default_factory=list)
    plan: str | None = None
    generations: list[dict] | None = None
    """lamp-qa: the benchmark's records for this id ({"prompt", "whole_output", "output", "log_prob"} each)."""
    ended: str | None = None
    """`answer`, or `length` when the answer ran into its token budget (pr2 protocol)."""

    def to_record(self) -> dict:
        return asdict(self)

    @classmethod
    def from_record(cls, record: dict) -> BaselineOutput:
        keys = ("id", "answer", "method", "context_ids", "plan", "generations", "ended")
        return cls(**{k: record[k] for k in keys if k in record})

    def responses_entries(self) -> list[dict]:
        """This id's entries in responses.json: the benchmark's records under lamp-qa, else the answer alone."""
        return self.generations if self.generations is not None else [{"output": self.answer}]


NONE_SYSTEM = "You are a helpful assistant. Answer the person's question."
PERSONAL_SYSTEM = (
    "You are a helpful assistant. Answer the person's question so that the answer fits them: use "
    "what their earlier posts tell you about their situation, constraints and preferences."
)
PLAN_PROMPT = (
    "Here are earlier posts by a person:\n{posts}\n\nThey now ask: {question}\n\nList, one per line, the "
    "aspects this particular person would expect a good answer to cover. Write only the list."
)
ANSWER_PROMPT = "Earlier posts by this person:\n{posts}\n\n{plan}Their question: {question}"


def _ended(completion) -> str:
    return "length" if completion.finish_reason == "length" else "answer"


def _posts(items, cut) -> str:
    return "\n".join(f"[{i}] {cut(item.text)}" for i, item in enumerate(items, start=1)) or "(none)"


def _top_items(q: Question, config: BaselineConfig, retriever: Retriever | None):
    if config.retriever == "ranked" or retriever is None:
        return q.profile[: config.top_k]
    return ProfileIndex(q.profile, retriever).search(q.question, config.top_k)


def run_baseline(
    questions: Sequence[Question],
    generator: Generator,
    config: BaselineConfig,
    *,
    retriever: Retriever | None = None,
    planner: Generator | None = None,
) -> list[BaselineOutput]:
    if config.method not in METHODS:
        raise PR2Error(f"unknown baseline method {config.method!r}; choose from {', '.join(METHODS)}")
    if config.protocol == "lamp-qa":
        if config.answer_prefill:
            raise PR2Error("--answer-prefill is pr2's own; --protocol lamp-qa sends the benchmark's requests exactly")
        return _lamp_qa(questions, generator, config)
    if config.protocol != "pr2":
        raise PR2Error(f"unknown baseline protocol {config.protocol!r}; choose pr2 or lamp-qa")
    tokenizer = getattr(generator, "tokenizer", None)

    def cut(text: str) -> str:
        if tokenizer is None:
            return text[: 4 * config.item_tokens]
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        return text if len(ids) <= config.item_tokens else tokenizer.decode(ids[: config.item_tokens]) + " …"

    params = SamplingParams(temperature=config.temperature, max_tokens=config.max_tokens, seed=config.seed)
    prefill = config.answer_prefill or ""

    def answer(conversations) -> list:
        """Completions of the conversations; with a prefill, the assistant turn starts with it."""
        if not prefill:
            return generator.generate(conversations, params)
        from pr2.generation.chat import chat_text, tokenizer_of

        tok = tokenizer_of(generator, "a baseline's answer prefill")
        return generator.generate([chat_text(tok, c) + prefill for c in conversations], params)

    if config.method == "none":
        prompts = [
            [{"role": "system", "content": NONE_SYSTEM}, {"role": "user", "content": q.question}] for q in questions
        ]
        return [
            BaselineOutput(q.id, (prefill + c.text).strip(), "none", ended=_ended(c))
            for q, c in zip(questions, answer(prompts), strict=True)
        ]
    if retriever is None and config.retriever != "ranked":
        from pr2.retrieval import load_retriever

        retriever = load_retriever(config.retriever)
    items = [_top_items(q, config, retriever) for q in questions]
    plans = [""] * len(questions)
    if config.method == "planpers":
        planner = planner or generator
        plan_prompts = [
            [{"role": "user", "content": PLAN_PROMPT.format(posts=_posts(it, cut), question=q.question)}]
            for q, it in zip(questions, items, strict=True)
        ]
        plans = [c.text.strip() for c in planner.generate(plan_prompts, params)]
    prompts = []
    for q, it, plan in zip(questions, items, plans, strict=True):
        plan_text = f"Aspects they expect the answer to cover:\n{plan}\n\n" if plan else ""
        content = ANSWER_PROMPT.format(posts=_posts(it, cut), plan=plan_text, question=q.question)
        prompts.append([{"role": "system", "content": PERSONAL_SYSTEM}, {"role": "user", "content": content}])
    completions = answer(prompts)
    return [
        BaselineOutput(
            q.id, (prefill + c.text).strip(), config.method, [i.id for i in it], plan or None, ended=_ended(c)
        )
        for q, it, plan, c in zip(questions, items, plans, completions, strict=True)
    ]


def _lamp_qa(questions: Sequence[Question], generator: Generator, config: BaselineConfig) -> list[BaselineOutput]:
    from pr2.baselines.lamp_qa import run_lamp_qa_baseline

    if config.method == "planpers":
        raise PR2Error("--protocol lamp-qa runs the benchmark's none and rag baselines; planpers is pr2's own")
    generations = run_lamp_qa_baseline(
        questions,
        generator,
        rag=config.method == "rag",
        num_contexts=config.num_contexts,
        temperature=config.temperature,
        max_retries=config.max_retries,
        num_generated_outputs=config.num_generated_outputs,
        repo=config.lamp_qa_repo,
    )
    contexts = config.num_contexts if config.method == "rag" else 0
    return [
        BaselineOutput(
            q.id,
            str(generations[q.id][0]["output"]),
            config.method,
            [p.id for p in q.profile[:contexts]],
            generations=generations[q.id],
        )
        for q in questions
    ]
