"""`pr2 demo`: the whole line on the bundled defaults, offline, on a laptop CPU in a few minutes.

Bundled SYNTHETIC sample (test split), SmolLM2-135M-Instruct as the policy, MiniLM for retrieval. Runs the PR²
agent and the RAG baseline, judges both with the embedding PROXY judge, prints a table and one full trajectory.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from pr2.agent import AgentConfig
from pr2.agent.run import run_agent_file
from pr2.baselines import BaselineConfig, run_baseline_file
from pr2.data import sample_questions
from pr2.generation import GeneratorConfig, load_generator
from pr2.judge import JudgeConfig, build_judge
from pr2.judge.evaluate import score_and_write
from pr2.judge.report import write_report
from pr2.retrieval import load_retriever

# A 135M model loops under greedy decoding; mild sampling and short turns keep it on the protocol and fast.
DEMO_AGENT = AgentConfig(temperature=0.7, top_p=0.9, max_model_len=1024, max_turn_tokens=160, seed=0)
DEMO_RAG = BaselineConfig(method="rag", top_k=5, max_tokens=200, item_tokens=96)


def _round_robin(questions, limit: int):
    """Questions taken in turn from each category, so a short demo still covers all three."""
    by_category: dict[str, list] = {}
    for q in questions:
        by_category.setdefault(q.category, []).append(q)
    picked, queues = [], list(by_category.values())
    while len(picked) < limit and any(queues):
        for queue in queues:
            if queue and len(picked) < limit:
                picked.append(queue.pop(0))
    return picked


def run_demo(output_dir: str | Path, *, limit: int = 6, echo: Callable[[str], None] = print) -> dict:
    started = time.perf_counter()
    out = Path(output_dir)
    questions = _round_robin(sample_questions("test"), limit)
    echo(
        f"pr2 demo: {len(questions)} questions of the bundled SYNTHETIC sample, policy SmolLM2-135M-Instruct, "
        f"retrieval MiniLM, judge: embedding PROXY"
    )
    generator = load_generator(GeneratorConfig(model="smollm2"))
    retriever = load_retriever("minilm")
    agent = run_agent_file(questions, out / "pr2", generator, DEMO_AGENT, retriever=retriever, progress=False)
    for line in agent.summary.lines():
        echo(f"  PR² {line}")
    rag, _ = run_baseline_file(questions, out / "rag", generator, DEMO_RAG, retriever=retriever, progress=False)
    judge = build_judge(JudgeConfig(mode="embedding", cache_path=str(out / "judge-cache.jsonl")))
    score_and_write(
        questions, {t.question_id: t.answer for t in agent.trajectories}, out / "pr2" / "scores.json", judge
    )
    score_and_write(questions, {o.id: o.answer for o in rag}, out / "rag" / "scores.json", judge)
    table, md, png = write_report([out / "pr2" / "scores.json", out / "rag" / "scores.json"], out / "report")
    echo("")
    echo(table)
    # Show the protocol at work: prefer an episode that searched, then one that answered, then the shortest.
    shown = max(agent.trajectories, key=lambda t: (len(t.searches) > 0, t.ended == "answer", -len(t.completion_ids)))
    q = next(x for x in questions if x.id == shown.question_id)
    echo(f"One trajectory ({shown.question_id}, ended: {shown.ended}, searches: {len(shown.searches)}):")
    echo(f"QUESTION: {q.question}")
    echo(((DEMO_AGENT.prefill or "") + shown.text).strip())
    echo("")
    echo(
        "These scores come from the embedding PROXY judge, not the LaMP-QA judge. For LaMP-QA scores, serve a "
        "capable judge (the benchmark uses Qwen/Qwen2.5-32B-Instruct) and run: pr2 evaluate --evaluator_llm "
        "Qwen/Qwen2.5-32B-Instruct --backend openai --base-url URL --judge-mode generate --inputs_addr DATA "
        f"--response_addr {out / 'pr2' / 'responses.json'} --score_addr scores.json"
    )
    echo(f"files: {out / 'pr2'} (responses.json, trajectories.jsonl, scores.json), {out / 'rag'}, {md}, {png}")
    seconds = time.perf_counter() - started
    echo(f"done in {seconds:.0f}s")
    return {"seconds": seconds, "summary": agent.summary, "table": table}
