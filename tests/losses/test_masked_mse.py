"""MAE's reconstruction targets: per-patch normalised pixels."""

from __future__ import annotations

import torch

from pretrainkit.losses.masked_mse import normalize_patches


def test_normalised_targets_have_zero_mean_and_unit_variance_per_patch():
    torch.manual_seed(0)
    scale, shift = torch.rand(4, 16, 1) * 5 + 0.5, torch.randn(4, 16, 1) * 3  # per patch
    patches = torch.randn(4, 16, 12) * scale + shift
    target = normalize_patches(patches)
    torch.testing.assert_close(target.mean(-1), torch.zeros(4, 16), atol=1e-5, rtol=0)
    torch.testing.assert_close(target.var(-1), torch.ones(4, 16), atol=1e-3, rtol=0)
