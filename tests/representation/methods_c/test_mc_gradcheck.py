"""Issue 15: float64 gradcheck of every methods-C loss with a differentiable input (the whitening
has its own in test_mc_whitening.py): analytic gradients equal finite differences."""

from __future__ import annotations

import torch
from torch.autograd import gradcheck

from representation.losses import (
    CCPLoss,
    CoLLAPLoss,
    MaskedReconstructionLoss,
    MultiLabelBCELoss,
    NSPTLoss,
    SepCLRLoss,
    UNITERLoss,
)


def _x(*shape, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=torch.float64).requires_grad_(True)


def test_ccp_gradcheck_with_a_filled_queue():
    loss = CCPLoss(num_groups=2, dim=4, queue_size=3, temperature=0.3).double()
    groups = torch.tensor([0, 1, 0, 1, 1])
    with torch.no_grad():  # fill both queues, then check the gradient without touching them
        loss(torch.randn(5, 4, dtype=torch.float64), torch.randn(5, 4, dtype=torch.float64), groups)
    q, k = _x(5, 4, seed=1), _x(5, 4, seed=2)
    assert gradcheck(lambda a, b: loss(a, b, groups, enqueue=False), (q, k))


def test_nspt_gradcheck_on_the_student():
    labels = torch.tensor([0, 1, 0, 1, 2, 2])
    teacher = torch.randn(6, 4, dtype=torch.float64)
    assert gradcheck(lambda s: NSPTLoss(temperature=0.2)(s, teacher, labels), (_x(6, 4, seed=3),))


def test_collap_gradcheck_segments_and_text():
    torch.manual_seed(0)
    loss = CoLLAPLoss(dim=4, attn_dim=3, temperature=0.2).double()
    mask = torch.tensor([[True, True, False], [True, True, True], [True, False, False], [True, True, True]])
    assert gradcheck(lambda s, t: loss(s, t, segment_mask=mask), (_x(4, 3, 4, seed=4), _x(4, 4, seed=5)))


def test_sepclr_gradcheck():
    target = torch.tensor([True, False, True, True, False, False])
    loss = SepCLRLoss(salient_weight=2.0, reg_weight=3.0, mi_weight=0.5)
    assert gradcheck(lambda c, s: loss(c, s, target), (_x(6, 2, 3, seed=6), _x(6, 2, 2, seed=7)))


def test_uniter_gradcheck_through_the_cost_and_itm_logits(monkeypatch):
    # the IPOT plan is a constant of the loss (computed without gradient, as UNITER does): hold it
    # at the plan of the starting point so finite differences see the same function
    import representation.functional.ot as ot

    labels = torch.tensor([1, 0, 1])
    w, r, lg = _x(3, 4, 5, seed=8), _x(3, 3, 5, seed=9), _x(3, 2, seed=10)
    plan = ot.ipot(ot.cosine_cost(w, r).detach(), iterations=20)
    monkeypatch.setattr(ot, "ipot", lambda *a, **k: plan)
    loss = UNITERLoss(ot_weight=0.5, iterations=20)
    assert gradcheck(lambda w, r, lg: loss(w, r, labels, itm_logits=lg), (w, r, lg))


def test_heuristic_terms_gradcheck():
    labels = torch.tensor([[1.0, 0.0, -1.0], [0.0, 1.0, 1.0]])
    assert gradcheck(lambda lg: MultiLabelBCELoss()(lg, labels), (_x(2, 3, seed=11),))
    target = torch.randn(2, 4, 3, dtype=torch.float64)
    mask = torch.tensor([[True, False, True, False], [False, False, True, True]])
    assert gradcheck(lambda p: MaskedReconstructionLoss(norm_target=True)(p, target, mask), (_x(2, 4, 3, seed=12),))
