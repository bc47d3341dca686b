import pytest
import torch

from pr2.train.advantage import nonpersonalized_advantages


def test_nonpersonalized_advantage_by_hand():
    r = torch.tensor([0.75, 0.25, 0.5, 0.5])
    r_np = torch.tensor([0.4, 0.4, 0.4, 0.4])
    std = ((0.0625 + 0.0625 + 0 + 0) / 3) ** 0.5  # 0.204 > the floor: the paper's estimator unchanged
    a = nonpersonalized_advantages(r, r_np, 4, std_floor=0.1)
    assert a.tolist() == pytest.approx([0.35 / std, -0.15 / std, 0.1 / std, 0.1 / std], rel=1e-5)
    # all better than the non-personalized answer: every advantage positive (GRPO's would sum to zero)
    assert (nonpersonalized_advantages(torch.tensor([0.6, 0.8]), torch.tensor([0.5, 0.5]), 2, 0.1) > 0).all()


def test_a_near_flat_group_cannot_explode():
    # The case: without a floor (TRL's eps 1e-4) this gives about 333 for all four.
    r = torch.tensor([0.40, 0.401, 0.40, 0.40])
    a = nonpersonalized_advantages(r, torch.full((4,), 0.2), 4, std_floor=0.1)
    assert a.tolist() == pytest.approx([2.0, 2.01, 2.0, 2.0], rel=1e-4)
    flat = nonpersonalized_advantages(torch.zeros(3), torch.full((3,), 0.25), 3, std_floor=0.1)
    assert flat.tolist() == pytest.approx([-2.5, -2.5, -2.5])
