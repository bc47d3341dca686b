"""How well the policy follows the protocol over a run."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from pr2.agent.trajectory import Trajectory


@dataclass
class RunSummary:
    trajectories: int
    answered: float
    """Share of trajectories that ended with an <answer>."""
    searched: float
    """Share that searched at least once."""
    searches_per_trajectory: float
    mean_completion_tokens: float
    without_answer: int
    """Trajectories left with an empty answer (counted, not dropped)."""
    ended: dict[str, int]

    def to_record(self) -> dict:
        return asdict(self)

    def lines(self) -> list[str]:
        return [
            f"trajectories: {self.trajectories}   answered: {self.answered:.0%}   searched: {self.searched:.0%}   "
            f"searches/trajectory: {self.searches_per_trajectory:.2f}   tokens/trajectory: "
            f"{self.mean_completion_tokens:.0f}",
            f"ended: {', '.join(f'{k} {v}' for k, v in sorted(self.ended.items()))}   "
            f"without an answer: {self.without_answer}",
        ]


def summarize(trajectories: Sequence[Trajectory]) -> RunSummary:
    n = max(len(trajectories), 1)
    return RunSummary(
        trajectories=len(trajectories),
        answered=sum(t.ended == "answer" for t in trajectories) / n,
        searched=sum(bool(t.searches) for t in trajectories) / n,
        searches_per_trajectory=sum(len(t.searches) for t in trajectories) / n,
        mean_completion_tokens=sum(len(t.completion_ids) for t in trajectories) / n,
        without_answer=sum(not t.answer for t in trajectories),
        ended=dict(Counter(t.ended or "unfinished" for t in trajectories)),
    )
