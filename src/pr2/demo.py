"""`pr2 demo`: PR² trained on a laptop CPU, against its baselines, on users it never saw; offline, in minutes.

The data is the generated benchmark (`pr2 synth`, 300 users, seed 0: the one `configs/laptop.yaml` trains on), its
held-out test users, whose facts (values) no training user has; each answer must state facts that sit in posts the
question's own words do not find. Policy: SmolLM2-135M-Instruct; search: MiniLM. Five rows on equal terms (greedy
decoding, the same answer-token budget, every prompt inside the same context budget): no personalization, RAG (the
top posts for the question), PR² untrained (the base model, shown the worked example), PR² trained (the adapter
shipped in the package, trained by `pr2 train --config configs/laptop.yaml`) and the base model shown each aspect's
evidence posts (RAG with a perfect search; no ceiling: SmolLM2-135M rarely states what it is handed, and most of its
answers run to the token budget). Scored by this benchmark's fact judge with a 95%
bootstrap interval over questions, the embedding proxy beside it; never LaMP-QA scores.
"""

from __future__ import annotations

import datetime
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from pr2.agent import AgentConfig
from pr2.agent.run import run_agent_file
from pr2.agent.summary import RunSummary
from pr2.baselines import BaselineConfig, run_baseline_file
from pr2.data.fingerprint import model_identity, text_digest
from pr2.data.io import write_json_atomic
from pr2.data.schema import Question
from pr2.data.synth import SynthConfig, generate
from pr2.generation import GeneratorConfig, load_generator
from pr2.judge import JudgeConfig, build_judge
from pr2.judge.evaluate import score_and_write
from pr2.judge.fact import PASTED
from pr2.retrieval import load_retriever
from pr2.train.reward import evidence_posts

ASSETS = Path(__file__).parent / "assets" / "laptop"
"""What `configs/laptop.yaml` trained, shipped: adapter/, metrics.jsonl, the curves, heldout.json."""
BENCHMARK = SynthConfig(users=300, seed=0)
DTYPE = "auto"
"""Every row runs in bf16 where the CPU has it (as the policy was trained), else fp32."""


def _trained_agent() -> AgentConfig:
    """The agent loop the shipped adapter was trained with (its saved config), decoded greedily."""
    saved = json.loads((ASSETS / "train-config.json").read_text(encoding="utf-8"))
    return AgentConfig(**{**saved["agent"], "temperature": 0.0, "top_p": 1.0, "seed": 0})


TRAINED_AGENT = _trained_agent()
# The untrained model also gets the worked example it needs (its prompt is longer: endings by length are shown).
UNTRAINED_AGENT = replace(TRAINED_AGENT, example_turn=True)
# The baselines answer in one turn with the budget of one agent turn, greedily, inside the same context budget, and
# start their answers as the agent's do (its answer prefill): the rows differ in what they read, not in the form.
RAG = BaselineConfig(
    method="rag", top_k=3, max_tokens=TRAINED_AGENT.max_turn_tokens, item_tokens=TRAINED_AGENT.item_tokens,
    retriever="minilm", temperature=0.0, answer_prefill=TRAINED_AGENT.answer_prefill,
)  # fmt: skip
NO_PROFILE = replace(RAG, method="none")
ORACLE = replace(RAG, top_k=5)  # on a profile of the evidence posts only (at most 5 aspects)


@dataclass
class Row:
    name: str
    fact: object  # ScoreReport
    proxy: object  # ScoreReport
    summary: RunSummary | None = None
    evidence: float | None = None
    """Share of the questions' evidence posts that the row's searches (or prompt) retrieved."""
    by_length: int = 0
    """Episodes (or answers) that ended at the token budget."""

    def record(self) -> dict:
        low, high = self.fact.interval()
        out = {
            "fact": self.fact.micro, "fact_interval": [low, high], "proxy": self.proxy.micro,
            "evidence_retrieved": self.evidence, "ended_by_length": self.by_length,
            "per_question": {r["id"]: r["score"] for r in self.fact.per_question},
        }  # fmt: skip
        if self.summary is not None:
            out["summary"] = self.summary.to_record()
        return out


def oracle_questions(questions: list[Question]) -> list[Question]:
    """Each question with a profile of its evidence posts only: what a perfect search would put in front of the
    answer stage."""
    out = []
    for q in questions:
        wanted = evidence_posts(q)
        out.append(replace(q, profile=[p for p in q.profile if p.id in wanted]))
    return out


def retrieved_by_question(trajectories) -> dict[str, list[str]]:
    """Every post id each trajectory's searches brought in, by question (what `evidence_found` reads)."""
    return {t.question_id: [i for ids in t.retrieved_ids for i in ids] for t in trajectories}


def evidence_found(questions: list[Question], retrieved: dict[str, list[str]]) -> float:
    wanted = [(q.id, e) for q in questions for e in evidence_posts(q)]
    return sum(e in set(retrieved.get(qid, ())) for qid, e in wanted) / max(1, len(wanted))


def heldout_questions(limit: int | None):
    """The benchmark's test users, taken in turn from each topic so that a short demo covers all of them."""
    test = generate(BENCHMARK)["test"]
    by_topic: dict[str, list] = {}
    for q in test:
        by_topic.setdefault(q.question, []).append(q)
    picked, queues = [], list(by_topic.values())
    while any(queues) and (limit is None or len(picked) < limit):
        for queue in queues:
            if queue and (limit is None or len(picked) < limit):
                picked.append(queue.pop(0))
    return picked


def _cell(report) -> str:
    low, high = report.interval()
    return f"{report.micro:.3f} [{low:.3f}, {high:.3f}]"


TABLE_HEAD = (
    "| method | fact score [95% CI] | proxy | evidence retrieved | searched | searches/trajectory | answered | "
    "ended by length |\n|---|---|---|---|---|---|---|---|"
)


def table_line(name: str, fact: float, interval, proxy: float, evidence, summary: dict | None, by_length: int) -> str:
    """One row of the demo's table, from numbers alone (so a shipped table can be recomputed from its files)."""
    low, high = interval
    agent = (
        f"{summary['searched']:.0%} | {summary['searches_per_trajectory']:.2f} | {summary['answered']:.0%}"
        if summary
        else "- | - | -"
    )
    found = "-" if evidence is None else f"{evidence:.0%}"
    return f"| {name} | {fact:.3f} [{low:.3f}, {high:.3f}] | {proxy:.3f} | {found} | {agent} | {by_length} |"


def record_line(name: str, record: dict) -> str:
    """The table's line for a row's record (`Row.record()`, a shipped heldout.json row, a `pr2 heldout` row)."""
    return table_line(
        name, record["fact"], record["fact_interval"], record["proxy"], record["evidence_retrieved"],
        record.get("summary"), record["ended_by_length"],
    )  # fmt: skip


def table(rows: list[Row]) -> str:
    return "\n".join([TABLE_HEAD, *(record_line(r.name, r.record()) for r in rows)])


def results_table(shipped: Path | None = None) -> str:
    """The shipped held-out table with its ablation rows (`pr2 heldout` rows added by scripts/ship_laptop.py), as
    README.md and docs/laptop.md show it: every number from the shipped file."""
    record = json.loads((shipped or ASSETS / "heldout.json").read_text(encoding="utf-8"))
    rows = [*record["rows"].items(), *record.get("ablations", {}).items()]
    return "\n".join([TABLE_HEAD, *(record_line(name, row) for name, row in rows)])


def _shown(trajectories, questions, fact_report):
    """A trajectory that searched at least twice and answered, preferring one whose answer states a fact."""
    scored = {row["id"]: row["score"] or 0 for row in fact_report.per_question}
    fits = [t for t in trajectories if len(t.searches) >= 2 and t.ended == "answer" and t.answer]
    return max(fits, key=lambda t: (scored.get(t.question_id, 0), -len(t.completion_ids)), default=None)


def run_demo(
    output_dir: str | Path,
    *,
    limit: int | None = 9,
    adapter: str | Path | None = None,
    echo: Callable[[str], None] = print,
    progress: bool = True,
) -> dict:
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # the loading bars of every model would bury the demo's own
    started = time.perf_counter()
    out = Path(output_dir)
    adapter = Path(adapter) if adapter else ASSETS / "adapter"
    questions = heldout_questions(limit)
    echo(
        f"pr2 demo: {len(questions)} held-out users of the generated benchmark (pr2 synth --users "
        f"{BENCHMARK.users} --seed {BENCHMARK.seed}), policy SmolLM2-135M-Instruct, search MiniLM, greedy, "
        f"{TRAINED_AGENT.max_turn_tokens} answer tokens and {TRAINED_AGENT.max_model_len} in all for every row; "
        "scores: this benchmark's FACT judge (not LaMP-QA), embedding PROXY beside it"
    )
    out.mkdir(parents=True, exist_ok=True)
    from pr2.data.io import write_questions

    write_questions(out / "questions.jsonl", questions)  # `pr2 view` shows the questions and posts from it
    retriever = load_retriever("minilm")
    fact = build_judge(JudgeConfig(mode="fact"))
    proxy = build_judge(JudgeConfig(mode="embedding", cache_path=str(out / "judge-cache.jsonl")))

    def judged(name: str, folder: str, answers: dict[str, str], **extra) -> Row:
        f = score_and_write(questions, answers, out / folder / "scores.json", fact)
        p = score_and_write(questions, answers, out / folder / "scores.proxy.json", proxy)
        return Row(name, f, p, **extra)

    def fresh(adapter_of, data=questions) -> dict:  # the fingerprint says what made each folder
        policy = model_identity("smollm2", "hf", None, adapter_of)
        return {"fingerprint": {"policy": policy, "dtype": DTYPE, "data": [q.id for q in data]}}

    base = load_generator(GeneratorConfig(model="smollm2", dtype=DTYPE))
    rows = []
    for name, config, data in (
        ("no personalization", NO_PROFILE, questions),
        ("RAG", RAG, questions),
        ("base model shown the evidence posts", ORACLE, oracle_questions(questions)),
    ):
        folder = "oracle" if data is not questions else config.method
        outputs, _ = reuse_or_redo(
            run_baseline_file, data, out / folder, base, config, retriever=retriever, progress=progress, desc=name,
            **fresh(None, data),
        )  # fmt: skip
        evidence = (
            None if config.method == "none" else evidence_found(questions, {o.id: o.context_ids for o in outputs})
        )
        by_length = sum(o.ended == "length" for o in outputs)
        rows.append(judged(name, folder, {o.id: o.answer for o in outputs}, evidence=evidence, by_length=by_length))
    trained = load_generator(GeneratorConfig(model="smollm2", adapter=str(adapter), dtype=DTYPE))
    for name, folder, generator, config, adapter_of in (
        ("PR² untrained", "pr2-untrained", base, UNTRAINED_AGENT, None),
        ("PR² trained", "pr2-trained", trained, TRAINED_AGENT, adapter),
    ):
        result = reuse_or_redo(
            run_agent_file, questions, out / folder, generator, config, retriever=retriever, progress=progress,
            desc=name, **fresh(adapter_of),
        )  # fmt: skip
        ts = result.trajectories
        rows.append(
            judged(
                name,
                folder,
                {t.question_id: t.answer for t in ts},
                summary=result.summary,
                evidence=evidence_found(questions, retrieved_by_question(ts)),
                by_length=result.summary.ended.get("length", 0),
            )
        )
    rows = [rows[0], rows[1], rows[3], rows[4], rows[2]]  # the evidence-shown row last
    text = table(rows)
    echo("")
    echo(text)
    shipped = ASSETS / "heldout.json"
    if limit is not None and shipped.exists():
        full = json.loads(shipped.read_text(encoding="utf-8"))
        echo("")
        echo(f"The same rows on all {full['users']} held-out users, shipped with the adapter ({full['command']}):")
        echo(full["table"])
    shown = _shown(ts, questions, rows[3].fact)  # PR² trained
    echo("")
    if shown is None:
        echo("No trained trajectory here searched twice and answered; see pr2-trained/trajectories.jsonl.")
    else:
        q = next(x for x in questions if x.id == shown.question_id)
        details = next(r["details"] for r in rows[3].fact.per_question if r["id"] == q.id)
        found = [d["aspect"] for d in details if d["score"]]  # the judge's verdict: a pasted value is not stated
        pasted = [d["aspect"] for d in details if not d["score"] and PASTED in d.get("rationale", "")]
        echo(
            f"One trained trajectory ({shown.question_id}: {len(shown.searches)} searches, facts stated: {found}"
            + (f", pasted from their posts, unscored: {pasted}" if pasted else "")
            + "):"
        )
        echo(f"QUESTION: {q.question}")
        echo(((TRAINED_AGENT.prefill or "") + shown.text).strip())
    echo("")
    echo(
        "Training curves of the shipped adapter: "
        f"{ASSETS / 'reward.png'}, {ASSETS / 'searches.png'}, {ASSETS / 'evidence.png'} (from "
        f"{ASSETS / 'metrics.jsonl'}); retrain with: pr2 synth --output data/synth --users 300 --seed 0 && "
        "pr2 train --config configs/laptop.yaml"
    )
    echo(f"files: {out}")
    seconds = time.perf_counter() - started
    record = heldout_record(rows, questions, adapter)
    record["command"] = f"pr2 demo --limit {limit or 0}, {datetime.date.today()}, {seconds:.0f} s on a 2-core CPU"
    write_json_atomic(out / "heldout.json", record)  # what ships as assets/laptop/heldout.json after --limit 0
    echo(f"done in {seconds:.0f}s; view the runs: pr2 view {out}")
    return {"seconds": seconds, "rows": rows, "table": text, "shown": shown, "record": record}


def reuse_or_redo(run, *args, **kwargs):
    """A demo folder made the same way (policy, adapter, dtype, questions, settings: its fingerprint) is reused, as
    a killed run resumes; one made any other way is started over."""
    from pr2.errors import PR2Error

    try:
        return run(*args, overwrite=False, **kwargs)
    except PR2Error as err:
        if "made by a different run" not in str(err):
            raise
        return run(*args, overwrite=True, **kwargs)


def heldout_record(rows: list[Row], questions: list[Question], adapter: Path) -> dict:
    """Everything the table says, with what it was computed from: per-question fact scores per row, the digest of
    the held-out questions, the adapter's digest (so a test recomputes the table and ties it to its inputs)."""
    data = json.dumps([q.to_record() for q in questions], sort_keys=True, ensure_ascii=False)
    return {
        "users": len(questions),
        "benchmark": {"users": BENCHMARK.users, "seed": BENCHMARK.seed, "split": "test"},
        "data_digest": text_digest(data),
        "judge": build_judge(JudgeConfig(mode="fact")).describe(),  # a table judged by an older checker is stale
        "adapter": model_identity("smollm2", "hf", None, adapter).get("adapter_digest"),
        "settings": {
            "dtype": DTYPE,
            "temperature": 0.0,
            "answer_tokens": TRAINED_AGENT.max_turn_tokens,
            "context_tokens": TRAINED_AGENT.max_model_len,
        },
        "table": table(rows),
        "rows": {r.name: r.record() for r in rows},
    }
