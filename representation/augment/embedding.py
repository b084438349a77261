"""CLOSE embedding augmentations (Gu et al., "I Can't Believe There's No Images!", ICCV 2023).

Train a head on CLIP **text** embeddings, apply it to **image** embeddings. The modality
gap is bridged by perturbing the text embeddings during training only:

* :class:`GaussianNoise`: ``x + N(0, sigma^2 I)`` then renormalise to unit L2 norm
  (``sigma`` 0.04-0.12 in the paper; the released code's default is 0.08). Identity in eval.
* :class:`MeanShift`: ``x + (mu_target - mu_source)`` then renormalise, with the two
  modality means estimated from (unpaired) data by :meth:`MeanShift.fit`. Training only
  by default (``apply_in_eval=False``).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from representation.registry import register


@register("gaussian_noise", kind="augment")
class GaussianNoise(nn.Module):
    """Additive isotropic Gaussian noise then L2 renormalisation; identity in eval mode.

    Args:
        std: noise standard deviation per dimension (``sigma``).
        renormalize: project the result back onto the unit sphere.
        generator: optional ``torch.Generator`` for reproducible noise.

    ``forward(x [..., D]) -> [..., D]``.
    """

    citation = "Gu et al., I Can't Believe There's No Images! Learning Visual Tasks Using Only Language Supervision, ICCV 2023"

    def __init__(self, std: float = 0.08, renormalize: bool = True,
                 generator: torch.Generator | None = None) -> None:
        super().__init__()
        if std < 0:
            raise ValueError(f"std must be >= 0, got {std}")
        self.std, self.renormalize, self.generator = float(std), renormalize, generator

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return x
        gen_device = self.generator.device if self.generator is not None else x.device
        noise = torch.randn(x.shape, generator=self.generator, dtype=x.dtype, device=gen_device).to(x.device)
        out = x + self.std * noise
        return F.normalize(out, dim=-1) if self.renormalize else out

    runtime_keys = ("generator",)

    def get_config_dict(self) -> dict[str, Any]:
        return {"std": self.std, "renormalize": self.renormalize}


@register("mean_shift", kind="augment")
class MeanShift(nn.Module):
    """Shift by the difference of modality means, then renormalise.

    Args:
        shift: [D] vector added to every embedding (``mu_target - mu_source``); zeros by
            default, set it with :meth:`fit`.
        apply_in_eval: also shift in eval mode (default False: a training augmentation).

    ``forward(x [..., D]) -> [..., D]``.
    """

    citation = GaussianNoise.citation

    def __init__(self, dim: int, renormalize: bool = True, apply_in_eval: bool = False) -> None:
        super().__init__()
        self.register_buffer("shift", torch.zeros(dim))
        self.renormalize, self.apply_in_eval = renormalize, apply_in_eval

    @torch.no_grad()
    def fit(self, source: torch.Tensor, target: torch.Tensor) -> MeanShift:
        """Set ``shift = mean(normalize(target)) - mean(normalize(source))`` from [Ns, D]
        source-modality (text) and [Nt, D] target-modality (image) samples."""
        if source.shape[-1] != self.shift.shape[0] or target.shape[-1] != self.shift.shape[0]:
            raise ValueError(f"expected [*, {self.shift.shape[0]}] inputs")
        delta = F.normalize(target.float(), dim=-1).mean(0) - F.normalize(source.float(), dim=-1).mean(0)
        self.shift.copy_(delta.to(self.shift.dtype))
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training and not self.apply_in_eval:
            return x
        out = x + self.shift.to(x.dtype)
        return F.normalize(out, dim=-1) if self.renormalize else out

    def get_config_dict(self) -> dict[str, Any]:
        return {"dim": int(self.shift.shape[0]), "renormalize": self.renormalize,
                "apply_in_eval": self.apply_in_eval}
