"""Large-vocabulary classification head for MOFI-style entity supervision (Wu et al., ICLR 2024):
cross-entropy over millions of entity (or geocell) ids without computing every logit.

MOFI trains an image encoder with a classification loss over ~2M entities next to the CLIP
loss. Its training code is not public (``apple/ml-mofi`` is evaluation only), so this head is
the library's reading of what such a head needs, built from standard pieces:

* a cosine classifier (``normalize=True``): logits ``s · <x̂, ŵ_c>`` with a fixed or learnable
  scale, so the norm of rarely updated class vectors does not bias the softmax;
* sampled softmax over a class subset (``num_sampled``; Partial FC, An et al. 2021): each step
  scores every class present in the gathered batch plus uniformly drawn other classes; only
  those rows of the weight matrix get gradient. ``num_sampled=None`` (or >= the number of
  classes) is the full softmax. The draw is identical on every rank: it uses a generator
  seeded from ``seed`` and a step counter (a buffer, so it is checkpointed and resumes exactly).

The mean over samples goes through :func:`representation.distributed.rank_mean` (DDP-exact).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from representation.distributed.gather import GatherSpec, gather
from representation.distributed.reduce import masked_mean
from representation.functional.info_nce import contrastive_row_losses
from representation.losses.base import SCALE_KEYS, LossBase
from representation.registry import register

MOFI_CITATION = ("Wu et al., MOFI: Learning Image Representations from Noisy Entity Annotated Images, ICLR 2024; "
                 "An et al., Partial FC: Training 10 Million Identities on a Single Machine, ICCVW 2021")
_LABELS = GatherSpec(local_loss=False, with_grad=False)


@register("large_vocab_classifier", kind="head")
class LargeVocabClassifier(LossBase):
    """Entity / geocell classifier with optional sampled softmax.

    Args:
        num_classes: C.
        dim: feature width D.
        normalize: cosine classifier (features and class vectors L2-normalised).
        temperature / learn_scale / init_temperature / max_scale: logit scale (``LossBase``);
            default fixed temperature 0.05 (scale 20) for the cosine classifier.
        num_sampled: classes scored per step (None: all).
        label_smoothing: over the scored classes.
        seed: seed of the class sampling.

    ``logits(x [n, D]) -> [n, C]`` (inference, all classes);
    ``forward(x [n, D], labels [n], return_dict=False) -> loss`` (training).
    """

    name = "entity"
    citation = MOFI_CITATION
    config_keys = ("num_classes", "dim", "normalize", *SCALE_KEYS, "num_sampled", "label_smoothing", "seed")

    def __init__(self, num_classes: int, dim: int, *, normalize: bool = True, temperature: float | None = 0.05,
                 learn_scale: bool = False, init_temperature: float = 0.07, max_scale: float = 100.0,
                 num_sampled: int | None = None, label_smoothing: float = 0.0, seed: int = 0) -> None:
        super().__init__(None if learn_scale else temperature, learn_scale, max_scale=max_scale,
                         init_temperature=init_temperature)
        if num_classes < 1 or dim < 1:
            raise ValueError("num_classes and dim must be >= 1")
        if num_sampled is not None and num_sampled < 1:
            raise ValueError(f"num_sampled must be >= 1 or None, got {num_sampled}")
        self.num_classes, self.dim, self.normalize = int(num_classes), int(dim), bool(normalize)
        self.num_sampled, self.label_smoothing, self.seed = num_sampled, float(label_smoothing), int(seed)
        self.weight = nn.Parameter(torch.randn(num_classes, dim) * dim ** -0.5)
        self.register_buffer("step", torch.zeros((), dtype=torch.long))

    def _scores(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        if self.normalize:
            x, w = F.normalize(x, dim=-1), F.normalize(w, dim=-1)
        return self.resolve_scale(None) * (x @ w.T)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Scores of every class [n, C]."""
        return self._scores(x, self.weight)

    @torch.no_grad()
    def sample_classes(self, batch_labels: torch.Tensor) -> torch.Tensor:
        """Sorted class ids to score: every class in ``batch_labels`` plus random others up to
        ``num_sampled`` (all classes when not sampling)."""
        device = self.weight.device
        if self.num_sampled is None or self.num_sampled >= self.num_classes:
            return torch.arange(self.num_classes, device=device)
        present = torch.unique(batch_labels.to(device))
        n_extra = max(self.num_sampled - present.numel(), 0)
        if n_extra:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + int(self.step))
            taken = torch.zeros(self.num_classes, dtype=torch.bool)
            taken[present.cpu()] = True
            free = torch.nonzero(~taken).flatten()
            extra = free[torch.randperm(free.numel(), generator=g)[:n_extra]].to(device)
            present = torch.cat([present, extra])
        return torch.sort(present).values

    def forward(self, x: torch.Tensor, labels: torch.Tensor, *, return_dict: bool = False
                ) -> torch.Tensor | dict[str, Any]:
        if x.dim() != 2 or x.shape[1] != self.dim or labels.shape != (x.shape[0],):
            raise ValueError(f"expected x [n, {self.dim}] and labels [n], got {tuple(x.shape)}, {tuple(labels.shape)}")
        labels = labels.long()
        if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= self.num_classes):
            raise ValueError(f"labels must be class ids in [0, {self.num_classes})")
        classes = self.sample_classes(gather(labels, _LABELS).tensor)
        if self.training:
            self.step += 1
        logits = self._scores(x, self.weight[classes])
        target = torch.searchsorted(classes, labels.to(classes.device))
        rows, counted = contrastive_row_losses(logits, target, label_smoothing=self.label_smoothing)
        loss = masked_mean(rows, counted)
        return self.output(loss, return_dict, classes_scored=classes.numel())
