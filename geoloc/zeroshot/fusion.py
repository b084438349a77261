"""Prior-fused zero-shot scores: a log-linear model over geocells, calibrated on validation data.

For an image embedding ``x`` (unit vector) and geocell ``c``::

    log p(c | x) = w_cell * cos(x, t_cell[c]) + w_admin1 * cos(x, t_admin1[a(c)])
                 + w_country * cos(x, t_country[k(c)]) + w_prior * log prior(c) - log Z(x)

``t_*`` are the prompt-ensemble embeddings of the cell, of its admin-1 unit ``a(c)`` and of its country
``k(c)`` (a cell without an admin-1 unit or a country uses its own cell score there), ``prior`` is
:func:`geoloc.zeroshot.prior.cell_log_prior`. With one level this is exactly
``log_softmax(s / T) + lambda * log prior(c)`` renormalised (``w_cell = 1 / T``, ``w_prior = lambda``):
CLIP's prompt softmax reads as a likelihood under a uniform class prior, and Bayes' rule multiplies in
the real one.

Weights (:class:`Fusion`):

* :meth:`Fusion.default` (no validation data): a logarithmic opinion pool of the three prompt levels,
  each at the model's own logit scale ``s`` (``w = s / 3`` each), times the prior (``w_prior = 1``);
* :meth:`Fusion.prompts_only`: the plain cell-prompt softmax of the previous zero-shot (``w_cell = s``);
* :func:`fit_fusion`: maximum likelihood of the true cells of held-out locations. The model is a
  conditional logit with four features, so the negative log-likelihood is convex in the weights and
  the optimum is global (Newton steps with the exact Hessian, a tiny ridge for identifiability).

A fitted :class:`Fusion` is a small JSON file (:meth:`Fusion.save`) that names the geocell set and
the CLIP it was fitted for; :class:`geoloc.zeroshot.ZeroShotGeolocator` refuses one made for other cells.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from geoloc.errors import GeolocError, InputFileError

FEATURES = ("cell", "admin1", "country", "prior")
FORMAT = "geoloc-zeroshot-fusion/1"
RIDGE = 1e-6


@dataclass(frozen=True)
class Fusion:
    """Weights of the log-linear zero-shot posterior (module docstring).

    Attributes:
        cell, admin1, country: weights of the cosine to each prompt level (inverse temperatures).
        prior: weight of ``log prior(c)`` (0 = no prior).
        prior_source: ``density`` | ``cells`` | ``uniform`` (:mod:`geoloc.zeroshot.prior`).
        note: how the weights were chosen (shown on model cards).
        fitted: metadata of a fit (``geocells_id``, ``clip``, ``n``, ``nll``, ...); empty when not fitted.
    """

    cell: float
    admin1: float = 0.0
    country: float = 0.0
    prior: float = 0.0
    prior_source: str = "uniform"
    note: str = ""
    fitted: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        from geoloc.zeroshot.prior import PRIOR_SOURCES

        if self.prior_source not in PRIOR_SOURCES:
            raise GeolocError(f"unknown prior {self.prior_source!r}; use one of {', '.join(PRIOR_SOURCES)}")
        w = self.weights()
        if not np.all(np.isfinite(w)):
            raise GeolocError(f"fusion weights must be finite, got {w.tolist()}")

    def weights(self) -> np.ndarray:
        """[4] float64 in the order of :data:`FEATURES`."""
        return np.array([self.cell, self.admin1, self.country, self.prior], dtype=np.float64)

    @classmethod
    def default(cls, logit_scale: float, prior_source: str = "density") -> Fusion:
        """Uncalibrated: the three prompt levels pooled at ``logit_scale / 3`` each, times the prior."""
        s = float(logit_scale) / 3.0
        return cls(cell=s, admin1=s, country=s, prior=1.0 if prior_source != "uniform" else 0.0,
                   prior_source=prior_source, note=f"default (uncalibrated): cell, admin-1 and country prompts "
                   f"pooled at logit scale {logit_scale:g} / 3 each, times the {prior_source} prior")

    @classmethod
    def prompts_only(cls, logit_scale: float) -> Fusion:
        """The plain cell-prompt softmax ``softmax(logit_scale * cos)``: no other level, no prior."""
        return cls(cell=float(logit_scale), note=f"cell prompts only, logit scale {logit_scale:g}, no prior")

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, **asdict(self)}

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = "fusion") -> Fusion:
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            raise InputFileError(f"{where}: not a zero-shot calibration file (format {FORMAT!r})")
        try:
            return cls(**{k: v for k, v in d.items() if k != "format"})
        except TypeError as exc:
            raise InputFileError(f"{where}: bad calibration fields ({exc})") from None

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n")
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> Fusion:
        path = Path(path)
        if not path.is_file():
            raise InputFileError(f"calibration file {path} does not exist")
        try:
            d = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise InputFileError(f"calibration file {path} is not valid JSON ({exc})") from None
        return cls.from_dict(d, str(path))


# --------------------------------------------------------------------------- functional core


def stack_features(cos_cell: np.ndarray, cos_admin1: np.ndarray, cos_country: np.ndarray,
                   log_prior: np.ndarray) -> np.ndarray:
    """Features [N, C, 4] (float64) from the cell-level cosines [N, C] of each prompt level and the
    log prior [C]."""
    n, c = np.shape(cos_cell)
    prior = np.broadcast_to(np.asarray(log_prior, dtype=np.float64)[None, :], (n, c))
    return np.stack([np.asarray(cos_cell, np.float64), np.asarray(cos_admin1, np.float64),
                     np.asarray(cos_country, np.float64), prior], axis=-1)


def log_posterior(features: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """``log p(c | x)`` [N, C] float64: ``log_softmax`` over cells of ``features @ weights``."""
    from scipy.special import log_softmax

    return log_softmax(np.asarray(features, np.float64) @ np.asarray(weights, np.float64), axis=1)


def nll(features: np.ndarray, true_cell: np.ndarray, weights: np.ndarray, ridge: float = RIDGE) -> float:
    """Mean negative log-likelihood of the true cells [N] (plus ``ridge / 2 * |w|^2``)."""
    lp = log_posterior(features, weights)
    w = np.asarray(weights, np.float64)
    return float(-lp[np.arange(len(true_cell)), true_cell].mean() + 0.5 * ridge * w @ w)


def _nll_grad_hess(features: np.ndarray, true_cell: np.ndarray, w: np.ndarray, ridge: float):
    lp = log_posterior(features, w)
    p = np.exp(lp)                                            # [N, C]
    rows = np.arange(len(true_cell))
    mean_f = np.einsum("nc,nck->nk", p, features)             # E_p[F] per location [N, K]
    f_true = features[rows, true_cell]                        # [N, K]
    value = -lp[rows, true_cell].mean() + 0.5 * ridge * w @ w
    grad = (mean_f - f_true).mean(0) + ridge * w
    second = np.einsum("nc,nck,ncl->kl", p, features, features) / len(true_cell)
    hess = second - mean_f.T @ mean_f / len(true_cell) + ridge * np.eye(len(w))
    return value, grad, hess


def fit_fusion(features: np.ndarray, true_cell: Sequence[int], start: Fusion, *,
               fit: Sequence[str] = FEATURES, ridge: float = RIDGE, max_iter: int = 100) -> tuple[Fusion, dict[str, float]]:
    """Maximum-likelihood weights for the features ``fit`` (the others keep ``start``'s values) on
    held-out locations: features [N, C, 4] (:func:`stack_features`), true cell [N] per location.

    Damped Newton steps with the exact Hessian (the objective is convex) until the gradient norm is
    below 1e-9 or ``max_iter``. Returns the fitted :class:`Fusion` (``prior_source`` and note from
    ``start``) and ``{"nll_start", "nll", "iterations"}``."""
    f = np.asarray(features, dtype=np.float64)
    y = np.asarray(true_cell, dtype=np.int64)
    if f.ndim != 3 or f.shape[2] != len(FEATURES) or len(y) != f.shape[0] or len(y) == 0:
        raise GeolocError(f"features must be [N, C, {len(FEATURES)}] with one true cell per row (N >= 1)")
    if y.min() < 0 or y.max() >= f.shape[1]:
        raise GeolocError("true cells must index the geocells")
    unknown = sorted(set(fit) - set(FEATURES))
    if unknown:
        raise GeolocError(f"unknown fusion features {unknown}; known: {list(FEATURES)}")
    free = np.array([k in fit for k in FEATURES])
    w = start.weights()
    fixed_part = f[..., ~free] @ w[~free] if (~free).any() else 0.0
    sub = f[..., free] + 0.0
    if (~free).any():  # fold the fixed features into a constant feature with weight 1
        sub = np.concatenate([sub, np.asarray(fixed_part)[..., None]], axis=-1)

    def unpack(v: np.ndarray) -> np.ndarray:
        return np.concatenate([v, [1.0]]) if (~free).any() else v

    v = w[free].copy()
    start_nll = nll(f, y, w, ridge)
    iterations = 0
    for _ in range(max_iter):
        value, grad, hess = _nll_grad_hess(sub, y, unpack(v), ridge)
        g, h = grad[: free.sum()], hess[: free.sum(), : free.sum()]
        if np.linalg.norm(g) < 1e-9:
            break
        iterations += 1
        step = np.linalg.solve(h, g)
        t = 1.0
        while t > 1e-8:  # backtracking (Armijo) keeps every step a descent step
            trial = v - t * step
            if _nll_grad_hess(sub, y, unpack(trial), ridge)[0] <= value - 1e-4 * t * g @ step:
                break
            t *= 0.5
        v = v - t * step
    w_out = w.copy()
    w_out[free] = v
    fused = Fusion(*map(float, w_out), prior_source=start.prior_source, note=start.note)
    return fused, {"nll_start": start_nll, "nll": nll(f, y, w_out, ridge), "iterations": float(iterations)}


__all__ = ["FEATURES", "FORMAT", "Fusion", "fit_fusion", "log_posterior", "nll", "stack_features"]
