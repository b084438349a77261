"""SigLIP's pairwise sigmoid loss, computed in blocks so that peak memory grows with the
block size, not with N x M.

For logits ``x_ij = scale * <q_i, k_j> + bias`` and targets ``t_ij`` in [0, 1] (1 for a
positive pair) the loss is the binary cross-entropy summed over all valid pairs::

    sum_ij  softplus(x_ij) - t_ij * x_ij   ( = -log sigmoid(z_ij x_ij) for t in {0, 1}, z = 2t - 1 )

:func:`sigmoid_pairwise_sum` evaluates it with a custom autograd Function that keeps only
``q``, ``k`` (and the optional dense targets / mask) for backward and recomputes each
block's logits there, so no [N, M] tensor is ever alive (unless you pass one as
``targets``/``mask``).

The Function is autocast-aware (``torch.amp.custom_fwd(cast_inputs=torch.float32)`` /
``custom_bwd``, one subclass per device type): inside a bf16 / fp16 autocast region its
inputs are cast to float32 and forward and backward both run with autocast disabled, so the
backward recomputes exactly the blocks the forward summed.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
import torch.nn.functional as F


def _blocks(n: int, m: int, chunk: int) -> Iterator[tuple[int, int, int, int]]:
    for rs in range(0, n, chunk):
        for cs in range(0, m, chunk):
            yield rs, min(n, rs + chunk), cs, min(m, cs + chunk)


def _block_targets(rs: int, re: int, cs: int, ce: int, pos_offset: int | None, targets: torch.Tensor | None,
                   like: torch.Tensor) -> torch.Tensor:
    if targets is not None:
        return targets[rs:re, cs:ce].to(like.dtype)
    if pos_offset is None:  # negatives only
        return torch.zeros_like(like)
    rows = torch.arange(rs, re, device=like.device).unsqueeze(1) + pos_offset
    cols = torch.arange(cs, ce, device=like.device).unsqueeze(0)
    return (rows == cols).to(like.dtype)


def _forward(ctx: Any, q: torch.Tensor, k: torch.Tensor, scale: torch.Tensor, bias: torch.Tensor,
             targets: torch.Tensor | None, mask: torch.Tensor | None, pos_offset: int | None,
             chunk: int) -> torch.Tensor:
    ctx.save_for_backward(q, k, scale, bias, targets, mask)
    ctx.pos_offset, ctx.chunk = pos_offset, chunk
    total = torch.zeros((), dtype=q.dtype, device=q.device)
    for rs, re, cs, ce in _blocks(q.shape[0], k.shape[0], chunk):
        x = (q[rs:re] @ k[cs:ce].T) * scale + bias
        t = _block_targets(rs, re, cs, ce, pos_offset, targets, x)
        term = F.softplus(x) - t * x
        if mask is not None:
            term = term.masked_fill(~mask[rs:re, cs:ce], 0.0)
        total = total + term.sum()
    return total


def _backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
    q, k, scale, bias, targets, mask = ctx.saved_tensors
    gq = torch.zeros_like(q) if ctx.needs_input_grad[0] else None
    gk = torch.zeros_like(k) if ctx.needs_input_grad[1] else None
    gscale = torch.zeros_like(scale)
    gbias = torch.zeros_like(bias)
    for rs, re, cs, ce in _blocks(q.shape[0], k.shape[0], ctx.chunk):
        sim = q[rs:re] @ k[cs:ce].T
        x = sim * scale + bias
        t = _block_targets(rs, re, cs, ce, ctx.pos_offset, targets, x)
        d = torch.sigmoid(x) - t  # d(term)/dx
        if mask is not None:
            d = d.masked_fill(~mask[rs:re, cs:ce], 0.0)
        d = d * grad
        if gq is not None:
            gq[rs:re] += (d @ k[cs:ce]) * scale
        if gk is not None:
            gk[cs:ce] += (d.T @ q[rs:re]) * scale
        gscale += (d * sim).sum()
        gbias += d.sum()
    return (gq, gk, gscale if ctx.needs_input_grad[2] else None,
            gbias if ctx.needs_input_grad[3] else None, None, None, None, None)


def _make_function(device_type: str | None) -> type[torch.autograd.Function]:
    """Blocked sum of pairwise sigmoid BCE terms; backward recomputes the blocks. With a
    ``device_type`` the Function is wrapped in ``torch.amp.custom_fwd`` / ``custom_bwd``."""
    fwd, bwd = _forward, _backward
    if device_type is not None:
        fwd = torch.amp.custom_fwd(device_type=device_type, cast_inputs=torch.float32)(_forward)
        bwd = torch.amp.custom_bwd(device_type=device_type)(_backward)
    return type(f"_SigmoidPairwiseSum_{device_type or 'plain'}", (torch.autograd.Function,),
                {"forward": staticmethod(fwd), "backward": staticmethod(bwd)})


_FUNCTIONS: dict[str, type[torch.autograd.Function]] = {}


def _function_for(device_type: str) -> type[torch.autograd.Function]:
    if device_type not in _FUNCTIONS:
        try:
            _FUNCTIONS[device_type] = _make_function(device_type)
        except (RuntimeError, ValueError):  # a device type without autocast support
            _FUNCTIONS[device_type] = _make_function(None)
    return _FUNCTIONS[device_type]


def sigmoid_pairwise_sum(q: torch.Tensor, k: torch.Tensor, scale: torch.Tensor | float,
                         bias: torch.Tensor | float = 0.0, *, targets: torch.Tensor | None = None,
                         mask: torch.Tensor | None = None, pos_offset: int | None = 0,
                         chunk_size: int | None = None) -> torch.Tensor:
    """Sum over pairs of ``softplus(x_ij) - t_ij x_ij`` with ``x = scale * q @ k.T + bias``.

    Args:
        q: [N, D] (already normalised if cosine similarity is wanted); k: [M, D].
        scale, bias: scalars (floats or 0-d tensors; gradients flow to tensors).
        targets: [N, M] in [0, 1] (bool or float); default: ``t_ij = 1`` iff ``j == i + pos_offset``.
        mask: [N, M] bool, False pairs contribute nothing.
        pos_offset: column of row 0's positive (rank offset under a local loss); None: no
            positives (every pair is a negative; SigLIP ring steps with other ranks' keys).
        chunk_size: block edge; None = one block (N x M). Peak extra memory is a few
            ``chunk x chunk`` blocks.

    Returns:
        0-d tensor (sum, not mean).
    """
    if q.dim() != 2 or k.dim() != 2 or q.shape[1] != k.shape[1]:
        raise ValueError(f"expected q [N, D] and k [M, D], got {tuple(q.shape)} and {tuple(k.shape)}")
    for name, mat in (("targets", targets), ("mask", mask)):
        if mat is not None and tuple(mat.shape) != (q.shape[0], k.shape[0]):
            raise ValueError(f"{name} must be [{q.shape[0]}, {k.shape[0]}], got {tuple(mat.shape)}")
    if targets is None and pos_offset is not None and not 0 <= pos_offset <= k.shape[0] - q.shape[0]:
        raise ValueError(f"pos_offset {pos_offset} out of range for N={q.shape[0]}, M={k.shape[0]}")
    scale_t = torch.as_tensor(scale, dtype=q.dtype, device=q.device).reshape(())
    bias_t = torch.as_tensor(bias, dtype=q.dtype, device=q.device).reshape(())
    chunk = max(q.shape[0], k.shape[0], 1) if chunk_size is None else int(chunk_size)
    if chunk < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    if mask is not None:
        mask = mask.to(torch.bool)
    return _function_for(q.device.type).apply(q, k, scale_t, bias_t, targets, mask, pos_offset, chunk)
