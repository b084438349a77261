"""The shared contrastive engine: gather, logits, soft cross-entropy rows, DDP-exact mean.

Every loss of the InfoNCE family (CLIP, MNRL, SimCSE, SupCon, Dialog2Flow, multi-positive,
NegCLIP, CL2L, DreamLIP's CLIP and grouping terms) is one or more calls to
:func:`contrastive_loss`; they differ only in their targets, masks and extra columns
(METHODS.md §1, observation). There is no second copy of the gather or of the normalisation.

Layout of one direction (queries -> keys), with N = all ranks' queries, M = all ranks' keys:

* columns: gathered keys [M], then gathered ``negatives`` [H] (extra key columns, e.g. MNRL /
  NegCLIP hard negatives), then ``memory`` [Q] (columns already identical on every rank, e.g. a
  cross-batch memory; never gathered, never get gradient);
* rows: this rank's queries (``spec.local_loss``) or all N queries;
* ``targets`` / ``mask``: the global [N, M + H + Q] matrices of :mod:`representation.distributed.blocks`
  (default targets: query i <-> key i, which needs as many keys as queries on every rank);
* the mean over counted rows (rows with target mass) goes through
  :func:`representation.distributed.rank_mean`, so DDP training equals full-batch training
  with any number of counted rows per rank, and the value is the full-batch loss on every rank.

``symmetric=True`` adds the keys -> queries direction (rows: keys; columns: gathered queries,
then gathered ``negatives_t``) with ``targets_t`` / ``mask_t`` [M, N + Ht], by default the
transposes of the key block of ``targets`` / ``mask``, and averages the two directions.
"""

from __future__ import annotations

from typing import Any

import torch

from representation.distributed.blocks import Dense, row_block
from representation.distributed.gather import GatherSpec, Layout, gather, gather_sizes, world
from representation.distributed.reduce import masked_mean
from representation.functional.info_nce import contrastive_row_losses


def _extra_columns(x: torch.Tensor | None, dim: int) -> torch.Tensor | None:
    return None if x is None else x.reshape(-1, dim)


def _transpose_block(mat: Dense, n_key_cols: int, n_extra: int, fill: bool | float, name: str) -> Dense:
    """Global [N, M + ...] -> [M, N + n_extra] for the reverse direction."""
    if mat is None:
        return None
    if callable(mat) and not torch.is_tensor(mat):
        raise ValueError(f"symmetric losses with a callable {name} need an explicit {name}_t")
    block = mat[:, :n_key_cols].T
    if n_extra:
        pad = torch.full((block.shape[0], n_extra), fill, dtype=block.dtype, device=block.device)
        block = torch.cat([block, pad], dim=1)
    return block


def _gather_extra(extra: torch.Tensor | None, valid: torch.Tensor | None, spec: GatherSpec,
                  sizes: tuple[int, ...]) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """Gathered extra columns [H, D] and their validity [H] (or None)."""
    if extra is None:
        return None, None
    cols = gather(extra, spec, sizes=sizes).tensor
    ok = None if valid is None else gather(valid.reshape(-1).to(torch.bool), spec, sizes=sizes).tensor
    return cols, ok


def _logits(rows: torch.Tensor, cols: torch.Tensor, scale: Any, bias: Any) -> torch.Tensor:
    logits = (rows @ cols.T) * scale
    return logits if bias is None else logits + bias


def _direction(q: torch.Tensor, gk_tensor: torch.Tensor, q_layout: Layout, k_layout: Layout, *,
               rows: torch.Tensor, extra: torch.Tensor | None, extra_valid: torch.Tensor | None,
               memory: torch.Tensor | None, targets: Dense, mask: Dense, identity: bool, scale: Any, bias: Any,
               label_smoothing: float, spec: GatherSpec, logits: torch.Tensor | None = None
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """One direction: rows ``rows`` (layout ``q_layout``) against the gathered keys (layout
    ``k_layout``), extra columns and memory. Returns the DDP-exact mean, the logits, the per-row
    losses and which rows count. ``logits`` may be passed when already computed (reused transpose)."""
    cols = [gk_tensor]
    n_keys = gk_tensor.shape[0]
    valid_parts: list[torch.Tensor] = []
    if extra is not None:
        cols.append(extra)
        if extra_valid is not None:
            valid_parts = [torch.ones(n_keys, dtype=torch.bool, device=q.device), extra_valid]
    if memory is not None:
        cols.append(memory.detach().to(q.dtype))
        if valid_parts:
            valid_parts.append(torch.ones(memory.shape[0], dtype=torch.bool, device=q.device))
    all_cols = torch.cat(cols, dim=0) if len(cols) > 1 else cols[0]
    n_cols = all_cols.shape[0]
    t = row_block(targets, q_layout, spec, n_cols, name="targets", device=q.device)
    m = row_block(mask, q_layout, spec, n_cols, name="mask", device=q.device)
    if valid_parts:
        col_valid = torch.cat(valid_parts).unsqueeze(0).expand(rows.shape[0], -1)
        m = col_valid if m is None else (m.to(torch.bool) & col_valid)
    if logits is None:
        logits = _logits(rows, all_cols, scale, bias)
    labels = None
    if identity:
        start = k_layout.offset if spec.local_loss else 0
        labels = torch.arange(rows.shape[0], device=q.device) + start
    losses, counted = contrastive_row_losses(logits, labels, t, m, label_smoothing=label_smoothing)
    return masked_mean(losses, counted, spec), logits, losses, counted


def contrastive_loss(
    q: torch.Tensor,
    k: torch.Tensor,
    *,
    scale: torch.Tensor | float,
    bias: torch.Tensor | float | None = None,
    targets: Dense = None,
    mask: Dense = None,
    negatives: torch.Tensor | None = None,
    negatives_valid: torch.Tensor | None = None,
    memory: torch.Tensor | None = None,
    symmetric: bool = False,
    targets_t: Dense = None,
    mask_t: Dense = None,
    negatives_t: torch.Tensor | None = None,
    negatives_t_valid: torch.Tensor | None = None,
    label_smoothing: float = 0.0,
    spec: GatherSpec = GatherSpec(),
    reduction: str = "mean",
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """InfoNCE-family loss of local queries ``q`` [n, D] against gathered keys ``k`` [m, D].

    Args:
        q, k: this rank's rows; logits are ``scale * q @ k.T + bias`` (normalise first for
            cosine similarity).
        targets, mask: global dense matrices or row callables (module docstring).
        negatives: [h, D] (or [n, h', D]) extra key columns of this rank; gathered.
        negatives_valid: [h] bool, False removes that column from every row.
        memory: [Q, D] replicated extra key columns (not gathered, detached).
        symmetric: add the keys -> queries direction (see module docstring).
        targets_t, mask_t: global [M, N + Ht] for that direction (default: transposes).
        negatives_t, negatives_t_valid: extra query columns for that direction (gathered).
        label_smoothing: torch-style smoothing over each row's valid columns (CL2L).
        spec: gather semantics.
        reduction: "mean" (DDP-exact full-batch mean) or "none": the per-row losses [R] of the
            scored rows (q -> k direction only; rows without target mass give 0), e.g. for tests.

    Returns:
        (loss, logs) with the loss already normalised for DDP (value = full-batch loss).
    """
    if reduction not in ("mean", "none"):
        raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")
    if reduction == "none" and symmetric:
        raise ValueError("reduction='none' is for one direction (symmetric=False)")
    if q.dim() != 2 or k.dim() != 2 or q.shape[1] != k.shape[1]:
        raise ValueError(f"q and k must be [n, D] and [m, D], got {tuple(q.shape)} and {tuple(k.shape)}")
    identity = targets is None
    if identity and q.shape[0] != k.shape[0]:
        raise ValueError(f"without targets row i of k is the positive of row i of q, so q and k need the same "
                         f"number of rows on every rank, got {q.shape[0]} and {k.shape[0]}")
    d = q.shape[1]
    neg = _extra_columns(negatives, d)
    neg_t = _extra_columns(negatives_t, d) if symmetric else None
    rank, size = world()
    counts = [q.shape[0], k.shape[0], 0 if neg is None else neg.shape[0], 0 if neg_t is None else neg_t.shape[0]]
    sizes = gather_sizes(*counts, device=q.device) if size > 1 else [(c,) for c in counts]
    q_layout, k_layout = Layout(sizes[0], rank), Layout(sizes[1], rank)
    if identity and sizes[0] != sizes[1]:
        raise ValueError(f"identity positives need equal query and key counts per rank, got {sizes[0]} and {sizes[1]}")
    gk = gather(k, spec, sizes=sizes[1])
    gq = gather(q, spec, sizes=sizes[0]) if (symmetric or not spec.local_loss) else None
    extra, extra_valid = _gather_extra(neg, negatives_valid, spec, sizes[2])
    rows = q if spec.local_loss else gq.tensor
    loss_qk, logits, rows_qk, counted_qk = _direction(
        q, gk.tensor, q_layout, k_layout, rows=rows, extra=extra, extra_valid=extra_valid, memory=memory,
        targets=targets, mask=mask, identity=identity, scale=scale, bias=bias, label_smoothing=label_smoothing,
        spec=spec)
    logs: dict[str, torch.Tensor] = {"loss_qk": loss_qk.detach()}
    if reduction == "none":
        return torch.where(counted_qk, rows_qk, torch.zeros_like(rows_qk)), logs
    if not symmetric:
        return loss_qk, logs
    n_keys = gk.total
    n_extra_t = sum(sizes[3])
    if targets_t is None:
        targets_t = _transpose_block(targets, n_keys, n_extra_t, 0.0, "targets")
    if mask_t is None:
        mask_t = _transpose_block(mask, n_keys, n_extra_t, True, "mask")
    extra_t, extra_t_valid = _gather_extra(neg_t, negatives_t_valid, spec, sizes[3])
    rows_t = k if spec.local_loss else gk.tensor
    reuse = None
    if not spec.local_loss and neg_t is None:  # rows are all queries, first columns all keys
        reuse = logits[:, :n_keys].T
    loss_kq, *_ = _direction(k, gq.tensor, k_layout, q_layout, rows=rows_t, extra=extra_t, extra_valid=extra_t_valid, memory=None, targets=targets_t, mask=mask_t,
                            identity=identity, scale=scale, bias=bias, label_smoothing=label_smoothing,
                            spec=spec, logits=reuse)
    logs["loss_kq"] = loss_kq.detach()
    return 0.5 * (loss_qk + loss_kq), logs


def gather_rows_and_keys(q: torch.Tensor, k: torch.Tensor | None, spec: GatherSpec
                         ) -> tuple[torch.Tensor, torch.Tensor, Layout, Layout]:
    """The rows a rank scores and all keys, for losses that build their own logits.

    Args:
        q: this rank's queries [n, ...]; k: this rank's keys [m, ...], or None when the keys
            are the queries themselves (one gather).

    Returns:
        (rows, keys, row_layout, key_layout): ``rows`` are ``q`` (``spec.local_loss``) or all
        gathered queries; ``keys`` all gathered keys; the layouts locate every rank's rows.
    """
    rank, size = world()
    counts = [q.shape[0]] if k is None else [q.shape[0], k.shape[0]]
    sizes = gather_sizes(*counts, device=q.device) if size > 1 else [(c,) for c in counts]
    gk = gather(q if k is None else k, spec, sizes=sizes[-1])
    q_layout = Layout(sizes[0], rank)
    if spec.local_loss:
        rows = q
    elif k is None:
        rows = gk.tensor
    else:
        rows = gather(q, spec, sizes=sizes[0]).tensor
    return rows, gk.tensor, q_layout, Layout(sizes[-1], rank)
