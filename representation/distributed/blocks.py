"""The library's one convention for dense targets and masks under DDP, checked in one place.

A ``targets`` or ``mask`` argument always describes the WHOLE gathered batch: a global matrix
[N, M] whose rows are all ranks' query rows in rank order and whose columns are all ranks' key
columns in rank order (then gathered extra columns, e.g. hard negatives, in rank order, then any
replicated memory columns). In one process that is exactly the [N, M] matrix of the batch, so
code that builds targets from gathered labels or coordinates runs unchanged under DDP. Each rank
takes its own row block (``local_loss``) or all rows.

Instead of a tensor, a callable ``fn(rows [R] long) -> [R, M]`` may be passed: it is asked
only for the rows this rank scores (global row indices), which avoids building the global
matrix on every rank.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from representation.distributed.gather import GatherSpec, Layout

RowsFn = Callable[[torch.Tensor], torch.Tensor]
Dense = torch.Tensor | RowsFn | None


def row_block(mat: Dense, rows: Layout, spec: GatherSpec, n_cols: int, *, name: str,
              device: torch.device | str | None = None) -> torch.Tensor | None:
    """This rank's rows of a global ``mat`` [N, n_cols] (all rows when ``not spec.local_loss``).

    Raises ValueError naming the convention when the shape is wrong.
    """
    if mat is None:
        return None
    index = (torch.arange(rows.offset, rows.offset + rows.n_local) if spec.local_loss
             else torch.arange(rows.total))
    if callable(mat) and not torch.is_tensor(mat):
        block = mat(index.to(device))
        if tuple(block.shape) != (index.numel(), n_cols):
            raise ValueError(f"{name} callable returned {tuple(block.shape)} for {index.numel()} rows; "
                             f"expected [{index.numel()}, {n_cols}]")
        return block
    if tuple(mat.shape) != (rows.total, n_cols):
        raise ValueError(
            f"{name} must be the global [{rows.total}, {n_cols}] matrix of the whole gathered batch (rows: every "
            f"rank's queries in rank order; columns: every rank's keys, then gathered extra columns, then "
            f"memory columns), got {tuple(mat.shape)}; in one process this is simply [N, M]")
    return mat[rows.local] if spec.local_loss else mat


def global_rows(rows: Layout, spec: GatherSpec, device: torch.device | str | None = None) -> torch.Tensor:
    """Global indices [R] of the rows this rank scores."""
    if spec.local_loss:
        return torch.arange(rows.offset, rows.offset + rows.n_local, device=device)
    return torch.arange(rows.total, device=device)
