"""The improved CLIP recipe of Fini et al. ("Improved baselines for vision-language
pre-training", TMLR 2023; code ``facebookresearch/clip-rocket`` ``losses.py::CL2LLoss``).

CLIP on the global image / caption embeddings plus ``A`` augmented views (image crops, EDA
captions, :class:`representation.augment.text.EDA`) projected by a separate "local" projector
(:class:`ViewProjectors`). As in the reference:

* the local terms contrast EVERY image view with EVERY text view (A x A symmetric CLIP terms,
  averaged), with label smoothing (0.1) and their own learnable logit scale (``h_logit_scale``,
  initial temperature 0.1) when the global scale is learnable;
* each direction is ``(global + A * mean_local) / (1 + A)`` and the loss is the mean of the two
  directions (``sum_directions=True``: their sum, the reference's ``--loss-avg-or-sum sum``);
* ``num_augs = 0`` is the CLIP loss, ``label_smoothing = 0`` makes each local term plain CLIP.

Library options (not the reference's defaults): ``view_pairs="matched"`` pairs image view a
with text view a only (A terms); ``separate_local_scale=False`` uses the global scale for the
local terms (the reference without ``--separate-proj``). The reference gathers without gradient
(only local anchors get gradient); here the gather follows ``GatherSpec`` (default with
gradient: DDP equals full-batch training; ``GatherSpec(with_grad=False)`` reproduces the
reference).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from representation.distributed.gather import GatherSpec
from representation.losses.base import SCALE_KEYS, LossBase
from representation.losses.multi_positive import clip_pair_loss
from representation.registry import register

CL2L_CITATION = "Fini et al., Improved baselines for vision-language pre-training, TMLR 2023"


@register("view_projectors", kind="head")
class ViewProjectors(nn.Module):
    """Projectors for the global view and the augmented ("local") views.

    ``proj(x [B, D_in], view) -> [B, D_out]``: view 0 is the global CLIP view, views 1..A the
    augmented ones. As in clip-rocket (``--separate-proj``), all augmented views share ONE local
    projector separate from the global one (``separate_local=True, shared_local=True``);
    ``separate_local=False`` uses the global projector for every view; ``shared_local=False``
    gives each augmented view its own projector (``num_augs`` of them).
    """

    citation = CL2L_CITATION

    def __init__(self, in_dim: int, out_dim: int, num_augs: int = 1, bias: bool = False,
                 separate_local: bool = True, shared_local: bool = True) -> None:
        super().__init__()
        self.in_dim, self.out_dim, self.num_augs, self.bias = in_dim, out_dim, num_augs, bias
        self.separate_local, self.shared_local = separate_local, shared_local
        n_local = 0 if not separate_local else (1 if shared_local else num_augs)
        self.heads = nn.ModuleList(nn.Linear(in_dim, out_dim, bias=bias) for _ in range(1 + n_local))

    def forward(self, x: torch.Tensor, view: int) -> torch.Tensor:
        if view < 0 or view > self.num_augs:
            raise ValueError(f"view must be in [0, {self.num_augs}], got {view}")
        if view == 0 or not self.separate_local:
            return self.heads[0](x)
        return self.heads[1 if self.shared_local else view](x)

    def get_config_dict(self) -> dict[str, Any]:
        return {"in_dim": self.in_dim, "out_dim": self.out_dim, "num_augs": self.num_augs, "bias": self.bias,
                "separate_local": self.separate_local, "shared_local": self.shared_local}


@register("cl2l", kind="loss")
class CL2LLoss(LossBase):
    """``forward(image [B, D], text [B, D], *, image_views=None [A, B, D], text_views=None
    [A, B, D], logit_scale=None, local_logit_scale=None, return_dict=False)``.

    Args:
        temperature / learn_scale / init_temperature / max_scale: the global scale (LossBase).
        label_smoothing: smoothing of the local terms (reference 0.1; global term unsmoothed).
        separate_local_scale: local terms use their own scale (reference ``--separate-proj``):
            learnable (initial temperature ``local_init_temperature`` = 0.1) when ``learn_scale``,
            else fixed ``local_temperature`` (default: the global temperature).
        view_pairs: ``"all"`` (reference: every image view x every text view) or ``"matched"``.
        sum_directions: image and text directions summed instead of averaged (loss x 2).
        normalize: L2-normalise every embedding first (the reference does).
        gather: ``GatherSpec`` (see module docstring).

    Dict output: ``clip_loss`` (global part) and ``cl2l_aug_loss`` (local part), summing to the
    total; logs hold the unweighted terms and both scales.
    """

    name = "cl2l"
    citation = CL2L_CITATION
    config_keys = (*SCALE_KEYS, "label_smoothing", "separate_local_scale", "local_temperature",
                   "local_init_temperature", "view_pairs", "sum_directions", "normalize", "gather")

    def __init__(self, temperature: float | None = None, learn_scale: bool = False, *,
                 label_smoothing: float = 0.1, separate_local_scale: bool = True,
                 local_temperature: float | None = None, local_init_temperature: float = 0.1,
                 view_pairs: str = "all", sum_directions: bool = False, normalize: bool = True,
                 gather: GatherSpec | dict[str, bool] | None = None, max_scale: float = 100.0,
                 init_temperature: float = 0.07) -> None:
        super().__init__(temperature, learn_scale, max_scale=max_scale, init_temperature=init_temperature)
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
        if view_pairs not in ("all", "matched"):
            raise ValueError(f"view_pairs must be 'all' or 'matched', got {view_pairs!r}")
        self.label_smoothing = float(label_smoothing)
        self.init_local_scale(separate_local_scale, local_temperature, local_init_temperature)
        self.view_pairs, self.sum_directions, self.normalize = view_pairs, bool(sum_directions), bool(normalize)
        self.gather = GatherSpec.coerce(gather)

    def forward(self, image: torch.Tensor, text: torch.Tensor, *, image_views: torch.Tensor | None = None,
                text_views: torch.Tensor | None = None, logit_scale: torch.Tensor | float | None = None,
                local_logit_scale: torch.Tensor | float | None = None, return_dict: bool = False
                ) -> torch.Tensor | dict[str, Any]:
        if (image_views is None) != (text_views is None):
            raise ValueError("give both image_views and text_views, or neither")
        if image_views is not None and (image_views.dim() != 3 or image_views.shape != text_views.shape):
            raise ValueError(f"views must both be [A, B, D], got {tuple(image_views.shape)} and "
                             f"{tuple(text_views.shape)}")
        norm = (lambda x: F.normalize(x, dim=-1)) if self.normalize else (lambda x: x)
        scale = self.resolve_scale(logit_scale)
        base = clip_pair_loss(norm(image), norm(text), scale, spec=self.gather)
        n_augs = 0 if image_views is None else image_views.shape[0]
        local = base.new_zeros(())
        if n_augs:
            h_scale = self.resolve_local_scale(logit_scale, local_logit_scale)
            iv, tv = norm(image_views), norm(text_views)
            pairs = ([(a, b) for a in range(n_augs) for b in range(n_augs)] if self.view_pairs == "all"
                     else [(a, a) for a in range(n_augs)])
            local = torch.stack([clip_pair_loss(iv[a], tv[b], h_scale, label_smoothing=self.label_smoothing,
                                                spec=self.gather) for a, b in pairs]).mean()
        factor = (2.0 if self.sum_directions else 1.0) / (1 + n_augs)
        total = factor * (base + n_augs * local)
        if not return_dict:
            return total
        out: dict[str, Any] = {"clip_loss": factor * base}
        logs: dict[str, Any] = {"clip": base.detach(), "num_augs": n_augs, "logit_scale": scale}
        if n_augs:
            out["cl2l_aug_loss"] = factor * n_augs * local
            logs.update(local=local.detach(), local_logit_scale=h_scale)
        out["logs"] = {k: (v.detach() if torch.is_tensor(v) else v) for k, v in logs.items()}
        return out
