"""Which sampled trajectories the warm start keeps (no model needed): the reward decides, not word overlap."""

from pr2.agent.trajectory import Segment, Trajectory
from pr2.train.warm_start import select_trajectories


def episode(qid: str, answer: str, searched: bool = True, ended: str = "answer") -> Trajectory:
    t = Trajectory(qid, [1, 2])
    t.segments = [
        Segment("model", "<search>diet</search>", [3]),
        Segment("information", "\n<information>\n[1] Three years on a halal diet.\n</information>\n", [4]),
        Segment("model", f"<answer>{answer}</answer>", [5]),
    ]
    t.searches, t.answer, t.ended = (["diet"] if searched else []), answer, ended
    return t


def test_the_highest_reward_that_searched_and_answered_is_kept_per_question():
    copier = episode("q", "Three years on a halal diet.")  # reprints the post: no reward of its own
    better = episode("q", "Anything.")
    unsearched = episode("q", "halal", searched=False)
    unanswered = episode("q", "", ended="length")
    kept = select_trajectories([copier, better, unsearched, unanswered], [0.0, 0.5, 1.0, 1.0], keep=1)
    assert [t for t, _ in kept] == [better]
    other = episode("r", "x")
    kept = select_trajectories([copier, other, better], [0.0, 0.0, 0.0], keep=1)
    assert [t.question_id for t, _ in kept] == ["q", "r"] and kept[0][0] is copier  # ties keep sampling order
