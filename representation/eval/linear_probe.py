"""Linear-probe evaluation: multinomial logistic regression on frozen embeddings.

Minimises ``mean_i CE(W x_i + b, y_i) + (λ / 2) ‖W‖²`` (bias not regularised) with full-batch
L-BFGS, the standard linear-evaluation protocol (CLIP's linear probes use scikit-learn's
L-BFGS logistic regression, with ``C = 1 / (λ N)``). The cross-entropy is the library's
soft-CE primitive. Returns the fitted layer and train / test accuracy.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from representation.functional.info_nce import contrastive_row_losses
from representation.registry import register


def fit_linear_probe(x: torch.Tensor, y: torch.Tensor, *, num_classes: int | None = None, l2: float = 1e-4,
                     max_iter: int = 500, tol: float = 1e-10, standardize: bool = False) -> nn.Linear:
    """Fit ``nn.Linear(D, C)`` on features ``x`` [N, D] (float64 inside) and labels ``y`` [N].

    ``standardize`` z-scores the features first (the returned layer then expects standardised
    inputs; :class:`LinearProbe` handles it).
    """
    c = int(y.max()) + 1 if num_classes is None else num_classes
    x = x.detach().double()
    y = y.long().to(x.device)
    layer = nn.Linear(x.shape[1], c).double().to(x.device)
    nn.init.zeros_(layer.weight)
    nn.init.zeros_(layer.bias)
    opt = torch.optim.LBFGS(layer.parameters(), lr=1.0, max_iter=max_iter, tolerance_grad=tol,
                            tolerance_change=tol, history_size=20, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        rows, _ = contrastive_row_losses(layer(x), y)
        loss = rows.mean() + 0.5 * l2 * layer.weight.pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return layer


@register("linear_probe", kind="evaluator")
class LinearProbe:
    """``LinearProbe(l2=1e-4)(train_x, train_y, test_x, test_y) -> {"train_top1", "test_top1"}``.

    Features are z-scored with the training statistics when ``standardize`` (default True).
    """

    citation = "Radford et al., Learning Transferable Visual Models From Natural Language Supervision, ICML 2021"

    def __init__(self, l2: float = 1e-4, max_iter: int = 500, standardize: bool = True) -> None:
        self.l2, self.max_iter, self.standardize = float(l2), int(max_iter), bool(standardize)
        self.layer: nn.Linear | None = None

    def __call__(self, train_x: torch.Tensor, train_y: torch.Tensor, test_x: torch.Tensor,
                 test_y: torch.Tensor) -> dict[str, float]:
        mean = train_x.double().mean(0) if self.standardize else 0.0
        std = train_x.double().std(0).clamp_min(1e-12) if self.standardize else 1.0
        c = int(max(int(train_y.max()), int(test_y.max()))) + 1
        self.layer = fit_linear_probe((train_x.double() - mean) / std, train_y, num_classes=c, l2=self.l2,
                                      max_iter=self.max_iter)
        with torch.no_grad():
            acc = {}
            for name, x, y in (("train", train_x, train_y), ("test", test_x, test_y)):
                pred = self.layer((x.double() - mean) / std).argmax(dim=1)
                acc[f"{name}_top1"] = float((pred == y.to(pred.device)).double().mean())
        return acc

    def get_config_dict(self) -> dict[str, Any]:
        return {"l2": self.l2, "max_iter": self.max_iter, "standardize": self.standardize}
