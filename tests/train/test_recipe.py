"""A training config says which recipe it is. The paper configs are PR² as published (the judge's reward alone, the
non-personalized baseline in the advantage, inserted text never trained on) and refuse every laptop-only device by
name; the laptop recipe refuses data whose aspects name no evidence post (LaMP-QA's)."""

from pathlib import Path

import pytest

from pr2.agent.trajectory import Segment, Trajectory
from pr2.data import sample_questions
from pr2.errors import PR2Error
from pr2.train.config import LAPTOP_ONLY, TrainConfig, load_train_config
from pr2.train.reward import check_evidence
from pr2.train.trainer import train_fingerprint

ROOT = Path(__file__).resolve().parents[2]
PAPER = sorted((ROOT / "configs").glob("paper-*.yaml"))

# One way to turn on each laptop-only device (what the laptop config sets, or its like).
TURN_ON = {
    "advantage": "advantage=centered",
    "evidence_bonus": "evidence_bonus=0.5",
    "evidence_bonus_needs_answer": "evidence_bonus_needs_answer=true",
    "evidence_bonus_above_chance": "evidence_bonus_above_chance=true",
    "warm_start_search_proposals": "warm_start_search_proposals=[diet, budget]",
    "warm_start_propose_each_search": "warm_start_propose_each_search=true",
    "start_adapter": "start_adapter=src/pr2/assets/laptop/stage2-adapter",
    "agent.answer_prefill": "agent.answer_prefill=About you:",
}


def test_every_laptop_only_setting_has_a_way_to_turn_it_on_here():
    assert set(TURN_ON) == set(LAPTOP_ONLY)


@pytest.mark.parametrize("path", PAPER, ids=lambda p: p.stem)
def test_the_paper_configs_are_pr2_as_published(path):
    config = load_train_config(path)
    assert config.recipe == "paper"
    assert config.advantage == "nonpersonalized"  # (r - r_np) / std
    assert config.evidence_bonus == 0 and config.judge_mode in ("logprob", "generate")  # the judge's reward alone
    assert config.agent.answer_prefill is None and config.start_adapter is None
    assert config.warm_start_search_proposals is None and not config.warm_start_propose_each_search
    # inserted text is never trained on: the loss mask of a rollout is 0 on every information token
    t = Trajectory("q", [1], segments=[Segment("model", "a", [2, 3]), Segment("information", "b", [4, 5, 6])])
    assert t.loss_mask == [1, 1, 0, 0, 0]


@pytest.mark.parametrize("path", PAPER, ids=lambda p: p.stem)
@pytest.mark.parametrize("name", sorted(TURN_ON))
def test_a_paper_config_refuses_each_laptop_only_setting_by_name(path, name):
    with pytest.raises(PR2Error) as err:
        load_train_config(path, [TURN_ON[name]])
    message = str(err.value)
    assert "\n" not in message and f"recipe: paper refuses {name} " in message
    # the same setting under the laptop recipe loads (proposing each search needs the words to propose)
    extra = [TURN_ON["warm_start_search_proposals"]] if name == "warm_start_propose_each_search" else []
    assert load_train_config(path, ["recipe=laptop", TURN_ON[name], *extra]).recipe == "laptop"


def test_the_laptop_config_declares_itself_and_refuses_lamp_qa_shaped_data():
    config = load_train_config(ROOT / "configs" / "laptop.yaml")
    assert config.recipe == "laptop"
    with pytest.raises(PR2Error, match="recipe: laptop needs questions whose aspects name their evidence post"):
        check_evidence({q.id: q for q in sample_questions("train")}, needed_by="recipe: laptop")


def test_an_unknown_recipe_is_a_one_line_error_and_the_recipe_changes_no_fingerprint():
    with pytest.raises(PR2Error, match="recipe must be one of paper, laptop, custom"):
        load_train_config(None, ["recipe=paprer"])
    # a declaration, not a setting: a run made before recipes existed still resumes
    assert train_fingerprint(TrainConfig(recipe="paper")) == train_fingerprint(TrainConfig())


def test_train_holds_a_config_built_in_python_to_its_recipe(tmp_path):
    from pr2.train.trainer import train

    config = TrainConfig(recipe="paper", advantage="centered")
    config.trl["output_dir"] = str(tmp_path / "run")
    with pytest.raises(PR2Error, match="recipe: paper refuses advantage"):
        train(config)


SOURCES = ("PR²", "LaMP-QA", "pr2 choice", "bookkeeping")


@pytest.mark.parametrize("path", PAPER, ids=lambda p: p.stem)
def test_every_paper_setting_says_where_it_comes_from(path):
    """Each setting line ends in a comment that opens with its source; a "pr2 choice" says why after a colon."""
    import yaml

    load_train_config(path)  # the file is a valid config before its comments are read
    data = yaml.safe_load(path.read_text())
    names = set(data) | {f"agent.{k}" for k in data["agent"]}
    seen = set()
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key = line.split(":", 1)[0].strip()
        name = f"agent.{key}" if line.startswith("  ") else key
        if name == "agent":
            continue  # the section's own line names what follows
        seen.add(name)
        comment = line.partition("#")[2].strip()
        assert comment.startswith(SOURCES), f"{path.name}:{number}: {name} carries no source"
        if comment.startswith("pr2 choice"):
            assert comment.startswith("pr2 choice: ") and len(comment) > 20, f"{path.name}:{number}: {name} says no why"
    assert seen == names - {"agent"}
