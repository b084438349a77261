"""Issue 18: helpers outside the Trainer keep their tensors on the model's device.

The CPU-only check uses a float64 tower: a probe input made without looking at the tower (float32)
fails on it the way a CPU tensor fails on a CUDA tower. The ``gpu`` tests run the helpers on CUDA.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from geoloc.model.tower import VisionTower


class _ConvTower(nn.Module):
    """A non-ViT visual without ``output_dim``: VisionTower probes its output size."""

    def __init__(self) -> None:
        super().__init__()
        self.image_size = 32
        self.conv = nn.Conv2d(3, 5, 3, stride=4)
        self.pool = nn.AdaptiveAvgPool2d(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.conv(x)).flatten(1)


def test_dimension_probe_follows_the_towers_placement():
    assert VisionTower(_ConvTower().double(), embedding="pooled").embed_dim == 5


@pytest.mark.gpu
def test_dimension_probe_on_cuda():
    assert VisionTower(_ConvTower().cuda(), embedding="pooled").embed_dim == 5


@pytest.mark.gpu
def test_aro_accuracy_with_a_cpu_mask_and_cuda_scores():
    from representation.augment.negatives import aro_swap_accuracy

    g = torch.Generator().manual_seed(0)
    img, true, neg = (torch.randn(6, 8, generator=g), torch.randn(6, 8, generator=g), torch.randn(6, 2, 8, generator=g))
    valid = torch.tensor([[True, False]] * 6)
    expect = aro_swap_accuracy(img, true, neg, valid)
    assert aro_swap_accuracy(img.cuda(), true.cuda(), neg.cuda(), valid) == pytest.approx(expect)


@pytest.mark.gpu
def test_fit_clip_on_a_cuda_model():
    from geoloc.zeroshot.synthetic import fit_clip
    from geoloc.zeroshot.text_embed import load_clip

    clip = load_clip("geoloc-tiny-vit", device="cuda")
    pixels = torch.randn(8, 3, 64, 64)
    losses = fit_clip(clip.model, clip.tokenizer, pixels, [["a red place"], ["a blue place"]] * 4,
                      np.array([0, 1] * 4), steps=2, batch_size=8)
    assert len(losses) == 2 and all(np.isfinite(losses))
