import pytest
import torch

from pr2.train.advantage import group_advantages, nonpersonalized_advantages


def test_group_advantage_by_hand():
    # group 1: [1, 0, 0, 1] mean 0.5, unbiased std sqrt(1/3); group 2: [0.2, 0.4, 0.6, 0.8] mean 0.5
    r = torch.tensor([1.0, 0.0, 0.0, 1.0, 0.2, 0.4, 0.6, 0.8])
    a = group_advantages(r, 4)
    s1 = (1 / 3) ** 0.5
    s2 = ((0.09 + 0.01 + 0.01 + 0.09) / 3) ** 0.5
    expected = [0.5 / (s1 + 1e-4), -0.5 / (s1 + 1e-4)] * 1
    assert a[0].item() == pytest.approx(expected[0], rel=1e-5)
    assert a[1].item() == pytest.approx(expected[1], rel=1e-5)
    assert a[4].item() == pytest.approx(-0.3 / (s2 + 1e-4), rel=1e-5)
    assert a[7].item() == pytest.approx(0.3 / (s2 + 1e-4), rel=1e-5)


def test_nonpersonalized_advantage_by_hand():
    r = torch.tensor([0.75, 0.25, 0.5, 0.5])
    r_np = torch.tensor([0.4, 0.4, 0.4, 0.4])
    std = ((0.0625 + 0.0625 + 0 + 0) / 3) ** 0.5
    a = nonpersonalized_advantages(r, r_np, 4)
    assert a.tolist() == pytest.approx(
        [0.35 / (std + 1e-4), -0.15 / (std + 1e-4), 0.1 / (std + 1e-4), 0.1 / (std + 1e-4)], rel=1e-5
    )
    # all better than the non-personalized answer: every advantage positive (GRPO's would sum to zero)
    assert (nonpersonalized_advantages(torch.tensor([0.6, 0.8]), torch.tensor([0.5, 0.5]), 2) > 0).all()


def test_nonpersonalized_advantage_of_a_flat_group_is_the_unscaled_gap():
    a = nonpersonalized_advantages(torch.tensor([0.0, 0.0, 0.0]), torch.tensor([0.25, 0.25, 0.25]), 3)
    assert a.tolist() == pytest.approx([-0.25, -0.25, -0.25])
    assert group_advantages(torch.tensor([0.3, 0.3]), 2).tolist() == [0.0, 0.0]
