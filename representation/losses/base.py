"""Conventions shared by every loss (METHODS.md §2):

* one signature family ``forward(q, k, *, targets=None, mask=None, logit_scale=None,
  logit_bias=None, return_dict=False)``;
* ``return_dict=True`` gives ``{"<name>_loss": tensor, "logs": {...}}``; combiners sum the
  keys ending in ``_loss`` (:func:`sum_losses`), as open_clip's tasks do;
* temperature XOR learnable logit scale: scale = 1 / temperature;
* ``citation`` and ``get_config_dict()`` on every public class.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn


def sum_losses(outputs: dict[str, Any]) -> torch.Tensor:
    """Sum of all values whose key ends in ``_loss`` (nested dicts are not searched)."""
    terms = [v for k, v in outputs.items() if k.endswith("_loss")]
    if not terms:
        raise ValueError(f"no '*_loss' key in {sorted(outputs)}")
    return torch.stack([t if t.dim() == 0 else t.mean() for t in terms]).sum()


class LogitScale(nn.Module):
    """Learnable logit scale stored as log(scale), clamped to ``max_scale`` on use.

    Args:
        init_temperature: initial temperature (scale = 1 / temperature), CLIP uses 0.07.
        max_scale: upper clamp of the scale (CLIP: 100).
    """

    def __init__(self, init_temperature: float = 0.07, max_scale: float = 100.0) -> None:
        super().__init__()
        if not init_temperature > 0 or not max_scale > 0:
            raise ValueError(f"init_temperature and max_scale must be > 0, got {init_temperature}, {max_scale}")
        self.init_temperature = float(init_temperature)
        self.log_scale = nn.Parameter(torch.tensor(math.log(1.0 / init_temperature)))
        self.max_scale = float(max_scale)

    def forward(self) -> torch.Tensor:
        return self.log_scale.exp().clamp(max=self.max_scale)

    def get_config_dict(self) -> dict[str, Any]:
        return {"init_temperature": self.init_temperature, "max_scale": self.max_scale}


SCALE_KEYS = ("temperature", "learn_scale", "init_temperature", "max_scale")
"""Constructor arguments of the scale handled by :class:`LossBase`."""


class LossBase(nn.Module):
    """Base for losses: hyperparameters only, the math lives in ``representation.functional`` and
    :mod:`representation.losses.engine`.

    Subclasses set ``name`` (key prefix in the dict output), ``citation`` and ``config_keys``:
    the names of ALL their constructor arguments that are configuration, each stored as an
    attribute of the same name, so that ``type(x)(**x.get_config_dict())`` rebuilds ``x``
    (checked for every registered component by the test suite).

    Scale: ``temperature=τ`` gives a fixed scale 1/τ; ``learn_scale=True`` a :class:`LogitScale`
    (initial temperature ``init_temperature``, clamp ``max_scale``); neither gives τ = 0.07.
    An explicit ``logit_scale=`` argument to ``forward`` overrides both.
    """

    name: str = "loss"
    citation: str = ""
    config_keys: tuple[str, ...] = ()

    def __init__(self, temperature: float | None = None, learn_scale: bool = False,
                 max_scale: float = 100.0, init_temperature: float = 0.07) -> None:
        super().__init__()
        if temperature is not None and learn_scale:
            raise ValueError("give either a fixed temperature or learn_scale=True, not both")
        if temperature is not None and not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        self.temperature = None if temperature is None else float(temperature)
        self.learn_scale = bool(learn_scale)
        self.max_scale = float(max_scale)
        self.init_temperature = float(init_temperature)
        self.logit_scale_module = (LogitScale(init_temperature, max_scale=max_scale) if learn_scale
                                   else None)

    def resolve_scale(self, logit_scale: torch.Tensor | float | None) -> torch.Tensor | float:
        """The scale to multiply similarities by: an explicit ``logit_scale`` argument wins,
        then the learnable one, then 1 / temperature (default temperature 0.07)."""
        if logit_scale is not None:
            return logit_scale
        if self.logit_scale_module is not None:
            return self.logit_scale_module()
        return 1.0 / (self.temperature if self.temperature is not None else 0.07)

    def init_local_scale(self, separate: bool, local_temperature: float | None, local_init_temperature: float) -> None:
        """A second scale for a loss's local / fine-grained terms (CL2L's ``h_logit_scale``,
        DreamLIP's ``logit_scale_local``): learnable (initial temperature ``local_init_temperature``)
        when the main scale is, else fixed ``local_temperature`` (default: the main temperature);
        ``separate=False`` uses the main scale."""
        if local_temperature is not None and not local_temperature > 0:
            raise ValueError(f"local_temperature must be > 0, got {local_temperature}")
        self.separate_local_scale = bool(separate)
        self.local_temperature = None if local_temperature is None else float(local_temperature)
        self.local_init_temperature = float(local_init_temperature)
        self.local_scale_module = (LogitScale(local_init_temperature, self.max_scale)
                                   if separate and self.learn_scale else None)

    def resolve_local_scale(self, logit_scale: Any, local_logit_scale: Any) -> Any:
        """The local scale: an explicit argument, else the one set by :meth:`init_local_scale`."""
        if local_logit_scale is not None:
            return local_logit_scale
        if not self.separate_local_scale:
            return self.resolve_scale(logit_scale)
        if self.local_scale_module is not None:
            return self.local_scale_module()
        if self.local_temperature is not None:
            return 1.0 / self.local_temperature
        return self.resolve_scale(None)

    def output(self, loss: torch.Tensor, return_dict: bool, **logs: Any) -> torch.Tensor | dict[str, Any]:
        if not return_dict:
            return loss
        return {f"{self.name}_loss": loss, "logs": {k: (v.detach() if torch.is_tensor(v) else v)
                                                     for k, v in logs.items()}}

    def get_config_dict(self) -> dict[str, Any]:
        from representation.registry import config_value

        return {k: config_value(getattr(self, k)) for k in self.config_keys}
