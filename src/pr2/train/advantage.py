"""PR²'s advantage, on one screen.

Rewards arrive grouped: `group_size` consecutive completions share one question. PR² (the paper's estimator):
A = (r - r_np) / std of the group, where r_np is the judged reward of the reference policy's answer to the same
question without access to the profile: only personalization beyond what the model already knows is rewarded.
The std is the unbiased sample std, as TRL computes it for standard GRPO (`advantage: group`, left to TRL).

A near-flat group makes that division explode (rewards 0.40, 0.401, 0.40, 0.40 with r_np 0.2: A = 333 for all four
at TRL's eps of 1e-4). The std is therefore floored at `std_floor` (TrainConfig.advantage_std_floor, 0.1 by default,
argued there): groups that separate their samples keep the paper's estimator exactly.

Where r_np is 0 for every question (a fact benchmark: an answer that never saw the profile states no fact), r - r_np
is never negative and the paper's estimator only ever pushes episodes up. `centered` subtracts the group's mean of
r - r_np as well, so the worse half of a group is pushed down; with r_np the same within a group it equals GRPO's
group advantage over r - r_np.
"""

from __future__ import annotations

import torch


def group_std(rewards: torch.Tensor, group_size: int) -> torch.Tensor:
    """The std of each completion's group, one value per completion (0 for groups of one)."""
    groups = rewards.view(-1, group_size)
    std = groups.std(dim=1, unbiased=True) if group_size > 1 else torch.zeros_like(groups[:, 0])
    return std.repeat_interleave(group_size)


def nonpersonalized_advantages(
    rewards: torch.Tensor, r_np: torch.Tensor, group_size: int, std_floor: float
) -> torch.Tensor:
    return (rewards - r_np) / group_std(rewards, group_size).clamp(min=std_floor)


def centered_advantages(rewards: torch.Tensor, r_np: torch.Tensor, group_size: int, std_floor: float) -> torch.Tensor:
    gain = (rewards - r_np).view(-1, group_size)
    centred = (gain - gain.mean(dim=1, keepdim=True)).reshape(-1)
    return centred / group_std(rewards, group_size).clamp(min=std_floor)
