"""Advantage estimators, on one screen.

Rewards arrive grouped: `group_size` consecutive completions share one question.
- group (standard GRPO): A = (r - mean of the group) / (std of the group + eps)
- nonpersonalized (PR²): A = (r - r_np) / (std of the group + eps), where r_np is the judged reward of the reference
  policy's answer to the same question without access to the profile. Only personalization beyond what the model
  already knows is rewarded.
The std is the unbiased sample std, as TRL computes it, and eps is TRL's 1e-4.

A group whose rewards are all equal has std 0: GRPO's advantage is then 0, but PR²'s (r - r_np) / eps would be
about 10^4 times the reward gap and swamp the update. There the gap is used unscaled: (r - r_np) / 1.
"""

from __future__ import annotations

import torch

EPS = 1e-4


def _group_std(rewards: torch.Tensor, group_size: int) -> torch.Tensor:
    groups = rewards.view(-1, group_size)
    std = groups.std(dim=1, unbiased=True) if group_size > 1 else torch.zeros(groups.shape[0])
    return std.repeat_interleave(group_size)


def group_advantages(rewards: torch.Tensor, group_size: int, eps: float = EPS) -> torch.Tensor:
    mean = rewards.view(-1, group_size).mean(dim=1).repeat_interleave(group_size)
    return (rewards - mean) / (_group_std(rewards, group_size) + eps)


def nonpersonalized_advantages(
    rewards: torch.Tensor, r_np: torch.Tensor, group_size: int, eps: float = EPS
) -> torch.Tensor:
    std = _group_std(rewards, group_size)
    scale = torch.where(std > eps, std + eps, torch.ones_like(std))
    return (rewards - r_np) / scale
