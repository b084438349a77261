"""Feature gathering across ranks (open_clip's semantics, made exact and safe).

* ``GatherSpec.local_loss=True``: each rank scores its own rows against all gathered columns;
  the positive of local row i is global column ``offset + i`` (:func:`rank_offset_labels`).
  ``local_loss=False``: every rank scores all gathered rows (it evaluates the full-batch loss).
* ``GatherSpec.with_grad=True``: the gather is differentiable (``torch.distributed.nn``); every
  gathered row sends its gradient back to the rank that produced it.
* ``with_grad=False``: a plain gather; only the rank's own slot (put back in place) carries
  gradient.

  - With ``local_loss=False`` the own slot's gradient is multiplied by W in backward. Every rank
    evaluates the same full-batch loss L, so rank r obtains exactly dL/dx_r for its own features;
    DDP then *averages* over W ranks, which would leave 1/W of the full-batch gradient. The
    factor W makes the combination exact, identical to ``with_grad=True`` (where the gather's
    backward sums the W identical contributions) but without backward communication.
  - With ``local_loss=True`` the gradients through other ranks' copies of this rank's features are
    lost, so training is NOT equivalent to full-batch training; it is allowed (with a warning)
    because reference implementations use it (clip-rocket's CL2L gathers without gradient).

* Ranks may hold different numbers of rows: sizes are exchanged first, rows are padded to the
  largest size for the collective and the padding is dropped again, so the result is the exact
  concatenation ``[sum_r n_r, ...]`` in rank order (no hang, no shape error).

Single process (or no process group): every function is the identity.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class GatherSpec:
    """How a loss gathers features across ranks (see the module docstring).

    Attributes:
        local_loss: score only this rank's rows (True) or all gathered rows (False).
        with_grad: differentiable gather (True) or plain gather with the own slot put back.

    ``GatherSpec.coerce(x)`` accepts a ``GatherSpec``, a dict of these two fields or None.
    """

    local_loss: bool = True
    with_grad: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.local_loss, bool) or not isinstance(self.with_grad, bool):
            raise TypeError(f"GatherSpec fields must be bools, got {self.local_loss!r}, {self.with_grad!r}")
        if self.local_loss and not self.with_grad:
            warnings.warn(
                "GatherSpec(local_loss=True, with_grad=False): gathered keys carry no gradient; "
                "training is not equivalent to single-process full-batch training.",
                stacklevel=3,
            )

    @property
    def exact(self) -> bool:
        """True when DDP training with this spec equals single-process full-batch training."""
        return self.with_grad or not self.local_loss

    def get_config_dict(self) -> dict[str, bool]:
        return {"local_loss": self.local_loss, "with_grad": self.with_grad}

    @classmethod
    def coerce(cls, spec: GatherSpec | Mapping[str, Any] | None) -> GatherSpec:
        if spec is None:
            return cls()
        if isinstance(spec, GatherSpec):
            return spec
        if isinstance(spec, Mapping):
            unknown = set(spec) - {"local_loss", "with_grad"}
            if unknown:
                raise ValueError(f"unknown GatherSpec fields {sorted(unknown)}")
            return cls(**dict(spec))
        raise TypeError(f"gather must be a GatherSpec, a dict or None, got {type(spec).__name__}")


def world() -> tuple[int, int]:
    """(rank, world_size); (0, 1) when torch.distributed is not initialised."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def gather_sizes(*counts: int, device: torch.device | str | None = None) -> list[tuple[int, ...]]:
    """Exchange row counts: for each local count, the tuple of that count on every rank.

    ``gather_sizes(n_q, n_k)`` -> ``[(n_q on rank 0, ...), (n_k on rank 0, ...)]``; one small
    collective for all counts. ``device`` must suit the backend (CUDA for NCCL).
    """
    _, size = world()
    if size == 1:
        return [(int(c),) for c in counts]
    local = torch.tensor([int(c) for c in counts], dtype=torch.int64, device=device)
    parts = [torch.empty_like(local) for _ in range(size)]
    dist.all_gather(parts, local)
    table = torch.stack(parts).cpu()  # [W, len(counts)]
    return [tuple(int(v) for v in table[:, j]) for j in range(len(counts))]


@dataclass(frozen=True)
class Layout:
    """Where each rank's rows sit in a gathered (rank-ordered) batch.

    Attributes:
        sizes: rows per rank.
        rank: this rank.
    """

    sizes: tuple[int, ...]
    rank: int

    @property
    def offset(self) -> int:
        """Global index of this rank's first row."""
        return sum(self.sizes[: self.rank])

    @property
    def n_local(self) -> int:
        return self.sizes[self.rank]

    @property
    def total(self) -> int:
        return sum(self.sizes)

    @property
    def local(self) -> slice:
        """Slice of this rank's rows in gathered tensors (and in global matrices)."""
        return slice(self.offset, self.offset + self.n_local)


@dataclass(frozen=True)
class Gathered(Layout):
    """All ranks' rows in rank order (:attr:`tensor` [sum(sizes), ...]) and their :class:`Layout`."""

    tensor: torch.Tensor = None  # type: ignore[assignment]


class _ScaleGrad(torch.autograd.Function):
    """Identity forward; backward multiplies the gradient by ``factor``."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, factor: float) -> torch.Tensor:
        ctx.factor = factor
        return x.view_as(x)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return grad * ctx.factor, None


def _all_gather_padded(x: torch.Tensor, sizes: Sequence[int], differentiable: bool) -> list[torch.Tensor]:
    n_max = max(sizes)
    padded = x
    if x.shape[0] < n_max:
        padded = torch.cat([x, x.new_zeros((n_max - x.shape[0], *x.shape[1:]))], dim=0)
    if differentiable:
        import torch.distributed.nn.functional as dist_fn

        with warnings.catch_warnings():  # deprecated in favour of functional collectives, whose
            warnings.simplefilter("ignore", FutureWarning)  # gloo backward is ~100x slower on CPU
            parts = list(dist_fn.all_gather(padded.contiguous()))
    else:
        parts = [torch.empty_like(padded) for _ in sizes]
        dist.all_gather(parts, padded.detach().contiguous())
    return [p[:s] for p, s in zip(parts, sizes, strict=True)]


def gather(x: torch.Tensor, spec: GatherSpec = GatherSpec(), *, sizes: Sequence[int] | None = None) -> Gathered:
    """Concatenate ``x`` [n_r, ...] of every rank r along dim 0, in rank order.

    Args:
        x: this rank's rows (any dtype; bool tensors are gathered as uint8 and converted back).
        spec: gradient semantics (module docstring).
        sizes: rows per rank if already known (from :func:`gather_sizes`); else one small
            collective exchanges them.

    Returns:
        :class:`Gathered` (identity wrapper in one process).
    """
    rank, size = world()
    if size == 1:
        return Gathered((int(x.shape[0]),), 0, x)
    if sizes is None:
        sizes = gather_sizes(int(x.shape[0]), device=x.device)[0]
    sizes = tuple(int(s) for s in sizes)
    if len(sizes) != size or sizes[rank] != x.shape[0]:
        raise ValueError(f"sizes {sizes} do not match world size {size} / local rows {x.shape[0]}")
    if x.dtype == torch.bool:
        return Gathered(sizes, rank, gather(x.to(torch.uint8), spec, sizes=sizes).tensor.to(torch.bool))
    needs_grad = x.requires_grad and torch.is_grad_enabled()
    if needs_grad and spec.with_grad:
        pieces = _all_gather_padded(x, sizes, differentiable=True)
    else:
        pieces = _all_gather_padded(x, sizes, differentiable=False)
        if needs_grad:  # own slot with gradient (xW when every rank evaluates the full loss)
            pieces[rank] = x if spec.local_loss else _ScaleGrad.apply(x, float(size))
    return Gathered(sizes, rank, torch.cat(pieces, dim=0))


def gather_features(x: torch.Tensor, spec: GatherSpec = GatherSpec()) -> torch.Tensor:
    """``gather(x, spec).tensor``: all ranks' rows [sum_r n_r, ...] in rank order."""
    return gather(x, spec).tensor


def rank_offset_labels(n_local: int, device: torch.device | str | None = None,
                       spec: GatherSpec = GatherSpec(), sizes: Sequence[int] | None = None) -> torch.Tensor:
    """Column index of each scored row's positive among the gathered keys.

    ``local_loss``: ``arange(n) + offset`` [n] (offset = rows on lower ranks); otherwise the
    global ``arange(sum_r n_r)``. ``sizes`` (rows per rank) avoids a collective when known.
    """
    rank, size = world()
    if size == 1:
        return torch.arange(n_local, device=device)
    if sizes is None:
        sizes = gather_sizes(n_local, device=device)[0]
    if spec.local_loss:
        return torch.arange(n_local, device=device) + sum(sizes[:rank])
    return torch.arange(sum(sizes), device=device)
