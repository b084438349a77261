"""Feature gathering with open_clip's semantics.

* ``local_loss=True``: each rank scores its own N queries against all W*N keys; the
  positive of local row i is global column ``rank * N + i`` (:func:`rank_offset_labels`).
* ``with_grad=True``: the gather is differentiable, so every gathered column sends its
  gradient back to the rank that produced it (``torch.distributed.nn.all_gather``).
* ``with_grad=False``: a plain gather; only the rank's own slot (put back in place)
  carries gradient. With ``local_loss=True`` this is still correct for the local rows
  but drops the gradient through other ranks' keys, so it is allowed only with a warning.

Single process (or no process group): every function is the identity.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class GatherSpec:
    """How to gather features across ranks. See module docstring."""

    local_loss: bool = True
    with_grad: bool = True

    def __post_init__(self) -> None:
        if self.local_loss and not self.with_grad:
            warnings.warn(
                "GatherSpec(local_loss=True, with_grad=False): gathered keys carry no gradient; "
                "training is not equivalent to single-process full-batch training.",
                stacklevel=2,
            )


def world() -> tuple[int, int]:
    """(rank, world_size); (0, 1) when torch.distributed is not initialised."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def gather_features(x: torch.Tensor, spec: GatherSpec = GatherSpec()) -> torch.Tensor:
    """Concatenate ``x`` [N, ...] from all ranks along dim 0 -> [W*N, ...] (rank order).

    All ranks must pass the same N. Identity when world_size == 1.
    """
    rank, size = world()
    if size == 1:
        return x
    if spec.with_grad:
        import torch.distributed.nn.functional as dist_fn

        with warnings.catch_warnings():  # deprecated in favour of functional collectives, whose
            warnings.simplefilter("ignore", FutureWarning)  # gloo backward is ~100x slower on CPU
            return torch.cat(dist_fn.all_gather(x), dim=0)
    parts = [torch.empty_like(x) for _ in range(size)]
    dist.all_gather(parts, x.detach().contiguous())
    parts[rank] = x
    return torch.cat(parts, dim=0)


def rank_offset_labels(n_local: int, device: torch.device | str | None = None,
                       spec: GatherSpec = GatherSpec()) -> torch.Tensor:
    """Column index of each local row's positive among the gathered keys.

    ``local_loss``: ``arange(N) + rank * N`` [N]; otherwise the global ``arange(W*N)``.
    """
    rank, size = world()
    if spec.local_loss or size == 1:
        return torch.arange(n_local, device=device) + rank * n_local
    return torch.arange(n_local * size, device=device)
