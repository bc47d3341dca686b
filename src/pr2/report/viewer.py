"""`pr2 view RUN [RUN ...] --output report.html`: what a policy did, in one self-contained HTML file.

Reads any run folder pr2 writes — `pr2 run` (trajectories.jsonl), `pr2 baseline` (outputs.jsonl), `pr2 evaluate`
(a scores file), `pr2 demo` (a folder of those), `pr2 train` (metrics.jsonl, rollouts.jsonl) — and writes one file
that opens from disk with no server and no network: per question, each run's trajectory as the model saw it (its
own tokens apart from the inserted text it never trained on), searches, retrieved posts, answer, how it ended and
the judge's score per aspect with its reason; the runs side by side with the score difference; the run summary,
a score histogram and filters; training steps' GRPO groups and curves.

Every text from the data (posts, answers, queries) reaches the page as JSON inside a script element (with `<`
written as \\u003c, so no text can close it) and is put on the page with `textContent`, never parsed as HTML.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path

from pr2.data.io import read_jsonl, write_text_atomic
from pr2.data.runs import recorded_questions
from pr2.errors import PR2Error

_POST_LINE = re.compile(r"^\[(\d+)\] (.*)$", re.MULTILINE)


def _read_json(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as err:
        raise PR2Error(f"{path}: cannot read ({' '.join(str(err).split())})") from None


def _scores(folder: Path) -> tuple[dict, dict]:
    """(per-question score rows by id, the scores file's judge description) of a run folder, if it has scores."""
    path = folder / "scores.json" if folder.is_dir() else folder
    if not path.exists():
        return {}, {}
    record = _read_json(path)
    rows = {str(r["id"]): r for r in record.get("per_question_scores", [])}
    return rows, {**record.get("judge", {}), "stats": record.get("judge_stats", {})}


def _agent_item(record: dict) -> dict:
    segments, retrieved = [], []
    searches = record.get("searches", [])
    ids = record.get("retrieved_ids", [])
    n_info = 0
    for s in record.get("segments", []):
        segments.append({"kind": s["kind"], "text": s["text"]})
        if s["kind"] == "information" and _POST_LINE.search(s["text"]) and n_info < len(ids):
            posts = [text for _, text in _POST_LINE.findall(s["text"])]
            retrieved.append(
                {
                    "query": searches[n_info] if n_info < len(searches) else "",
                    "posts": [
                        {"id": i, "rank": r + 1, "text": t}
                        for r, (i, t) in enumerate(zip(ids[n_info], posts, strict=False))
                    ],
                }
            )
            n_info += 1
    return {
        "segments": segments,
        "searches": searches,
        "retrieved": retrieved,
        "answer": record.get("answer", ""),
        "ended": record.get("ended") or "unfinished",
    }


def _baseline_item(record: dict) -> dict:
    return {
        "segments": [{"kind": "model", "text": record.get("answer", "")}],
        "searches": [],
        "retrieved": [
            {
                "query": "(the question)",
                "posts": [{"id": i, "rank": r + 1, "text": ""} for r, i in enumerate(record.get("context_ids", []))],
            }
        ]
        if record.get("context_ids")
        else [],
        "answer": record.get("answer", ""),
        "ended": record.get("ended") or "answer",
    }


def load_run(folder: Path, name: str | None = None) -> dict:
    """One method's run from its folder (or a scores file): items by question id, summary, judge."""
    folder = Path(folder)
    scores, judge = _scores(folder)
    items: dict[str, dict] = {}
    kind = "scores"
    if folder.is_dir() and (folder / "trajectories.jsonl").exists():
        kind = "agent"
        for r in read_jsonl(folder / "trajectories.jsonl"):
            items[str(r["id"])] = _agent_item(r)
    elif folder.is_dir() and (folder / "outputs.jsonl").exists():
        kind = "baseline"
        for r in read_jsonl(folder / "outputs.jsonl"):
            items[str(r["id"])] = _baseline_item(r)
    elif folder.is_dir() and (folder / "responses.json").exists():
        kind = "responses"
        for qid, entries in _read_json(folder / "responses.json").items():
            answer = str(entries[0].get("output", "")) if entries else ""
            items[qid] = {"segments": [{"kind": "model", "text": answer}], "searches": [], "retrieved": [],
                          "answer": answer, "ended": "answer"}  # fmt: skip
    if not items and not scores:
        raise PR2Error(
            f"{folder}: no pr2 run here (no trajectories.jsonl, outputs.jsonl, responses.json or scores.json)"
        )
    for qid, row in scores.items():
        item = items.setdefault(qid, {"segments": [], "searches": [], "retrieved": [], "answer": "", "ended": "-"})
        item["score"] = row.get("score")
        item["details"] = row.get("details", [])
        item["category"] = row.get("category")
    summary = _read_json(folder / "summary.json") if folder.is_dir() and (folder / "summary.json").exists() else None
    return {"name": name or folder.name, "kind": kind, "folder": str(folder), "judge": judge, "summary": summary,
            "items": items}  # fmt: skip


def _is_run(folder: Path) -> bool:
    return any((folder / n).exists() for n in ("trajectories.jsonl", "outputs.jsonl", "responses.json", "scores.json"))


DEMO_NAMES = {"none": "no personalization", "rag": "RAG", "pr2-untrained": "PR² untrained",
              "pr2-trained": "PR² trained", "oracle": "base model shown the evidence posts"}  # fmt: skip


def find_runs(paths: Sequence[str | Path]) -> tuple[list[dict], list[dict]]:
    """(method runs, training runs) under the given paths: a run folder, a scores file, a demo folder (each
    sub-folder a run), or a training folder (metrics.jsonl)."""
    runs, trainings = [], []
    for p in map(Path, paths):
        if not p.exists():
            raise PR2Error(f"{p}: no such file or folder")
        if p.is_dir() and (p / "metrics.jsonl").exists():
            trainings.append(load_training(p))
            continue
        if p.is_file() or _is_run(p):
            runs.append(load_run(p))
            continue
        subs = sorted(d for d in p.iterdir() if d.is_dir() and _is_run(d))
        order = list(DEMO_NAMES)
        subs.sort(key=lambda d: order.index(d.name) if d.name in order else len(order))
        if not subs:
            raise PR2Error(f"{p}: no pr2 run here (nor in its sub-folders)")
        runs.extend(load_run(d, DEMO_NAMES.get(d.name, f"{p.name}/{d.name}")) for d in subs)
    return runs, trainings


def load_training(folder: Path) -> dict:
    rollouts = read_jsonl(folder / "rollouts.jsonl") if (folder / "rollouts.jsonl").exists() else []
    return {"name": folder.name, "folder": str(folder), "metrics": read_jsonl(folder / "metrics.jsonl"),
            "rollouts": rollouts}  # fmt: skip


def _questions(paths: Sequence[Path]) -> dict[str, dict]:
    from pr2.data.io import load_questions

    out = {}
    for path in paths:
        for q in load_questions(path):
            out[q.id] = {"question": q.question, "category": q.category, "profile_size": len(q.profile),
                         "posts": {p.id: p.text for p in q.profile},
                         "aspects": [a.aspect for a in q.rubric_aspects]}  # fmt: skip
    return out


def build_payload(paths: Sequence[str | Path], questions: Sequence[str | Path] = ()) -> dict:
    runs, trainings = find_runs(paths)
    found = [Path(q) for q in questions]
    if not questions:
        for p in map(Path, paths):  # a demo writes its questions beside its runs
            if p.is_dir() and (p / "questions.jsonl").exists():
                found.append(p / "questions.jsonl")
        for run in runs:  # `pr2 run` and `pr2 baseline` note which questions file they answered
            source = recorded_questions(run["folder"])
            if source is not None and source not in found:
                found.append(source)
    info = _questions(found)
    ids: list[str] = []
    for run in runs:
        ids.extend(q for q in run["items"] if q not in ids)
    for qid in ids:  # posts shown only as ids (baselines) get their text from the question file
        posts = info.get(qid, {}).get("posts", {})
        for run in runs:
            for block in run["items"].get(qid, {}).get("retrieved", []):
                for post in block["posts"]:
                    post["text"] = post["text"] or posts.get(post["id"], "")
    questions_out = {qid: {k: v for k, v in info.get(qid, {}).items() if k != "posts"} | {"id": qid} for qid in ids}
    return {"runs": runs, "questions": questions_out, "order": ids, "trainings": trainings}


def render(payload: dict) -> str:
    data = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).replace("<", "\\u003c")
    page = (Path(__file__).parent / "viewer.html").read_text(encoding="utf-8")
    return page.replace("/*PR2_DATA*/null", data, 1)


def write_view(paths: Sequence[str | Path], output: str | Path, questions: Sequence[str | Path] = ()) -> Path:
    output = Path(output)
    write_text_atomic(output, render(build_payload(paths, questions)))
    return output
