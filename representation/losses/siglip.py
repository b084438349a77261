"""SigLIP: pairwise sigmoid loss with a learnable logit scale and bias, blocked over
pairs (peak memory ~ chunk^2) and distributed by gathering the keys.

The full-batch loss is ``(1 / N) * sum_{i in all N rows} sum_{j in all keys} [softplus(x_ij) -
t_ij x_ij]`` (SigLIP normalises by the batch size). Each rank sums the pairs of its own rows
and :func:`representation.distributed.rank_mean` divides by the global row count, so DDP's
gradient average gives exactly the full-batch gradient (also with uneven batches) and the value
on every rank is the full-batch loss. Keys are all-gathered with gradient (the differentiable
gather sums each key's gradient back to its rank); ``gather=GatherSpec(local_loss=False)``
scores all N rows on every rank instead. ``dist_impl="ring"`` passes the keys round the ring with differentiable
neighbour send/recv (``distributed/exchange.py``) instead of all-gathering them: same loss
and gradients, a different communication pattern (W-1 point-to-point hops). The (n x W*n)
logits are never materialised: blocks of ``chunk_size x chunk_size`` are computed in forward
and recomputed in backward.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from representation.distributed import GatherSpec, gather, gather_sizes, rank_mean, world
from representation.distributed.blocks import Dense, row_block
from representation.distributed.exchange import ring_pass
from representation.distributed.gather import Layout
from representation.functional.sigmoid import sigmoid_pairwise_sum
from representation.losses.base import LossBase
from representation.registry import register

SIGLIP_CITATION = ("Zhai, Mustafa, Kolesnikov and Beyer, Sigmoid Loss for Language Image Pre-Training, "
                   "ICCV 2023")


@register("siglip", kind="loss")
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

    ``targets`` / ``mask`` are GLOBAL [N, N] matrices (gathered rows x gathered keys;
    targets in [0, 1]); each rank uses its row block. ``dist_impl="ring"`` needs the same batch
    size on every rank.
    """

    name = "siglip"
    citation = SIGLIP_CITATION
    config_keys = ("temperature", "learn_scale", "init_temperature", "max_scale", "init_bias", "learn_bias",
                   "similarity", "chunk_size", "gather", "dist_impl")

    def __init__(self, temperature: float | None = None, learn_scale: bool | None = None, *,
                 init_temperature: float = 0.1, init_bias: float = -10.0, learn_bias: bool = True,
                 similarity: str = "cosine", chunk_size: int | None = None,
                 gather: GatherSpec | dict[str, bool] | None = None, dist_impl: str = "gather",
                 max_scale: float = 100.0) -> None:
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
        self.gather = GatherSpec.coerce(gather)
        if dist_impl not in ("gather", "ring"):
            raise ValueError(f"dist_impl must be 'gather' or 'ring', got {dist_impl!r}")
        if dist_impl == "ring" and not (self.gather.local_loss and self.gather.with_grad):
            raise ValueError("dist_impl='ring' needs GatherSpec(local_loss=True, with_grad=True)")
        self.dist_impl = dist_impl
        if learn_bias:
            self.bias = nn.Parameter(torch.tensor(self.init_bias))
        else:
            self.register_buffer("bias", torch.tensor(self.init_bias))

    def forward(self, q: torch.Tensor, k: torch.Tensor, *, targets: Dense = None,
                mask: Dense = None, logit_scale: torch.Tensor | float | None = None,
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
        spec = self.gather
        sizes = gather_sizes(q.shape[0], device=q.device)[0] if size > 1 else (q.shape[0],)
        layout = Layout(sizes, rank)
        n_all = layout.total
        if self.dist_impl == "ring" and size > 1:
            if len(set(sizes)) != 1:
                raise ValueError(f"dist_impl='ring' needs the same batch size on every rank, got {sizes}; "
                                 "use dist_impl='gather' for uneven batches")
            n = q.shape[0]
            t_rows = row_block(targets, layout, spec, n_all, name="targets", device=q.device)
            m_rows = row_block(mask, layout, spec, n_all, name="mask", device=q.device)
            total = q.new_zeros(())
            for src, k_s in ring_pass(k):
                cols = slice(src * n, (src + 1) * n)
                total = total + sigmoid_pairwise_sum(
                    q, k_s, scale, bias, targets=None if t_rows is None else t_rows[:, cols],
                    mask=None if m_rows is None else m_rows[:, cols], pos_offset=0 if src == rank else None,
                    chunk_size=self.chunk_size)
            loss = rank_mean(total, n, spec)
            return self.output(loss, return_dict, logit_scale=scale, logit_bias=bias)
        all_k = gather(k, spec, sizes=sizes).tensor
        rows = q if spec.local_loss else gather(q, spec, sizes=sizes).tensor
        offset = layout.offset if spec.local_loss else 0
        t = row_block(targets, layout, spec, n_all, name="targets", device=q.device)
        m = row_block(mask, layout, spec, n_all, name="mask", device=q.device)
        total = sigmoid_pairwise_sum(rows, all_k, scale, bias, targets=t, mask=m,
                                     pos_offset=offset if t is None else 0, chunk_size=self.chunk_size)
        loss = rank_mean(total, rows.shape[0], spec)
        return self.output(loss, return_dict, logit_scale=scale, logit_bias=bias)
