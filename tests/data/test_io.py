import json
import logging
from pathlib import Path

import pytest

from pr2.data import JsonlWriter, load_questions, read_jsonl_ids, write_questions
from pr2.data.io import read_jsonl, write_json_atomic
from pr2.errors import PR2Error
from tests.conftest import make_record


def test_json_and_jsonl_load_the_same_questions(write_json):
    records = [make_record("a"), make_record("b", n_profile=0)]
    from_json = load_questions(write_json("d.json", records))
    from_jsonl = load_questions(write_json("d.jsonl", records, jsonl=True))
    assert [q.id for q in from_json] == ["a", "b"]
    assert [q.to_record() for q in from_json] == [q.to_record() for q in from_jsonl]
    assert from_json[0].profile[1].text == "post 1 of a"
    assert from_json[0].rubric_aspects[1].evidence == "evidence 1"


def test_unknown_fields_survive_round_trip(write_json, tmp_path):
    record = make_record("a", custom={"nested": [1, 2]}, user_id="u9")
    record["profile"][0]["date"] = "2020-01-01"
    record["rubric_aspects"][0]["weight"] = 0.5
    for suffix in (".json", ".jsonl"):
        src = write_json(f"in{suffix}", [record], jsonl=suffix == ".jsonl")
        out = tmp_path / f"out{suffix}"
        write_questions(out, load_questions(src))
        assert load_questions(out)[0].to_record() == record
        again = (
            [json.loads(x) for x in out.read_text().splitlines()] if suffix == ".jsonl" else json.loads(out.read_text())
        )
        assert again == [record]


def test_category_and_split_from_file_name_or_record(write_json):
    q = load_questions(write_json("Society_and_Culture_test.json", [make_record("a")]))[0]
    assert (q.category, q.split) == ("Society_and_Culture", "test")
    # Inferred values are not written into the record: the file stays as the benchmark ships it.
    assert "category" not in q.to_record()
    tagged = make_record("b", category="Art_and_Entertainment", split="train")
    q = load_questions(write_json("Society_and_Culture_test.json", [tagged]))[0]
    assert (q.category, q.split) == ("Art_and_Entertainment", "train")
    assert q.to_record()["category"] == "Art_and_Entertainment"
    q = load_questions(write_json("other.json", [make_record("c")]))[0]
    assert (q.category, q.split) == (None, None)


def test_numeric_ids_are_read_as_strings(write_json):
    record = make_record("x")
    record["id"] = 17
    record["profile"][0]["id"] = 3
    q = load_questions(write_json("d.json", [record]))[0]
    assert q.id == "17" and q.profile[0].id == "3"


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda r: r.pop("question"), r"d.json: record 1 \(id 'b'\): field 'question' missing"),
        (lambda r: r.update(narrative=5), r"record 1 \(id 'b'\): field 'narrative' must be a string, got int"),
        (lambda r: r.update(profile="x"), r"field 'profile' must be a list, got str"),
        (lambda r: r["profile"][1].pop("text"), r"field 'profile\[1\].text' missing"),
        (lambda r: r["profile"][0].pop("id"), r"field 'profile\[0\].id' missing"),
        (lambda r: r["rubric_aspects"][0].pop("reason"), r"field 'rubric_aspects\[0\].reason' missing"),
        (lambda r: r.update(rubric_aspects={}), r"field 'rubric_aspects' must be a list"),
        (lambda r: r.pop("id"), r"d.json: record 1: field 'id' missing"),
        (lambda r: r.update(id="a"), r"record 1 \(id 'a'\): field 'id' duplicates record 0"),
    ],
)
def test_bad_records_name_file_record_and_field(write_json, mutate, expected):
    bad = make_record("b")
    mutate(bad)
    path = write_json("d.json", [make_record("a"), bad])
    with pytest.raises(PR2Error, match=expected) as info:
        load_questions(path)
    assert "\n" not in str(info.value)


def test_record_that_is_not_an_object(write_json):
    with pytest.raises(PR2Error, match=r"record 1: must be a JSON object, got list"):
        load_questions(write_json("d.json", [make_record("a"), [1]]))


def test_malformed_json_and_jsonl_name_the_line(tmp_path):
    bad = tmp_path / "d.jsonl"
    bad.write_text(json.dumps(make_record("a")) + "\n{not json\n")
    with pytest.raises(PR2Error, match=r"d.jsonl: line 2: malformed JSON"):
        load_questions(bad)
    bad = tmp_path / "d.json"
    bad.write_text('[{"id": "a",\n oops]')
    with pytest.raises(PR2Error, match=r"d.json: malformed JSON .* line 2"):
        load_questions(bad)
    bad.write_text('{"id": "a"}')
    with pytest.raises(PR2Error, match=r"must hold a JSON list"):
        load_questions(bad)
    with pytest.raises(PR2Error, match=r"missing.json: file not found"):
        load_questions(tmp_path / "missing.json")


def test_empty_profile_and_no_aspects_warn_but_load(write_json, caplog):
    with caplog.at_level(logging.WARNING):
        qs = load_questions(write_json("d.json", [make_record("a", n_profile=0, n_aspects=0)]))
    assert qs[0].profile == [] and qs[0].rubric_aspects == []
    assert "empty profile" in caplog.text and "no rubric aspects" in caplog.text


def test_atomic_write_keeps_old_file_when_serialisation_fails(tmp_path):
    path = tmp_path / "out.json"
    write_json_atomic(path, {"ok": 1})
    with pytest.raises(TypeError):
        write_json_atomic(path, {"bad": object()})
    assert json.loads(path.read_text()) == {"ok": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]  # no temporary left behind


def test_jsonl_writer_resumes_and_drops_a_torn_line(tmp_path: Path):
    path = tmp_path / "out.jsonl"
    with JsonlWriter(path) as writer:
        writer.write({"id": "a", "v": 1})
        writer.write({"id": "b", "v": 2})
    with path.open("a") as handle:  # a killed run left half a line
        handle.write('{"id": "c", "v"')
    assert read_jsonl_ids(path) == ["a", "b"]
    with JsonlWriter(path) as writer:
        assert writer.done == {"a", "b"}
        writer.write({"id": "c", "v": 3})
    assert [r["id"] for r in read_jsonl(path)] == ["a", "b", "c"]
    assert path.read_text().endswith("\n")


UNICODE = "line\u2028sep\u0085next \ufeffbom 🎻 עברית مرحبا nul\x00end\r\n"


def test_any_unicode_round_trips_through_jsonl_and_ranking(tmp_path):
    from pr2.data.io import load_questions, write_questions
    from pr2.retrieval import load_retriever
    from pr2.retrieval.rank import rank_file
    from tests.conftest import make_record

    record = make_record("u1", n_profile=3)
    record["question"] = f"Which bow? {UNICODE}"
    record["profile"][1]["text"] = f"My cello {UNICODE}"
    record["rubric_aspects"][0]["evidence"] = UNICODE
    src = tmp_path / "in.json"
    src.write_text(__import__("json").dumps([record]), encoding="utf-8")
    out = tmp_path / "prepared.jsonl"
    write_questions(out, load_questions(src))
    (q,) = load_questions(out)
    assert q.question == record["question"] and q.profile[1].text == record["profile"][1]["text"]
    assert q.rubric_aspects[0].evidence == UNICODE
    rank_file(out, tmp_path / "ranked.jsonl", load_retriever("bm25"), progress=False)
    (ranked,) = load_questions(tmp_path / "ranked.jsonl")
    assert {p.id: p.text for p in ranked.profile} == {p["id"]: p["text"] for p in record["profile"]}


class _Part:
    """A stand-in for a model or tokenizer: writes one file, or fails half-way."""

    def __init__(self, name: str, fail: bool = False):
        self.name, self.fail = name, fail

    def save_pretrained(self, folder):
        (Path(folder) / self.name).write_text("saved")
        if self.fail:
            raise OSError("disk full")


def test_a_model_folder_appears_whole_or_not_at_all(tmp_path):
    from pr2.data.io import write_folder_atomic

    target = tmp_path / "model"
    with pytest.raises(OSError, match="disk full"):
        write_folder_atomic(target, _Part("config.json"), _Part("model.safetensors", fail=True))
    assert list(tmp_path.iterdir()) == []  # neither the folder nor its half-written temporary

    write_folder_atomic(target, _Part("config.json"), _Part("tokenizer.json"), json_files={"about.json": {"a": 1}})
    assert sorted(p.name for p in target.iterdir()) == ["about.json", "config.json", "tokenizer.json"]
    assert json.loads((target / "about.json").read_text()) == {"a": 1}

    write_folder_atomic(target, _Part("other.json"))  # another process finished the folder first: its copy stays
    assert not (target / "other.json").exists() and list(tmp_path.iterdir()) == [target]

    from pr2.data.io import remove_partial_folders

    (tmp_path / ".model.abc.tmp").mkdir()  # another writer's, or a killed one's: a save never removes it
    write_folder_atomic(tmp_path / "second", _Part("config.json"))
    assert (tmp_path / ".model.abc.tmp").exists()
    remove_partial_folders(target)  # the folder's one writer clears what a killed save left
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model", "second"]
