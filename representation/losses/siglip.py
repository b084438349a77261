"""SigLIP: pairwise sigmoid loss with a learnable logit scale and bias, blocked over
pairs (peak memory ~ chunk^2) and distributed by gathering the keys.

Loss on rank r (local_loss): ``(1 / n) * sum_{i in local rows} sum_{j in all W*n keys}
[softplus(x_ij) - t_ij x_ij]``; SigLIP normalises by the (local) batch size, so DDP's
gradient average over W ranks gives exactly the full-batch loss ``(1 / (W n)) * sum`` over
all pairs. Keys are all-gathered with gradient (the differentiable gather sums each key's
gradient back to its rank); ``gather=GatherSpec(local_loss=False)`` scores all W*n rows on
every rank instead. ``dist_impl="ring"`` passes the keys round the ring with differentiable
neighbour send/recv (``distributed/exchange.py``) instead of all-gathering them: same loss
and gradients, a different communication pattern (W-1 point-to-point hops). The (n x W*n)
logits are never materialised: blocks of ``chunk_size x chunk_size`` are computed in forward
and recomputed in backward.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from representation.distributed import GatherSpec, gather_features, world
from representation.distributed.exchange import ring_pass
from representation.functional.sigmoid import sigmoid_pairwise_sum
from representation.losses.base import LossBase

SIGLIP_CITATION = ("Zhai, Mustafa, Kolesnikov and Beyer, Sigmoid Loss for Language Image Pre-Training, "
                   "ICCV 2023")


class SigLIPLoss(LossBase):
    """Sigmoid pairwise contrastive loss.

    ``forward(q [n, D], k [n, D], *, targets=None, mask=None, logit_scale=None,
    logit_bias=None, return_dict=False)``: row i of k is the positive of row i of q.

    Args:
        temperature: fixed temperature (scale = 1/temperature). Default when neither this
            nor ``learn_scale``: learnable scale, as in the paper.
        learn_scale: learnable clamped scale, initial scale ``1 / init_temperature`` (10).
        init_bias: initial bias (paper: -10); ``learn_bias=False`` keeps it fixed.
        similarity: "cosine" (normalise here) or "dot".
        chunk_size: block edge for the blocked loss (None: one block).
        gather: cross-rank gathering (see module docstring).
        dist_impl: "gather" (all-gather keys) or "ring" (neighbour exchange; needs local_loss).

    ``targets`` / ``mask`` are GLOBAL [W*n, W*n] matrices (gathered rows x gathered keys;
    targets in [0, 1]); each rank uses its row block.
    """

    name = "siglip"
    citation = SIGLIP_CITATION
    config_keys = ("similarity", "chunk_size", "init_bias", "learn_bias", "dist_impl")

    def __init__(self, temperature: float | None = None, learn_scale: bool | None = None, *,
                 init_temperature: float = 0.1, init_bias: float = -10.0, learn_bias: bool = True,
                 similarity: str = "cosine", chunk_size: int | None = None,
                 gather: GatherSpec | None = None, dist_impl: str = "gather", max_scale: float = 100.0) -> None:
        if learn_scale is None:
            learn_scale = temperature is None
        super().__init__(temperature=temperature, learn_scale=learn_scale, max_scale=max_scale,
                         init_temperature=init_temperature)
        if similarity not in ("cosine", "dot"):
            raise ValueError(f"similarity must be 'cosine' or 'dot', got {similarity!r}")
        if chunk_size is not None and chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
        self.init_bias = float(init_bias)
        self.learn_bias = learn_bias
        self.similarity = similarity
        self.chunk_size = chunk_size
        self.gather = gather if gather is not None else GatherSpec()
        if dist_impl not in ("gather", "ring"):
            raise ValueError(f"dist_impl must be 'gather' or 'ring', got {dist_impl!r}")
        if dist_impl == "ring" and not (self.gather.local_loss and self.gather.with_grad):
            raise ValueError("dist_impl='ring' needs GatherSpec(local_loss=True, with_grad=True)")
        self.dist_impl = dist_impl
        self.init_temperature = init_temperature
        if learn_bias:
            self.bias = nn.Parameter(torch.tensor(self.init_bias))
        else:
            self.register_buffer("bias", torch.tensor(self.init_bias))

    def get_config_dict(self) -> dict[str, Any]:
        cfg = super().get_config_dict()
        cfg.update(init_temperature=self.init_temperature, local_loss=self.gather.local_loss,
                   with_grad=self.gather.with_grad)
        return cfg

    def forward(self, q: torch.Tensor, k: torch.Tensor, *, targets: torch.Tensor | None = None,
                mask: torch.Tensor | None = None, logit_scale: torch.Tensor | float | None = None,
                logit_bias: torch.Tensor | float | None = None,
                return_dict: bool = False) -> torch.Tensor | dict[str, Any]:
        if q.dim() != 2 or q.shape != k.shape:
            raise ValueError(f"q and k must both be [n, D], got {tuple(q.shape)} and {tuple(k.shape)}")
        if self.similarity == "cosine":
            q = nn.functional.normalize(q, dim=1)
            k = nn.functional.normalize(k, dim=1)
        scale = self.resolve_scale(logit_scale)
        bias = self.bias if logit_bias is None else logit_bias
        rank, size = world()
        local = self.gather.local_loss or size == 1
        n = q.shape[0]
        for name_, mat in (("targets", targets), ("mask", mask)):
            if mat is not None and tuple(mat.shape) != (n * size, n * size):
                raise ValueError(f"{name_} must be the global [{n * size}, {n * size}] matrix, got "
                                 f"{tuple(mat.shape)}")
        if self.dist_impl == "ring" and size > 1:
            total = q.new_zeros(())
            rows_sl = slice(rank * n, (rank + 1) * n)
            for src, k_s in ring_pass(k):
                cols_sl = slice(src * n, (src + 1) * n)
                t = None if targets is None else targets[rows_sl, cols_sl]
                m = None if mask is None else mask[rows_sl, cols_sl]
                total = total + sigmoid_pairwise_sum(q, k_s, scale, bias, targets=t, mask=m,
                                                     pos_offset=0 if src == rank else None,
                                                     chunk_size=self.chunk_size)
            return self.output(total / n, return_dict, logit_scale=scale, logit_bias=bias)
        all_k = gather_features(k, self.gather)
        rows = q if local else gather_features(q, self.gather)
        offset = rank * n if local else 0
        t = None if targets is None else targets[offset:offset + rows.shape[0]]
        m = None if mask is None else mask[offset:offset + rows.shape[0]]
        total = sigmoid_pairwise_sum(rows, all_k, scale, bias, targets=t, mask=m,
                                     pos_offset=offset if t is None else 0, chunk_size=self.chunk_size)
        loss = total / rows.shape[0]
        return self.output(loss, return_dict, logit_scale=scale, logit_bias=bias)
