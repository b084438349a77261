"""Issue 14: one target/mask shape convention for all losses -- dense matrices describe the WHOLE
gathered batch (global rows x global columns; in one process simply [N, M]) or are row callables
-- stated once (``representation.distributed.blocks``) and checked with one message."""

from __future__ import annotations

import pytest
import torch

from representation.losses import (
    DCDLoss,
    InfoNCELoss,
    MultiPositiveLoss,
    SigLIPLoss,
    SoftContrastiveLoss,
    SupConLoss,
)


def _qk(n: int = 6, d: int = 4):
    g = torch.Generator().manual_seed(0)
    return torch.randn(n, d, generator=g, dtype=torch.float64), torch.randn(n, d, generator=g, dtype=torch.float64)


@pytest.mark.parametrize("call", [
    lambda q, k, t: InfoNCELoss(temperature=0.1)(q, k, targets=t),
    lambda q, k, t: InfoNCELoss(temperature=0.1)(q, k, mask=t > 0),
    lambda q, k, t: SoftContrastiveLoss()(q, k, targets=t),
    lambda q, k, t: MultiPositiveLoss(temperature=0.1)(q, k, targets=t),
    lambda q, k, t: SigLIPLoss()(q, k, targets=t),
    lambda q, k, t: DCDLoss(num_negatives=2)(q, k, t),
])
def test_wrong_shape_names_the_convention(call) -> None:
    q, k = _qk()
    with pytest.raises(ValueError, match=r"global \[6, 6\] matrix of the whole gathered batch"):
        call(q, k, torch.ones(5, 6, dtype=torch.float64))


def test_supcon_checks_its_sample_level_matrices() -> None:
    q, _ = _qk()
    with pytest.raises(ValueError, match=r"global \[6, 6\] sample-level matrix"):
        SupConLoss()(q, targets=torch.ones(6, 5))
    with pytest.raises(ValueError, match=r"global \[6, 6\] sample-level matrix"):
        SupConLoss()(q, torch.arange(6), mask=torch.ones(3, 6, dtype=torch.bool))


def test_row_callable_equals_the_dense_matrix() -> None:
    q, k = _qk()
    t = torch.rand(6, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    fn = InfoNCELoss(temperature=0.1, symmetric=False)
    asked = []

    def rows(index: torch.Tensor) -> torch.Tensor:
        asked.append(index.tolist())
        return t[index]

    assert fn(q, k, targets=rows).item() == pytest.approx(fn(q, k, targets=t).item(), rel=1e-12)
    assert asked == [list(range(6))]
    sup = SupConLoss(temperature=0.2)
    labels = torch.tensor([0, 1, 0, 1, 2, 2])
    same = (labels[:, None] == labels[None, :]).double()
    assert sup(q, targets=same).item() == pytest.approx(sup(q, labels).item(), rel=1e-12)
    assert sup(q, targets=lambda r: same[r]).item() == pytest.approx(sup(q, labels).item(), rel=1e-12)
