"""GRPO with two processes (torchrun, gloo on the CPU) gives the rows of one process with twice the batch."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pr2.cli import app
from pr2.data.io import read_jsonl

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow
ROWS = ("reward_mean", "reward_std", "r_np", "r_minus_r_np", "answer_rate", "completion_length", "loss")


def train_args(out: Path, tiny_llama_dir, per_device: int) -> list[str]:
    return [
        "train",
        "--config",
        str(ROOT / "configs" / "cpu-smoke.yaml"),
        *(
            f"--set={item}"
            for item in (
                "use_cpu=true",
                f"output_dir={out}",
                f"model={tiny_llama_dir}",
                "judge_model=minilm",
                "agent.retriever=bm25",
                "agent.prefill=<answer>",  # the random policy answers at once: rewards differ by answer
                "agent.example_turn=false",
                "agent.max_model_len=400",
                "agent.max_turn_tokens=12",
                "max_completion_length=400",
                "temperature=1e-4",  # greedy in effect (TRL divides logits by it, so 0 is refused)
                "r_np_chunk_size=2",  # 9 questions: 5 chunks, so each of two processes makes some of r_np
                "max_steps=2",
                "save_steps=1",
                "num_generations=4",
                f"per_device_train_batch_size={per_device}",
            )
        ),
    ]


def torchrun(out: Path, tiny_llama_dir, processes: int, per_device: int) -> subprocess.Popen:
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes)]
    args = ["-m", "pr2.cli", *train_args(out, tiny_llama_dir, per_device)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    with open(out.with_suffix(".log"), "w") as log:  # a file, not a pipe: a full pipe would stall the run
        return subprocess.Popen([*launcher, *args], stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, env=env)


def finish(run: subprocess.Popen, out: Path) -> None:
    run.wait(timeout=600)
    assert run.returncode == 0, out.with_suffix(".log").read_text()[-3000:]


def test_two_processes_match_one_process_with_twice_the_batch(tmp_path, tiny_llama_dir, one_torch_thread):
    # The one-process run goes in this process (already past its imports, one thread like each of the two) while
    # the two processes start up: most of their time is importing torch and transformers.
    two = torchrun(tmp_path / "two", tiny_llama_dir, processes=2, per_device=4)
    one = CliRunner().invoke(app, train_args(tmp_path / "one", tiny_llama_dir, per_device=8))
    assert one.exit_code == 0, (one.output, one.exception)
    finish(two, tmp_path / "two")
    rows_one, rows_two = read_jsonl(tmp_path / "one" / "metrics.jsonl"), read_jsonl(tmp_path / "two" / "metrics.jsonl")
    assert [r["step"] for r in rows_two] == [1, 2]  # one row per step: only the main process writes
    for a, b in zip(rows_one, rows_two, strict=True):
        assert {k: round(a[k], 5) for k in ROWS} == {k: round(b[k], 5) for k in ROWS}
    # r_np was shared out (chunks 0, 2, 4 and 1, 3) and gathered: exactly the one-process values
    log = (tmp_path / "two").with_suffix(".log").read_text()
    assert "r_np: this process made 3 of 5 chunks" in log and "r_np: this process made 2 of 5 chunks" in log
    assert json.loads((tmp_path / "two" / "r_np.json").read_text()) == json.loads(
        (tmp_path / "one" / "r_np.json").read_text()
    )
    assert not list((tmp_path / "two").glob("r_np.part-*"))
    assert (tmp_path / "two" / "checkpoint-2").is_dir() and (
        tmp_path / "two" / "final" / "adapter_config.json"
    ).exists()
