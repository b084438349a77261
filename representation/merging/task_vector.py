"""Task vectors (Ilharco et al., ICLR 2023): ``τ = θ_finetuned − θ_base`` per parameter tensor.

A :class:`TaskVector` is a plain mapping ``name -> tensor`` (floating-point parameters only) with
arithmetic (``+``, unary ``−``, ``* scalar``) and :meth:`apply_to` to build a merged state dict.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch import nn

TASK_ARITHMETIC_CITATION = (
    "Ilharco, Ribeiro, Wortsman, Gururangan, Schmidt, Hajishirzi, Farhadi. Editing Models with Task "
    "Arithmetic. ICLR 2023."
)


def float_parameters(model: nn.Module) -> dict[str, torch.Tensor]:
    """Detached floating-point parameters of ``model`` by name."""
    return {n: p.detach() for n, p in model.named_parameters() if p.is_floating_point()}


class TaskVector:
    """``name -> θ_ft[name] − θ_base[name]`` for the floating-point parameters of a model.

    Build with :meth:`from_models` or :meth:`from_state_dicts`; names missing from a task vector
    count as zero when merging.
    """

    citation = TASK_ARITHMETIC_CITATION

    def __init__(self, deltas: Mapping[str, torch.Tensor]) -> None:
        self.deltas: dict[str, torch.Tensor] = {k: v.detach().clone() for k, v in deltas.items()}

    @classmethod
    def from_state_dicts(cls, base: Mapping[str, torch.Tensor], finetuned: Mapping[str, torch.Tensor],
                         names: Iterable[str] | None = None) -> TaskVector:
        """Differences over ``names`` (default: floating-point keys present in both)."""
        keys = list(names) if names is not None else [
            k for k, v in base.items() if torch.is_tensor(v) and v.is_floating_point() and k in finetuned]
        deltas = {}
        for k in keys:
            if k not in base or k not in finetuned:
                raise KeyError(f"parameter {k!r} missing from the base or the fine-tuned state dict")
            if base[k].shape != finetuned[k].shape:
                raise ValueError(f"parameter {k!r}: base shape {tuple(base[k].shape)} != fine-tuned "
                                 f"{tuple(finetuned[k].shape)}")
            deltas[k] = finetuned[k].detach() - base[k].detach()
        return cls(deltas)

    @classmethod
    def from_models(cls, base: nn.Module, finetuned: nn.Module) -> TaskVector:
        """Task vector over the floating-point parameters (buffers are not included)."""
        b = float_parameters(base)
        return cls.from_state_dicts(b, float_parameters(finetuned), names=list(b))

    def names(self) -> list[str]:
        return list(self.deltas)

    def __add__(self, other: TaskVector) -> TaskVector:
        keys = list(dict.fromkeys([*self.deltas, *other.deltas]))
        return TaskVector({k: self.deltas[k] + other.deltas[k] if k in self.deltas and k in other.deltas
                           else self.deltas.get(k, other.deltas.get(k)) for k in keys})

    def __neg__(self) -> TaskVector:
        return TaskVector({k: -v for k, v in self.deltas.items()})

    def __mul__(self, scale: float) -> TaskVector:
        return TaskVector({k: v * scale for k, v in self.deltas.items()})

    __rmul__ = __mul__

    def apply_to(self, base: Mapping[str, torch.Tensor] | nn.Module, scale: float = 1.0) -> dict[str, torch.Tensor]:
        """``θ_base + scale · τ`` as a new state dict (entries without a delta are copied)."""
        sd = base.state_dict() if isinstance(base, nn.Module) else base
        out = {k: v.detach().clone() for k, v in sd.items()}
        for k, d in self.deltas.items():
            if k not in out:
                raise KeyError(f"task vector entry {k!r} is not in the base model")
            out[k] = out[k] + scale * d.to(out[k].dtype)
        return out

    def norm(self) -> float:
        """L2 norm over all entries."""
        return float(torch.sqrt(sum((v.double() ** 2).sum() for v in self.deltas.values())))

    def get_config_dict(self) -> dict[str, Any]:
        return {"num_tensors": len(self.deltas)}
