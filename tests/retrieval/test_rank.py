import json

import pytest
from typer.testing import CliRunner

from pr2.cli import app
from pr2.data import load_questions, sample_path
from pr2.data.io import read_jsonl
from pr2.errors import PR2Error
from pr2.retrieval import load_retriever
from pr2.retrieval.rank import rank_file, rank_questions

runner = CliRunner()


def test_ranked_profile_keeps_each_id_with_its_own_text(tmp_path):
    src = sample_path() / "Art_and_Entertainment_test.json"
    out = tmp_path / "ranked.json"
    rank_file(src, out, load_retriever("bm25"), progress=False)
    before, after = load_questions(src), load_questions(out)
    for b, a in zip(before, after, strict=True):
        assert {p.id: p.text for p in b.profile} == {p.id: p.text for p in a.profile}
        assert [p.id for p in a.profile] != [p.id for p in b.profile]  # it did reorder
        # everything else kept, and the file says what ordered it (a candidate pool trusts that order)
        assert b.to_record() | {"profile": None, "profile_ranked_by": "bm25"} == a.to_record() | {"profile": None}
    # the relevant posts move to the top
    q = next(q for q in after if q.id == "ae-5")
    assert len(set(q.extra["relevant_profile_ids"]) & {p.id for p in q.profile[:5]}) >= 2


def test_output_keeps_input_format(tmp_path):
    records = json.loads((sample_path() / "Society_and_Culture_test.json").read_text())
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in records))
    out = tmp_path / "out.jsonl"
    rank_file(src, out, load_retriever("bm25"), progress=False)
    assert [r["id"] for r in read_jsonl(out)] == [r["id"] for r in records]
    assert not (tmp_path / "out.jsonl.partial.jsonl").exists()


class CountingRetriever:
    def __init__(self, inner):
        self.inner, self.name, self.seen = inner, inner.name, []

    def index(self, docs):
        return self.inner.index(docs)

    def score_many(self, queries, profiles):
        self.seen.extend(queries)
        return self.inner.score_many(queries, profiles)


class CrashingRetriever(CountingRetriever):
    """Fails on its third chunk, as a process dies mid-run."""

    def score_many(self, queries, profiles):
        if len(self.seen) == 2:
            raise RuntimeError("killed")
        return super().score_many(queries, profiles)


def test_crashed_run_resumes_only_what_is_missing_and_matches_a_clean_run(tmp_path):
    src = sample_path() / "Lifestyle_and_Personal_Development_train.json"
    clean = tmp_path / "clean.json"
    rank_file(src, clean, load_retriever("bm25"), progress=False)
    out = tmp_path / "out.json"
    with pytest.raises(RuntimeError, match="killed"):
        rank_file(src, out, CrashingRetriever(load_retriever("bm25")), chunk_size=1, progress=False)
    partial = tmp_path / "out.json.partial.jsonl"
    with partial.open("a") as handle:
        handle.write('{"id": "lp-3", "quest')  # and a torn line, as a kill mid-write leaves
    counting = CountingRetriever(load_retriever("bm25"))
    summary = rank_file(src, out, counting, chunk_size=1, progress=False)
    assert summary.resumed == 2
    assert len(counting.seen) == summary.questions - 2  # only the remaining questions were ranked
    assert json.loads(out.read_text()) == json.loads(clean.read_text())
    assert not partial.exists()


def test_resuming_with_another_retriever_is_refused_and_overwrite_starts_over(tmp_path):
    src = sample_path() / "Lifestyle_and_Personal_Development_train.json"
    out = tmp_path / "out.json"
    with pytest.raises(RuntimeError, match="killed"):
        rank_file(src, out, CrashingRetriever(load_retriever("bm25")), chunk_size=1, progress=False)
    with pytest.raises(PR2Error, match=r"made by a different run \(retriever: 'bm25' before, 'minilm' now\)"):
        rank_file(src, out, load_retriever("minilm"), chunk_size=1, progress=False)
    rank_file(src, out, load_retriever("minilm"), chunk_size=1, overwrite=True, progress=False)
    assert json.loads((tmp_path / "out.json.fingerprint.json").read_text())["retriever"] == "minilm"
    assert load_questions(out)[0].extra["profile_ranked_by"] == "minilm"


def test_identical_texts_keep_profile_order():
    from pr2.data.schema import ProfileItem, Question

    q = Question("q", "watercolor blooms", "", [ProfileItem(str(i), "same post about blooms") for i in range(4)], [])
    ranked = next(rank_questions([q], load_retriever("minilm")))
    assert [p.id for p in ranked.profile] == ["0", "1", "2", "3"]


def test_cli_rank_and_bad_model_name(tmp_path):
    src = sample_path() / "Society_and_Culture_validation.json"
    result = runner.invoke(
        app,
        [
            "rank",
            "--input_dataset_addr",
            str(src),
            "--output_dataset_addr",
            str(tmp_path / "o.json"),
            "--model_name",
            "minilm",
            "--batch_size",
            "8",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "ranked 1 questions" in result.output
    result = runner.invoke(
        app,
        [
            "rank",
            "--input_dataset_addr",
            str(src),
            "--output_dataset_addr",
            str(tmp_path / "o2.json"),
            "--model_name",
            "./missing-model",
        ],
    )
    assert result.exit_code == 2
    assert result.output.strip().startswith("error: retrieval model './missing-model': local path")
    assert not (tmp_path / "o2.json").exists()
