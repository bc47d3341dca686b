"""Which sampled trajectories the warm start keeps (no model needed)."""

from pr2.agent.trajectory import Segment, Trajectory, grounding
from pr2.train.warm_start import select_trajectories


def episode(qid: str, answer: str, post: str, searched: bool = True, ended: str = "answer") -> Trajectory:
    t = Trajectory(qid, [1, 2])
    t.segments = [
        Segment("model", "<search>diet</search>", [3]),
        Segment(
            "information", f"\n<information>\nDo not search again: write your final answer now.\n[1] {post}\n", [4]
        ),
        Segment("model", f"<answer>{answer}</answer>", [5]),
    ]
    t.searches, t.answer, t.ended = (["diet"] if searched else []), answer, ended
    return t


POST = "Three years on a halal diet and I still get asked about protein."


def test_grounding_counts_words_from_the_posts_not_from_the_loops_notes():
    assert grounding(episode("q", "Cook halal dishes with protein.", POST)) == 2  # halal, protein
    assert grounding(episode("q", "Write your final answer now.", POST)) == 0  # echoing the note is not grounding


def test_equal_rewards_keep_the_answer_that_uses_what_it_read():
    generic = episode("q", "Cook something nice.", POST)
    grounded = episode("q", "A halal diet: try lentil protein bowls.", POST)
    unsearched = episode("q", "halal diet protein", POST, searched=False)
    kept = select_trajectories([generic, grounded, unsearched], [0.0, 0.0, 0.0], keep=1)
    assert [t for t, _ in kept] == [grounded]
    better = episode("q", "Anything.", POST)
    kept = select_trajectories([grounded, better], [0.0, 0.5], keep=1)
    assert [t for t, _ in kept] == [better]  # the reward decides first
