"""`pr2 demo`: PR² trained on a laptop CPU, against its baselines, on users it never saw; offline, in minutes.

The data is the generated benchmark (`pr2 synth`, 300 users, seed 0: the one `configs/laptop.yaml` trains on), its
held-out test users; each answer must state facts that sit in posts the question's own words do not find. Policy:
SmolLM2-135M-Instruct; search: MiniLM. Four rows: no personalization, RAG (the top posts for the question), PR²
untrained (the base model, shown the worked example) and PR² trained (the adapter shipped in the package, trained
by `pr2 train --config configs/laptop.yaml`). Scored by this benchmark's fact judge with a 95% bootstrap interval
over questions, the embedding proxy beside it; never LaMP-QA scores.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from pr2.agent import AgentConfig
from pr2.agent.run import run_agent_file
from pr2.agent.summary import RunSummary
from pr2.baselines import BaselineConfig, run_baseline_file
from pr2.data.fingerprint import model_identity
from pr2.data.synth import SynthConfig, generate
from pr2.generation import GeneratorConfig, load_generator
from pr2.judge import JudgeConfig, build_judge
from pr2.judge.evaluate import score_and_write
from pr2.judge.fact import states
from pr2.retrieval import load_retriever

ASSETS = Path(__file__).parent / "assets" / "laptop"
"""What `configs/laptop.yaml` trained, shipped: adapter/, metrics.jsonl, reward.png, searches.png, heldout.json."""


def _trained_agent() -> AgentConfig:
    """The agent loop the shipped adapter was trained with (its saved config), sampling as its rollouts did."""
    saved = json.loads((ASSETS / "train-config.json").read_text(encoding="utf-8"))
    sampling = {k: saved["trl"][k] for k in ("temperature", "top_p")}
    return AgentConfig(**{**saved["agent"], **sampling, "seed": 0})


TRAINED_AGENT = _trained_agent()
# The untrained model also gets the worked example it needs.
UNTRAINED_AGENT = replace(TRAINED_AGENT, example_turn=True)
RAG = BaselineConfig(method="rag", top_k=3, max_tokens=96, item_tokens=40, retriever="minilm", temperature=0.5)
NO_PROFILE = replace(RAG, method="none")


@dataclass
class Row:
    name: str
    fact: object  # ScoreReport
    proxy: object  # ScoreReport
    summary: RunSummary | None = None


def heldout_questions(limit: int | None):
    """The benchmark's test users, taken in turn from each topic so that a short demo covers all of them."""
    test = generate(SynthConfig(users=300, seed=0))["test"]
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


def table(rows: list[Row]) -> str:
    lines = [
        "| method | fact score [95% CI] | proxy | searched | searches/trajectory | answered |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        s = r.summary
        agent = f"{s.searched:.0%} | {s.searches_per_trajectory:.2f} | {s.answered:.0%}" if s else "- | - | -"
        lines.append(f"| {r.name} | {_cell(r.fact)} | {r.proxy.micro:.3f} | {agent} |")
    return "\n".join(lines)


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
) -> dict:
    started = time.perf_counter()
    out = Path(output_dir)
    adapter = Path(adapter) if adapter else ASSETS / "adapter"
    questions = heldout_questions(limit)
    echo(
        f"pr2 demo: {len(questions)} held-out users of the generated benchmark (pr2 synth --users 300 --seed 0), "
        "policy SmolLM2-135M-Instruct, search MiniLM; scores: this benchmark's FACT judge (not LaMP-QA), "
        "embedding PROXY beside it"
    )
    retriever = load_retriever("minilm")
    fact = build_judge(JudgeConfig(mode="fact"))
    proxy = build_judge(JudgeConfig(mode="embedding", cache_path=str(out / "judge-cache.jsonl")))

    def judged(name: str, folder: str, answers: dict[str, str], summary=None) -> Row:
        f = score_and_write(questions, answers, out / folder / "scores.json", fact)
        p = score_and_write(questions, answers, out / folder / "scores.proxy.json", proxy)
        return Row(name, f, p, summary)

    def fresh(adapter_of) -> dict:  # every demo starts its folders over; the fingerprint says what made them
        policy = model_identity("smollm2", "hf", None, adapter_of)
        return {"fingerprint": {"policy": policy, "data": [q.id for q in questions]}, "overwrite": True}

    base = load_generator(GeneratorConfig(model="smollm2"))
    rows = []
    for name, config in (("no personalization", NO_PROFILE), ("RAG", RAG)):
        outputs, _ = run_baseline_file(
            questions, out / config.method, base, config, retriever=retriever, progress=False, **fresh(None)
        )
        rows.append(judged(name, config.method, {o.id: o.answer for o in outputs}))
    trained = load_generator(GeneratorConfig(model="smollm2", adapter=str(adapter)))
    for name, folder, generator, config, adapter_of in (
        ("PR² untrained", "pr2-untrained", base, UNTRAINED_AGENT, None),
        ("PR² trained", "pr2-trained", trained, TRAINED_AGENT, adapter),
    ):
        result = run_agent_file(
            questions, out / folder, generator, config, retriever=retriever, progress=False, **fresh(adapter_of)
        )
        rows.append(judged(name, folder, {t.question_id: t.answer for t in result.trajectories}, result.summary))
    text = table(rows)
    echo("")
    echo(text)
    shipped = ASSETS / "heldout.json"
    if limit is not None and shipped.exists():
        full = json.loads(shipped.read_text(encoding="utf-8"))
        echo("")
        echo(f"The same four rows on all {full['users']} held-out users, shipped with the adapter ({full['command']}):")
        echo(full["table"])
    shown = _shown(result.trajectories, questions, rows[-1].fact)  # the last run: PR² trained
    echo("")
    if shown is None:
        echo("No trained trajectory here searched twice and answered; see pr2-trained/trajectories.jsonl.")
    else:
        q = next(x for x in questions if x.id == shown.question_id)
        found = [a.aspect for a in q.rubric_aspects if states(shown.answer, a.extra.get("fact", {}).get("phrases", ()))]
        echo(f"One trained trajectory ({shown.question_id}: {len(shown.searches)} searches, facts stated: {found}):")
        echo(f"QUESTION: {q.question}")
        echo(((TRAINED_AGENT.prefill or "") + shown.text).strip())
    echo("")
    echo(
        "Training curves of the shipped adapter: "
        f"{ASSETS / 'reward.png'}, {ASSETS / 'searches.png'} (from {ASSETS / 'metrics.jsonl'}); "
        "retrain with: pr2 synth --output data/synth --users 300 --seed 0 && pr2 train --config configs/laptop.yaml"
    )
    echo(f"files: {out}")
    seconds = time.perf_counter() - started
    echo(f"done in {seconds:.0f}s")
    return {"seconds": seconds, "rows": rows, "table": text, "shown": shown}
