"""aTLAS learned anisotropic task-vector merging (Zhang et al., NeurIPS 2024).

``θ = θ_0 + Σ_t Σ_b λ_{t,b} τ_{t,b}``: every task vector ``τ_t`` is split into blocks ``b`` (by
default one block per parameter tensor, as in aTLAS) and each block has its own learnable
coefficient, initialised to 0 (so the module starts as the base model). The forward runs the
*template* model with the merged parameters through ``torch.func.functional_call``; only the
coefficients ``λ`` [T, B] are parameters of this module.

``.to()`` pitfall (METHODS.md #46): the base parameters, the task vectors and the base buffers
are stored here as registered buffers (dicts of tensors, never generators or ``named_buffers()``
iterators), so ``.to(device/dtype)`` moves them and every forward sees the same tensors.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn
from torch.func import functional_call

from representation.merging.task_vector import TaskVector
from representation.registry import register

ATLAS_CITATION = (
    "Zhang, Yu, Tuytelaars, Tan, Fernando, Schmid. Knowledge Composition using Task Vectors with "
    "Learned Anisotropic Scaling. NeurIPS 2024."
)


def _key(name: str) -> str:
    return name.replace(".", "__")


@register("atlas", kind="merge")
class LearnedAnisotropicMerge(nn.Module):
    """Merge T task vectors into a frozen base model with per-block learnable coefficients.

    Args:
        base: the pre-trained model. It is used as a *template* only (kept outside this module's
            parameter tree); its parameters and buffers are copied into frozen buffers here.
        task_vectors: T task vectors over (a subset of) the base parameter names.
        block_of: maps a parameter name to its block name; default: the name itself (one block
            per tensor). E.g. ``lambda n: n.split('.')[0]`` gives one block per top-level module.

    Attributes:
        coefficients: ``nn.Parameter`` [T, B], init 0. ``block_names`` lists the B blocks.
    """

    citation = ATLAS_CITATION

    def __init__(self, base: nn.Module, task_vectors: Sequence[TaskVector],
                 block_of: Callable[[str], str] | None = None) -> None:
        super().__init__()
        if not task_vectors:
            raise ValueError("need at least one task vector")
        object.__setattr__(self, "_template", base)  # not a submodule: no frozen params in .parameters()
        params = {n: p.detach().clone() for n, p in base.named_parameters()}
        for t, tv in enumerate(task_vectors):
            unknown = sorted(set(tv.deltas) - set(params))
            if unknown:
                raise KeyError(f"task vector {t} has entries not in the base model: {unknown[:5]}")
        self.param_names = list(params)
        self.buffer_names = [n for n, _ in base.named_buffers()]
        block_of = block_of or (lambda n: n)
        self.block_names = list(dict.fromkeys(block_of(n) for n in self.param_names))
        block_index = {b: i for i, b in enumerate(self.block_names)}
        self.block_of_param = {n: block_index[block_of(n)] for n in self.param_names}
        self.num_tasks = len(task_vectors)
        for n, p in params.items():
            self.register_buffer(f"base__{_key(n)}", p, persistent=False)
        for n, b in base.named_buffers():
            self.register_buffer(f"buf__{_key(n)}", b.detach().clone(), persistent=False)
        # delta_index[n] = list of task ids that have an entry for parameter n
        self.delta_index: dict[str, list[int]] = {n: [] for n in self.param_names}
        for t, tv in enumerate(task_vectors):
            for n, d in tv.deltas.items():
                if d.shape != params[n].shape:
                    raise ValueError(f"task vector {t}, {n!r}: shape {tuple(d.shape)} != {tuple(params[n].shape)}")
                self.register_buffer(f"tv{t}__{_key(n)}", d.detach().clone().to(params[n].dtype),
                                     persistent=False)
                self.delta_index[n].append(t)
        self.coefficients = nn.Parameter(torch.zeros(self.num_tasks, len(self.block_names)))

    def merged_parameters(self) -> dict[str, torch.Tensor]:
        """``name -> θ_0 + Σ_t λ_{t, block(name)} τ_t[name]`` (differentiable w.r.t. λ)."""
        out = {}
        for n in self.param_names:
            theta = getattr(self, f"base__{_key(n)}")
            b = self.block_of_param[n]
            for t in self.delta_index[n]:
                theta = theta + self.coefficients[t, b].to(theta.dtype) * getattr(self, f"tv{t}__{_key(n)}")
            out[n] = theta
        return out

    def base_buffers(self) -> dict[str, torch.Tensor]:
        return {n: getattr(self, f"buf__{_key(n)}") for n in self.buffer_names}

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """Run the template model with the merged parameters (and the base buffers)."""
        state = {**self.merged_parameters(), **self.base_buffers()}
        return functional_call(self._template, state, args, kwargs, strict=True)

    @torch.no_grad()
    def merged_state_dict(self) -> dict[str, torch.Tensor]:
        """Detached merged parameters + buffers, loadable into a copy of the base model."""
        return {**{k: v.detach().clone() for k, v in self.merged_parameters().items()},
                **{k: v.clone() for k, v in self.base_buffers().items()}}

    def set_coefficients(self, values: torch.Tensor | float) -> None:
        """Overwrite λ (a scalar broadcast or a [T, B] tensor)."""
        with torch.no_grad():
            self.coefficients.copy_(torch.as_tensor(values, dtype=self.coefficients.dtype).expand_as(
                self.coefficients))

    runtime_keys = ("base", "task_vectors", "block_of")

    def get_config_dict(self) -> dict[str, Any]:
        """No hyperparameters: the base model, task vectors and block grouping are runtime arguments."""
        return {}
