"""Kill any stage with SIGKILL at random points, resume it, and get exactly what an uninterrupted run writes.

`PR2_KILL_AT_WRITE=N` (pr2/data/fault_injection.py) makes a `pr2` process SIGKILL itself at its N-th write to disk,
in the worst moment of that write (a JSONL line half written, a whole file written but not yet renamed into place).
For each stage: one uninterrupted run (in this process, through the same command line) counts its writes; then, in
a fresh folder, three `pr2` processes, each killed at a point drawn from that count with a fixed seed and each
resuming what the one before left; then a plain re-run finishes, and its files are compared with the
uninterrupted run's. Temperature 0 (training: 1e-4, TRL divides by it), tiny random models, BM25.

The killed processes are forks of this one running the same command line: a real process that SIGKILL ends, with
its files half written, but without the 7-10 s a fresh interpreter spends importing torch and transformers, which
was most of these tests' time (what a fresh process reads at start-up is on disk, and the resuming runs read it).
Every test here runs on one thread (`one_torch_thread`), the reference included: a forked child cannot use the
parent's OpenMP pool, and one thread everywhere keeps sums in one order, so files compare exactly.
"""

from __future__ import annotations

import json
import os
import random
import tempfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pr2.cli import app
from pr2.data import fault_injection, sample_path

ROOT = Path(__file__).resolve().parents[1]
pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_torch_thread")]
runner = CliRunner()


def pr2_killed_at(args: list[str], kill_at: int) -> tuple[int, str]:
    """Run `pr2 ARGS` in a forked process that SIGKILLs itself at its `kill_at`-th write; (exit code, output):
    -9 when it was killed, 0 when it finished first."""
    handle, name = tempfile.mkstemp(prefix="pr2-killed-", suffix=".log")
    os.close(handle)
    log = Path(name)
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 3
        try:
            fault_injection._writes = 0  # count from this process's start, as a fresh one would
            os.environ["PR2_KILL_AT_WRITE"] = str(kill_at)
            result = runner.invoke(app, args)
            log.write_text(f"{result.output}\n{result.exception!r}", encoding="utf-8")
            code = result.exit_code
        except BaseException as error:
            log.write_text(repr(error), encoding="utf-8")
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    output = log.read_text(encoding="utf-8") if log.stat().st_size else ""
    log.unlink()
    return os.waitstatus_to_exitcode(status), output


def in_process(args: list[str]) -> int:
    """Run `pr2 ARGS` here (through the same command line); returns the writes it made."""
    os.environ["PR2_KILL_AT_WRITE"] = "count"
    before = fault_injection.writes()
    try:
        result = runner.invoke(app, args)
    finally:
        del os.environ["PR2_KILL_AT_WRITE"]
    assert result.exit_code == 0, (result.output, result.exception)
    return fault_injection.writes() - before


def kill_points(args_for, reference: Path, seed: int, kills: int = 3) -> list[int]:
    """Run uninterrupted into `reference`, counting writes; return `kills` kill points, one drawn from each of
    `kills` equal stretches of that count (so a stage's early, middle and late work each get killed)."""
    writes = in_process(args_for(reference))
    assert writes >= kills
    rng = random.Random(seed)
    edges = [round(i * writes / kills) for i in range(kills + 1)]
    return [rng.randint(edges[i] + 1, edges[i + 1]) for i in range(kills)]


def killed_and_resumed(args_for, out: Path, points: list[int]) -> int:
    """Kill a process at each point in turn (each counted from the start of the process that resumes), then
    finish. Returns how many kills happened (a resumed process may have fewer writes left than the point)."""
    killed, previous = 0, 0
    for point in points:
        code, output = pr2_killed_at(args_for(out), max(1, point - previous))
        if code == -9:
            killed += 1
        else:
            assert code == 0, output[-3000:]
        previous = point
    in_process(args_for(out))
    return killed


def read(path: Path):
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in path.read_text(encoding="utf-8").split("\n") if line]
    return json.loads(path.read_text(encoding="utf-8"))


def no_strays(folder: Path) -> None:
    assert not [p.name for p in folder.rglob(".*.tmp")], "a temporary file was left behind"


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    """All test questions of the bundled sample in one prepared file (a few posts each, so runs stay short)."""
    from pr2.data.io import load_questions

    questions = []
    for path in sorted(sample_path().glob("*_test.json")):
        questions += [q.tagged() for q in load_questions(path)]
    records = [q.to_record() for q in questions[:8]]
    first = records[0]  # every stage carries text pr2 must write and read back as it is
    first["question"] += UNICODE
    first["profile"][0]["text"] += UNICODE
    first["rubric_aspects"][0]["evidence"] += UNICODE
    out = tmp_path_factory.mktemp("data") / "test.jsonl"
    out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return out


UNICODE = " \u2028line\u2029para\u0085next\ufeffbom 😀 שלום עולם \x00nul"


def test_rank(tmp_path, dataset):
    from pr2.data.io import load_questions

    def args(out: Path) -> list[str]:
        out.mkdir(exist_ok=True)
        return ["rank", "--input_dataset_addr", str(dataset), "--output_dataset_addr", str(out / "ranked.jsonl")]

    points = kill_points(args, tmp_path / "reference", seed=1)
    assert killed_and_resumed(args, tmp_path / "resumed", points) >= 1
    reference, resumed = (tmp_path / d / "ranked.jsonl" for d in ("reference", "resumed"))
    assert resumed.read_bytes() == reference.read_bytes()
    ranked = {q.id: q for q in load_questions(resumed)}
    original = load_questions(dataset)[0]
    assert ranked[original.id].question == original.question and original.question.endswith(UNICODE)
    assert original.profile[0].text in {p.text for p in ranked[original.id].profile}
    assert not (tmp_path / "resumed" / "ranked.jsonl.partial.jsonl").exists()
    no_strays(tmp_path / "resumed")


def test_run(tmp_path, dataset, tiny_llama_dir):
    def args(out: Path) -> list[str]:
        return [
            "run",
            *("--questions_address", str(dataset), "--output_address", str(out), "--model", str(tiny_llama_dir)),
            *("--temperature", "0", "--retriever", "bm25", "--batch-size", "3", "--split", "test"),
            *("--max-turn-tokens", "12", "--max-model-len", "320", "--max-searches", "2", "--no-example-turn"),
        ]

    points = kill_points(args, tmp_path / "reference", seed=2)
    assert killed_and_resumed(args, tmp_path / "resumed", points) >= 1
    for name in ("trajectories.jsonl", "responses.json", "summary.json"):
        assert read(tmp_path / "resumed" / name) == read(tmp_path / "reference" / name), name
    no_strays(tmp_path / "resumed")


def test_baseline(tmp_path, dataset, tiny_llama_dir):
    def args(out: Path) -> list[str]:
        return [
            "baseline",
            *("--method", "rag", "--retriever", "bm25", "--model", str(tiny_llama_dir), "--temperature", "0"),
            *("--questions_address", str(dataset), "--output_address", str(out), "--max-tokens", "12"),
            *("--batch-size", "3", "--top-k", "2"),
        ]

    points = kill_points(args, tmp_path / "reference", seed=3)
    assert killed_and_resumed(args, tmp_path / "resumed", points) >= 1
    for name in ("outputs.jsonl", "responses.json"):
        assert read(tmp_path / "resumed" / name) == read(tmp_path / "reference" / name), name
    no_strays(tmp_path / "resumed")


def test_evaluate(tmp_path):
    """On a `pr2 synth` dataset with its fact judge (no model: each killed process lives for its writes alone)."""
    from pr2.data.synth import SynthConfig, generate

    records = [q.tagged().to_record() for qs in generate(SynthConfig(users=15, seed=4)).values() for q in qs]
    records[0]["question"] += UNICODE
    dataset = tmp_path / "synth.jsonl"
    dataset.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    answers = {
        r["id"]: " and ".join(a["fact"]["phrases"][0] for a in r["rubric_aspects"][::2]) for r in records
    }  # every other fact stated: scores differ by question
    responses = tmp_path / "responses.json"
    responses.write_text(json.dumps({qid: [{"output": text}] for qid, text in answers.items()}))

    def args(out: Path) -> list[str]:
        out.mkdir(exist_ok=True)
        return [
            *("evaluate", "--judge-mode", "fact", "--inputs_addr", str(dataset)),
            *("--response_addr", str(responses), "--score_addr", str(out / "scores.json")),
        ]

    points = kill_points(args, tmp_path / "reference", seed=4)
    assert killed_and_resumed(args, tmp_path / "resumed", points) >= 1
    reference, resumed = (read(tmp_path / d / "scores.json") for d in ("reference", "resumed"))
    assert resumed["judge_stats"]["cached"] > 0  # the resumed evaluation did reuse what the killed ones judged
    assert 0 < reference["score"] < 1
    for key in ("per_question_scores", "per_category", "score", "judge", "inputs"):
        assert resumed[key] == reference[key], key
    no_strays(tmp_path / "resumed")


TIMES = ("step_seconds", "rollout_seconds", "judge_seconds")


def test_train_with_warm_start_and_r_np(tmp_path, searching_llama_dir, tiny_st_dir):
    """Warm start (sampling, fine-tuning, merge), r_np and GRPO steps with checkpoints, killed anywhere."""

    def args(out: Path) -> list[str]:
        sets = [
            f"output_dir={out}",
            f"model={searching_llama_dir}",  # searches and answers, so the warm start keeps episodes
            f"judge_model={tiny_st_dir}",
            "limit=2",
            "warm_start_samples=2",
            "warm_start_epochs=1",
            "agent.retriever=bm25",
            "agent.prefill=<search>",
            "agent.max_searches=1",
            "agent.max_model_len=700",
            "agent.max_turn_tokens=8",
            "max_completion_length=700",
            "temperature=1e-4",  # greedy in effect (TRL divides logits by it, so 0 is refused)
            "max_steps=2",
            "save_steps=1",
            "num_generations=2",
            "per_device_train_batch_size=2",
            "learning_rate=1e-2",
        ]
        config = str(ROOT / "configs" / "cpu-smoke.yaml")
        return ["train", "--config", config, "--warm-start", *(f"--set={s}" for s in sets)]

    points = kill_points(args, tmp_path / "reference", seed=5)
    assert killed_and_resumed(args, tmp_path / "resumed", points) >= 1
    reference, resumed = tmp_path / "reference", tmp_path / "resumed"
    warm = [read(d / "warm-start" / "pr2-warm-start.json") for d in (reference, resumed)]
    assert warm[1] == warm[0] and warm[1]["kept"]
    rows = [
        [{k: v for k, v in r.items() if k not in TIMES} for r in read(d / "metrics.jsonl")]
        for d in (reference, resumed)
    ]
    assert [r["step"] for r in rows[1]] == [1, 2]
    assert rows[1] == rows[0]
    assert read(resumed / "r_np.json")["r_np"] == read(reference / "r_np.json")["r_np"]
    from safetensors.torch import load_file

    for file in ("warm-start/model.safetensors", "final/adapter_model.safetensors"):
        weights = [load_file(d / file) for d in (reference, resumed)]
        assert weights[0].keys() == weights[1].keys()
        assert all((weights[0][k] == weights[1][k]).all() for k in weights[0]), file
    no_strays(resumed)
