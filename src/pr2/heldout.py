"""`pr2 heldout`: any policy on the generated benchmark's 60 held-out users, scored as `pr2 demo` scores its rows.

The demo's trained row runs the shipped adapter; this runs whatever you name: a model, an adapter, or the exact
policy a `pr2 train` run trained (its start model, the merged warm start or the merged `start_adapter`, with GRPO's
own adapter from `final/` or a checkpoint), so two runs, or a run and its ablations, compare on equal terms (greedy,
the same questions, the same budgets, the same judge). Scores are this generated benchmark's fact judge with a 95%
bootstrap interval and the embedding proxy beside it: never LaMP-QA scores.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from pr2.agent import AgentConfig
from pr2.agent.run import run_agent_file
from pr2.agent.settings import AGENT_FILE, agent_config_for
from pr2.data.fingerprint import model_identity
from pr2.data.io import write_json_atomic
from pr2.demo import (
    DTYPE,
    TRAINED_AGENT,
    Row,
    evidence_found,
    heldout_questions,
    retrieved_by_question,
    reuse_or_redo,
)
from pr2.errors import PR2Error

GREEDY = {"temperature": 0.0, "top_p": 1.0, "seed": 0}
ROW_FILE = "heldout-row.json"
"""What `score_policy` writes into its folder: the row, its per-question scores, and what made it."""


def _run_config(run: Path) -> dict:
    path = run / "pr2-train-config.json"
    if not path.is_file():
        raise PR2Error(f"{run}: not a pr2 train run (no pr2-train-config.json)")
    return json.loads(path.read_text(encoding="utf-8"))


def start_model(run: Path) -> str:
    """The model a run's GRPO started from: RUN/warm-start, else its `model` with its `start_adapter` merged in
    (written once to RUN/start-merged, in fp32, as a warm start is)."""
    if (run / "warm-start" / "config.json").exists():
        return str(run / "warm-start")
    config = _run_config(run)
    if not config.get("start_adapter"):
        return config["model"]
    folder = run / "start-merged"
    if not (folder / "config.json").exists():
        from pr2.data.io import remove_partial_folders, write_folder_atomic
        from pr2.train.config import TrainConfig
        from pr2.train.policy import load_policy

        model, tokenizer = load_policy(TrainConfig(model=config["model"], start_adapter=config["start_adapter"]))
        remove_partial_folders(folder)  # a merge killed before is redone (this is the folder's one writer)
        write_folder_atomic(folder, model, tokenizer)
    return str(folder)


def exact_policy(run: Path, checkpoint: Path | None = None) -> tuple[str, Path, AgentConfig]:
    """(start model, adapter, agent settings) of what a run trained: GRPO's adapter from RUN/final, or from a
    checkpoint (so two runs compare at equal steps), run with the agent settings the run trained with."""
    adapter = checkpoint or run / "final"
    if not (adapter / "adapter_config.json").exists():
        raise PR2Error(f"{adapter}: no adapter here (the run has not finished: pass --checkpoint)")
    if (adapter / AGENT_FILE).exists():
        agent = agent_config_for(adapter, GREEDY)
    else:  # a checkpoint of a run still training: the settings it trains with
        agent = AgentConfig(**{**_run_config(run)["agent"], **GREEDY})
    return start_model(run), adapter, agent


def score_policy(
    output_dir: str | Path,
    *,
    model: str = "smollm2",
    adapter: str | Path | None = None,
    agent: AgentConfig | None = None,
    name: str = "policy",
    progress: bool = True,
) -> dict:
    """Run one policy greedily on the 60 held-out users and score it as the demo does. The agent settings are
    `agent`, else those the adapter carries, else those the shipped laptop policy was trained with. A folder made
    by the same policy and settings is resumed, one made by another is started over. Returns the row's record,
    also written to OUTPUT/heldout-row.json."""
    from pr2.generation import GeneratorConfig, load_generator
    from pr2.judge import JudgeConfig, build_judge
    from pr2.judge.evaluate import score_and_write
    from pr2.retrieval import load_retriever
    from pr2.train.reward import evidence_posts

    out = Path(output_dir)
    if agent is None:
        agent = agent_config_for(adapter, GREEDY) if adapter else replace(TRAINED_AGENT, **GREEDY)
    questions = heldout_questions(None)
    policy = model_identity(model, "hf", None, adapter)
    made_by = {"policy": policy, "dtype": DTYPE, "data": [q.id for q in questions]}
    generator = load_generator(GeneratorConfig(model=model, adapter=str(adapter) if adapter else None, dtype=DTYPE))
    result = reuse_or_redo(
        run_agent_file, questions, out, generator, agent, retriever=load_retriever(agent.retriever),
        progress=progress, desc=name, fingerprint=made_by,
    )  # fmt: skip
    trajectories = result.trajectories
    answers = {t.question_id: t.answer for t in trajectories}
    fact = score_and_write(questions, answers, out / "scores.json", build_judge(JudgeConfig(mode="fact")))
    proxy_judge = build_judge(JudgeConfig(mode="embedding", cache_path=str(out / "judge-cache.jsonl")))
    proxy = score_and_write(questions, answers, out / "scores.proxy.json", proxy_judge)
    row = Row(
        name, fact, proxy, summary=result.summary, evidence=evidence_found(questions, retrieved_by_question(trajectories)),
        by_length=result.summary.ended.get("length", 0),
    )  # fmt: skip
    by_id = {q.id: q for q in questions}
    hits = [bool(set(ids) & evidence_posts(by_id[t.question_id])) for t in trajectories for ids in t.retrieved_ids]
    record = {
        **row.record(),
        "searches_finding_evidence": sum(hits) / len(hits) if hits else 0.0,
        "policy": policy,
        "agent": {k: getattr(agent, k) for k in ("max_searches", "max_turn_tokens", "max_model_len", "answer_prefill")},
        "note": "pr2 synth fact judge on the 60 held-out users, greedy; not a LaMP-QA score",
    }
    write_json_atomic(out / ROW_FILE, record)
    return record
