import json
from pathlib import Path

import pytest

from pr2.data import CATEGORIES, filter_questions, load_questions
from pr2.data.lamp_qa import download, parse_lamp_filename
from pr2.errors import PR2Error
from tests.conftest import make_record


def make_hub_like_repo(root: Path) -> Path:
    """A local dataset folder laid out like a Hub dataset repository: a config per category, a file per split."""
    configs = []
    for c, category in enumerate(CATEGORIES):
        files = []
        for split in ("train", "validation", "test"):
            folder = root / category
            folder.mkdir(parents=True, exist_ok=True)
            records = [make_record(f"{c}{split[0]}{i}", n_profile=2 + i) for i in range(2)]
            (folder / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
            files.append(f"  - split: {split}\n    path: {category}/{split}.jsonl")
        configs.append(f"- config_name: {category}\n  data_files:\n" + "\n".join(files))
    (root / "README.md").write_text("---\nconfigs:\n" + "\n".join(configs) + "\n---\n# LaMP-QA (test copy)\n")
    return root


def test_download_writes_benchmark_layout_and_prepared_jsonl(tmp_path):
    repo = make_hub_like_repo(tmp_path / "repo")
    out = tmp_path / "out"
    written = download(out, cache_dir=str(tmp_path / "cache"), source=str(repo), splits="validation,test")
    names = sorted(p.name for p in written)
    assert names == sorted(
        [f"{c}_{s}.json" for c in CATEGORIES for s in ("validation", "test")] + ["test.jsonl", "validation.jsonl"]
    )
    q = load_questions(out / "Society_and_Culture_test.json")
    assert (len(q), q[0].category, q[0].split) == (2, "Society_and_Culture", "test")
    assert len(q[1].profile) == 3 and q[1].profile[2].text == "post 2 of 2t1"
    combined = load_questions(out / "test.jsonl")
    assert len(combined) == 6
    assert {x.category for x in combined} == set(CATEGORIES)
    assert all(json.loads(line)["split"] == "test" for line in (out / "test.jsonl").read_text().splitlines())


def test_download_one_subset(tmp_path):
    repo = make_hub_like_repo(tmp_path / "repo")
    written = download(tmp_path / "out", source=str(repo), subsets="Art_and_Entertainment", splits="train")
    assert sorted(p.name for p in written) == ["Art_and_Entertainment_train.json", "train.jsonl"]


def test_unreachable_hub_fails_in_one_line(tmp_path):
    # Offline (HF_HUB_OFFLINE=1 in conftest) the Hub id cannot be resolved, as without network.
    with pytest.raises(PR2Error, match=r"cannot load 'alireza7/LaMP-QA' config 'Art_and_Entertainment'") as info:
        download(tmp_path / "out", cache_dir=str(tmp_path / "cache"), subsets="Art_and_Entertainment", splits="test")
    assert "\n" not in str(info.value)
    assert not (tmp_path / "out" / "test.jsonl").exists()


def test_unknown_subset_and_split():
    with pytest.raises(PR2Error, match="unknown LaMP-QA subset 'Sports'"):
        filter_questions([], subsets="Sports")
    with pytest.raises(PR2Error, match="unknown split 'dev'"):
        download("x", splits="dev")


def test_filter_by_split_subset_and_limit(tmp_path):
    repo = make_hub_like_repo(tmp_path / "repo")
    download(tmp_path / "out", source=str(repo), splits="train,test")
    qs = load_questions(tmp_path / "out" / "test.jsonl") + load_questions(tmp_path / "out" / "train.jsonl")
    assert len(filter_questions(qs, split="test")) == 6
    kept = filter_questions(qs, split="train", subsets="Society_and_Culture,Art_and_Entertainment", limit=3)
    assert [q.id for q in kept] == ["0t0", "0t1", "2t0"]


def test_parse_lamp_filename():
    assert parse_lamp_filename("Lifestyle_and_Personal_Development_validation.json") == (
        "Lifestyle_and_Personal_Development",
        "validation",
    )
    assert parse_lamp_filename("test.jsonl") == (None, None)
