"""Damaged state files give a one-line error naming the file and line, or are repaired with a warning where that
loses nothing; resuming a folder made by different settings is refused, naming the first difference."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from types import SimpleNamespace

import pytest

from pr2.baselines.methods import BaselineOutput
from pr2.data import sample_questions
from pr2.data.runs import run_into
from pr2.errors import PR2Error
from pr2.judge import JudgeConfig
from pr2.judge.judge import Judge, Judgement, Pair


class CountingJudge(Judge):
    mode = "count"

    def __init__(self, cache: Path) -> None:
        super().__init__(JudgeConfig(model="count", cache_path=str(cache)))
        self.judged = 0

    def input_text(self, pair: Pair) -> str:
        return pair.response + "\x1e" + pair.aspect

    def _judge_uncached(self, pairs, texts):
        self.judged += len(pairs)
        return [Judgement(float(len(p.response) % 3)) for p in pairs]


PAIRS = [Pair("q", "", f"answer {i}", "aspect", "", "") for i in range(5)]


def test_a_damaged_judge_cache_line_is_skipped_with_a_warning_and_judged_again(tmp_path, caplog):
    cache = tmp_path / "cache.jsonl"
    clean = [j.score for j in CountingJudge(cache).judge(PAIRS)]
    lines = cache.read_text().split("\n")
    lines[2] = lines[2][:10] + "#garbage"
    cache.write_text("\n".join(lines))
    judge = CountingJudge(cache)
    with caplog.at_level(logging.WARNING):
        assert [j.score for j in judge.judge(PAIRS)] == clean
    # the damaged entry's chunk (here all 5 pairs: chunks are 64) is judged again whole, as the first run judged
    # it, so its verdict is the one an undamaged cache would give; only the damaged entry is written again
    assert judge.judged == 5
    assert len([line for line in cache.read_text().splitlines() if line.endswith("}")]) == 5  # 4 kept + 1 anew
    assert f"{cache}: line 3: malformed JSON" in caplog.text


def test_a_damaged_r_np_cache_is_one_line_naming_the_file_and_line(tmp_path):
    from pr2.train.baseline import nonpersonalized_rewards

    path = tmp_path / "r_np.json"
    path.write_text('{\n  "key": {},\n  "r_np": {"a": 0.5,,}\n}\n')
    with pytest.raises(PR2Error, match=rf"^{path}: line 3: damaged r_np cache .*delete it to recompute$"):
        nonpersonalized_rewards(sample_questions("train")[:1], None, None, path, key={})
    path.write_text('{"key": {}, "r_np": {"a": "high"}}')
    with pytest.raises(PR2Error, match=rf"^{path}: damaged r_np cache \(r_np must map question ids to numbers\)"):
        nonpersonalized_rewards(sample_questions("train")[:1], None, None, path, key={})


def _metrics(tmp_path: Path, rows: list[str]) -> Path:
    path = tmp_path / "metrics.jsonl"
    path.write_text("".join(rows))
    return path


def _begin(tmp_path: Path, global_step: int) -> None:
    from pr2.train.metrics import MetricsFile

    state = SimpleNamespace(is_world_process_zero=True, global_step=global_step)
    MetricsFile(tmp_path).on_train_begin(None, state, None)


def test_metrics_resumed_from_a_checkpoint_drop_later_rows_and_a_torn_tail(tmp_path):
    path = _metrics(tmp_path, [json.dumps({"step": s, "loss": s}) + "\n" for s in (1, 2, 3)] + ['{"step": 4, "lo'])
    _begin(tmp_path, global_step=2)  # resumed from checkpoint-2: steps 3 and 4 are made again
    assert [json.loads(x)["step"] for x in path.read_text().splitlines()] == [1, 2]


def test_a_damaged_metrics_line_is_one_line_naming_file_and_line(tmp_path):
    path = _metrics(tmp_path, ['{"step": 1}\n', '{"step": 2,,}\n', '{"step": 3}\n'])
    with pytest.raises(PR2Error, match=rf"^{path}: line 2: malformed JSON"):
        _begin(tmp_path, global_step=3)


def _checkpoint(root: Path, step: int, state: str | None) -> Path:
    path = root / f"checkpoint-{step}"
    path.mkdir(parents=True)
    if state is not None:
        (path / "trainer_state.json").write_text(state)
    return path


def test_resume_passes_over_a_half_saved_or_damaged_checkpoint_to_the_last_complete_one(tmp_path, caplog):
    from pr2.train.trainer import check_checkpoint, latest_checkpoint

    _checkpoint(tmp_path, 2, json.dumps({"global_step": 2}))
    _checkpoint(tmp_path, 3, '{"global_step": 3, "log_hist')  # killed while writing its state
    _checkpoint(tmp_path, 4, None)  # killed before writing it
    with caplog.at_level(logging.WARNING):
        assert latest_checkpoint(tmp_path) == str(tmp_path / "checkpoint-2")
    assert "checkpoint-4: incomplete checkpoint" in caplog.text and "checkpoint-3/trainer_state.json" in caplog.text
    with pytest.raises(PR2Error, match=r"checkpoint-3/trainer_state.json: damaged"):
        check_checkpoint(tmp_path / "checkpoint-3")
    with pytest.raises(PR2Error, match=r"does not exist"):
        check_checkpoint(tmp_path / "checkpoint-9")


def _answer(batch):
    return [BaselineOutput(q.id, f"answer to {q.id}", "none") for q in batch]


def _run(folder: Path, fingerprint: dict, *, overwrite: bool = False, produce=_answer):
    return run_into(
        folder,
        sample_questions("test")[:4],
        produce,
        records_name="outputs.jsonl",
        from_record=BaselineOutput.from_record,
        answer_of=lambda o: o.answer,
        batch_size=2,
        fingerprint=fingerprint,
        overwrite=overwrite,
        progress=False,
    )


def test_resuming_with_other_settings_is_refused_naming_the_first_difference_and_overwrite_starts_over(tmp_path):
    made = {"policy": {"model": "a", "backend": "hf"}, "agent": {"temperature": 0.0}}
    _run(tmp_path, made)
    other = {"policy": {"model": "a", "backend": "hf"}, "agent": {"temperature": 0.7}}
    with pytest.raises(
        PR2Error, match=r"made by a different run \(agent.temperature: 0.0 before, 0.7 now\).*--overwrite"
    ):
        _run(tmp_path, other)
    records, resumed = _run(tmp_path, made)  # the same settings resume
    assert resumed == 4
    (tmp_path / "notes.txt").write_text("mine")
    records, resumed = _run(
        tmp_path, other, overwrite=True, produce=lambda b: [BaselineOutput(q.id, "new", "none") for q in b]
    )
    assert resumed == 0 and {r.answer for r in records} == {"new"}
    assert (tmp_path / "notes.txt").read_text() == "mine"  # --overwrite removes only what a run writes
    assert json.loads((tmp_path / "pr2-fingerprint.json").read_text()) == other


def test_outputs_without_a_fingerprint_or_with_a_damaged_one_are_refused(tmp_path):
    (tmp_path / "outputs.jsonl").write_text('{"id": "x", "answer": "?", "method": "none"}\n')
    with pytest.raises(PR2Error, match=r"outputs.jsonl: already there, with no pr2-fingerprint.json"):
        _run(tmp_path, {"policy": "a"})
    (tmp_path / "pr2-fingerprint.json").write_text('{"policy": ')
    with pytest.raises(PR2Error, match=r"pr2-fingerprint.json: damaged fingerprint"):
        _run(tmp_path, {"policy": "a"})
    _run(tmp_path, {"policy": "a"}, overwrite=True)
