"""Loss wrappers: Matryoshka representation learning (Kusupati et al., NeurIPS 2022;
sentence-transformers' ``MatryoshkaLoss``).

``MatryoshkaLoss(loss, dims=[768, 256, 64])(q, k, ...)`` evaluates the wrapped loss on the first
``d`` dimensions of every embedding argument for each ``d`` and sums the weighted results, so
every prefix of the embedding is a usable embedding. An argument is an embedding when it is a
floating tensor whose last dimension equals the full dimension (the last dimension of the first
positional argument); other arguments (labels, targets [N, M] with M != D) pass unchanged. The
wrapped loss normalises the truncated embeddings itself (cosine losses do), and its learnable
parameters (a logit scale) are shared by all dims, as in sentence-transformers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from representation.losses.base import sum_losses
from representation.registry import register, resolve


@register("matryoshka", kind="wrapper")
class MatryoshkaLoss(nn.Module):
    """Args:
        loss: the wrapped loss (module or config).
        dims: embedding sizes, e.g. ``[768, 512, 256, 128, 64]`` (each at most the full size).
        weights: one weight per dim (default 1 each).

    ``forward(*args, return_dict=False, **kwargs)``; with ``return_dict`` the output holds
    ``matryoshka_<d>_loss`` per dim (weighted), summing to the total.
    """

    citation = "Kusupati et al., Matryoshka Representation Learning, NeurIPS 2022"
    config_keys = ("loss", "dims", "weights")

    def __init__(self, loss: nn.Module | dict[str, Any], dims: Sequence[int], weights: Sequence[float] | None = None
                 ) -> None:
        super().__init__()
        if not dims or any(int(d) < 1 for d in dims):
            raise ValueError(f"dims must be positive sizes, got {dims}")
        if weights is not None and len(weights) != len(dims):
            raise ValueError(f"{len(weights)} weights for {len(dims)} dims")
        self.loss = resolve(loss)
        self.dims = [int(d) for d in dims]
        self.weights = [1.0] * len(dims) if weights is None else [float(w) for w in weights]

    def forward(self, *args: Any, return_dict: bool = False, **kwargs: Any) -> torch.Tensor | dict[str, Any]:
        if not args or not torch.is_tensor(args[0]):
            raise ValueError("the first argument must be an embedding tensor [..., D]")
        full = args[0].shape[-1]
        if max(self.dims) > full:
            raise ValueError(f"dims {self.dims} exceed the embedding size {full}")

        def cut(x: Any, d: int) -> Any:
            if torch.is_tensor(x) and x.is_floating_point() and x.dim() >= 2 and x.shape[-1] == full:
                return x[..., :d]
            return x

        out: dict[str, Any] = {}
        for d, w in zip(self.dims, self.weights, strict=True):
            value = self.loss(*(cut(a, d) for a in args), **{k: cut(v, d) for k, v in kwargs.items()})
            term = sum_losses(value) if isinstance(value, dict) else value
            out[f"matryoshka_{d}_loss"] = w * term
        if not return_dict:
            return sum_losses(out)
        out["logs"] = {k: v.detach() for k, v in out.items()}
        return out

    def get_config_dict(self) -> dict[str, Any]:
        from representation.registry import to_config

        return {"loss": to_config(self.loss), "dims": list(self.dims), "weights": list(self.weights)}
