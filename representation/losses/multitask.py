"""MOFI-style multi-task combiner (Wu et al., "MOFI: Learning Image Representations from
Noisy Entity Annotated Images", ICLR 2024): a weighted sum of named loss terms, e.g.
classification cross-entropy over entity (geocell) ids plus the image-text InfoNCE.

``MultiTaskLoss({"cls": nn.CrossEntropyLoss(), "clip": InfoNCELoss.clip()},
weights={"cls": 1.0, "clip": 1.0})(inputs)`` with ``inputs = {"cls": (logits, labels),
"clip": {"q": img, "k": txt}}`` (a tuple holds positional, a dict keyword arguments).
Returns the weighted sum, or with ``return_dict`` ``{"<name>_loss": weighted term, ...,
"logs": {"<name>": unweighted term}}`` whose ``*_loss`` keys sum to the total
(:func:`representation.losses.base.sum_losses`). A term whose weight is 0 is not
evaluated, so its head gets no gradient (grad stays None). Each term only sees its own
inputs, so its gradient reaches exactly the parameters those inputs depend on.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

from representation.errors import ConfigError
from representation.losses.base import sum_losses
from representation.registry import register, resolve, to_config


def _scalar(value: Any, name: str) -> torch.Tensor:
    if isinstance(value, Mapping):
        return sum_losses(dict(value))
    if not torch.is_tensor(value) or value.dim() != 0:
        raise ValueError(f"term {name!r} must return a scalar tensor or a dict with '*_loss' keys")
    return value


@register("multitask", kind="loss")
class MultiTaskLoss(nn.Module):
    """Weighted sum of named loss terms (see module docstring).

    Args:
        losses: name -> loss module / callable, or a component config ``{"type": ...}`` (built
            with the registry). Names must be identifiers without "_loss".
        weights: name -> weight (default 1.0 each); 0 disables a term.

    ``get_config_dict()`` holds the terms' configs, so a multi-task loss whose terms are all
    registered components round-trips through a plain dict.
    """

    citation = ("Wu et al., MOFI: Learning Image Representations from Noisy Entity Annotated Images, "
                "ICLR 2024")

    def __init__(self, losses: Mapping[str, nn.Module | Callable[..., Any]],
                 weights: Mapping[str, float] | None = None) -> None:
        super().__init__()
        if not losses:
            raise ValueError("need at least one loss term")
        unknown = set(weights or {}) - set(losses)
        if unknown:
            raise ValueError(f"weights for unknown terms {sorted(unknown)}")
        self.terms = {k: resolve(v) for k, v in losses.items()}  # callables by name (modules registered below)
        self.term_modules = nn.ModuleDict({k: v for k, v in self.terms.items() if isinstance(v, nn.Module)})
        self.weights = {k: float((weights or {}).get(k, 1.0)) for k in losses}

    def forward(self, inputs: Mapping[str, tuple[Any, ...] | Mapping[str, Any]], *, return_dict: bool = False
                ) -> torch.Tensor | dict[str, Any]:
        out: dict[str, Any] = {}
        logs: dict[str, Any] = {}
        for name, fn in self.terms.items():
            w = self.weights[name]
            if w == 0.0:
                continue
            if name not in inputs:
                raise ValueError(f"no inputs for enabled term {name!r} (got {sorted(inputs)})")
            args = inputs[name]
            value = fn(**args) if isinstance(args, Mapping) else fn(*args)
            term = _scalar(value, name)
            out[f"{name}_loss"] = w * term
            logs[name] = term.detach()
        if not out:
            raise ValueError("every term has weight 0")
        if not return_dict:
            return sum_losses(out)
        out["logs"] = logs
        return out

    def get_config_dict(self) -> dict[str, Any]:
        losses = {}
        for k, v in self.terms.items():
            try:
                losses[k] = to_config(v)
            except ConfigError as exc:
                raise ConfigError(f"term {k!r} ({type(v).__name__}) is not a registered component, so it has no "
                                  "config; use e.g. representation.losses.CrossEntropyLoss") from exc
        return {"losses": losses, "weights": dict(self.weights)}


@register("task_hinting", kind="loss")
class TaskHintingLoss(MultiTaskLoss):
    """Task hinting (Awasthi and Gupta, "Improving Length-Generalization in Transformers via Task
    Hinting", 2023): ``L = L_main + hint_weight * L_hint``, the main task and a simpler auxiliary
    "hint" task trained jointly on shared weights (e.g. sorting + "successor of each element";
    geocell classification + the country as hint). ``forward({"main": ..., "hint": ...})`` as
    :class:`MultiTaskLoss`; ``hint_weight=0`` is the main task alone (the baseline)."""

    citation = ("Awasthi and Gupta, Improving Length-Generalization in Transformers via Task Hinting, "
                "arXiv 2310.00726, 2023")

    def __init__(self, main: nn.Module | Callable[..., Any] | Mapping[str, Any],
                 hint: nn.Module | Callable[..., Any] | Mapping[str, Any], hint_weight: float = 1.0) -> None:
        if hint_weight < 0:
            raise ValueError(f"hint_weight must be >= 0, got {hint_weight}")
        super().__init__({"main": main, "hint": hint}, weights={"main": 1.0, "hint": hint_weight})
        self.hint_weight = float(hint_weight)

    def get_config_dict(self) -> dict[str, Any]:
        losses = super().get_config_dict()["losses"]
        return {"main": losses["main"], "hint": losses["hint"], "hint_weight": self.hint_weight}
