import pytest
import torch
import torch.nn.functional as F

from representation.functional import info_nce
from representation.losses import InfoNCELoss, sum_losses
from representation.targets import same_label_targets
from representation.testing.reference import naive_info_nce


def _feats(n, d=6, seed=0, h=0):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(n, d, generator=g, dtype=torch.float64)
    k = q + 0.8 * torch.randn(n, d, generator=g, dtype=torch.float64)
    neg = torch.randn(h, d, generator=g, dtype=torch.float64) if h else None
    return q, k, neg


@pytest.mark.parametrize("symmetric", [False, True])
def test_matches_naive_loop_reference(symmetric):
    q, k, neg = _feats(5, h=3)
    loss = InfoNCELoss(temperature=0.1, symmetric=symmetric)
    if symmetric:
        neg = None
    got = loss(q, k, negatives=neg)
    want = naive_info_nce(q, k, 10.0, negatives=neg, symmetric=symmetric)
    assert float(got) == pytest.approx(want, rel=1e-10)
    assert float(info_nce(q, k, scale=10.0, negatives=neg, symmetric=symmetric)) == pytest.approx(want, rel=1e-10)


def test_soft_targets_and_mask_match_reference():
    q, k, neg = _feats(6, h=2)
    labels = torch.tensor([0, 1, 0, 2, 1, 0])
    t = torch.cat([same_label_targets(labels, labels, dtype=torch.float64), torch.zeros(6, 2, dtype=torch.float64)], 1)
    mask = torch.ones(6, 8, dtype=torch.bool)
    mask[0, 3] = False
    mask[4, 7] = False
    got = InfoNCELoss(temperature=0.2, symmetric=False)(q, k, targets=t, mask=mask, negatives=neg)
    want = naive_info_nce(q, k, 5.0, targets=t, mask=mask, negatives=neg)
    assert float(got) == pytest.approx(want, rel=1e-10)
    t2, m2 = t[:, :6], mask[:, :6]
    got = InfoNCELoss(temperature=0.2, symmetric=True)(q, k, targets=t2, mask=m2)
    assert float(got) == pytest.approx(naive_info_nce(q, k, 5.0, targets=t2, mask=m2, symmetric=True), rel=1e-10)


def test_reduces_to_plain_cross_entropy_and_mnrl_form():
    q, k, neg = _feats(7, h=4)
    qn, kn, nn_ = (F.normalize(x, dim=1) for x in (q, k, neg))
    labels = torch.arange(7)
    plain = F.cross_entropy(20.0 * qn @ torch.cat([kn, nn_]).T, labels)
    torch.testing.assert_close(InfoNCELoss.mnrl()(q, k, negatives=neg), plain)
    clip = 0.5 * (F.cross_entropy(qn @ kn.T / 0.07, labels) + F.cross_entropy(kn @ qn.T / 0.07, labels))
    torch.testing.assert_close(InfoNCELoss(symmetric=True)(q, k), clip)
    # identity targets through the soft-CE path equal the fast CE path
    torch.testing.assert_close(InfoNCELoss(symmetric=True)(q, k, targets=torch.eye(7, dtype=torch.float64)), clip)


def test_symmetric_loss_is_symmetric_in_q_and_k():
    q, k, _ = _feats(6)
    loss = InfoNCELoss(temperature=0.1, symmetric=True)
    torch.testing.assert_close(loss(q, k), loss(k, q))


def test_duplicate_masking_equals_deduplicated_loss():
    # MultiCSR property: masking a duplicated key everywhere except as its own row's positive
    # gives the deduplicated loss plus the duplicate row scored against the deduplicated keys.
    q, k, _ = _feats(5)
    kd = torch.cat([k, k[1:2]])  # key 5 duplicates key 1
    qd = torch.cat([q, q[1:2]])
    mask = torch.ones(6, 6, dtype=torch.bool)
    mask[:5, 5] = False
    mask[5, 1] = False
    got = InfoNCELoss(temperature=0.1, symmetric=False)(qd, kd, targets=torch.eye(6, dtype=torch.float64),
                                                        mask=mask)
    plain = naive_info_nce(q, k, 10.0)
    row5 = naive_info_nce(q[1:2], k[1:2], 10.0, negatives=k[[0, 2, 3, 4]])
    assert float(got) == pytest.approx((5 * plain + row5) / 6, rel=1e-10)
    unmasked = InfoNCELoss(temperature=0.1, symmetric=False)(qd, kd)
    assert float(unmasked) > float(got)  # the duplicate acts as a false negative when not masked


def test_learnable_scale_gets_gradient_and_dict_output():
    q, k, _ = _feats(6)
    loss = InfoNCELoss.clip().double()
    out = loss(q.requires_grad_(True), k, return_dict=True)
    assert set(out) == {"infonce_loss", "logs"} and "logit_scale" in out["logs"]
    sum_losses(out).backward()
    assert loss.logit_scale_module.log_scale.grad is not None and q.grad is not None
    assert loss.get_config_dict()["learn_scale"] is True and "Radford" in loss.citation
    with pytest.raises(ValueError):
        InfoNCELoss(temperature=0.1, learn_scale=True)
    with pytest.raises(ValueError, match="global"):
        loss(q, k, targets=torch.eye(5, dtype=torch.float64))


def test_loss_decreases_when_training_features():
    torch.manual_seed(0)
    q = torch.randn(16, 8, requires_grad=True)
    k = torch.randn(16, 8, requires_grad=True)
    loss = InfoNCELoss(temperature=0.1)
    opt = torch.optim.SGD([q, k], lr=0.5)
    first = float(loss(q, k).detach())
    for _ in range(30):
        opt.zero_grad()
        loss(q, k).backward()
        opt.step()
    assert float(loss(q, k).detach()) < 0.5 * first
