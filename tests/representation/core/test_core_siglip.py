import pytest
import torch
import torch.nn.functional as F

from representation.functional import sigmoid_pairwise_sum
from representation.losses import SigLIPLoss
from representation.testing.reference import naive_sigmoid_pairwise_sum


def _feats(n, m=None, d=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(n, d, generator=g, dtype=torch.float64)
    k = torch.randn(m or n, d, generator=g, dtype=torch.float64)
    return q, k


def test_sum_matches_naive_loops_default_and_soft_targets():
    q, k = _feats(4, 7)
    got = sigmoid_pairwise_sum(q, k, 3.0, -1.5, pos_offset=2, chunk_size=3)
    assert float(got) == pytest.approx(naive_sigmoid_pairwise_sum(q, k, 3.0, -1.5, pos_offset=2), rel=1e-12)
    t = torch.rand(4, 7, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    mask = torch.rand(4, 7, generator=torch.Generator().manual_seed(2)) > 0.3
    got = sigmoid_pairwise_sum(q, k, 2.0, 0.5, targets=t, mask=mask, chunk_size=2)
    assert float(got) == pytest.approx(naive_sigmoid_pairwise_sum(q, k, 2.0, 0.5, t, mask), rel=1e-12)


def test_equals_paper_sign_form():
    q, k = _feats(6)
    x = 10.0 * F.normalize(q, dim=1) @ F.normalize(k, dim=1).T - 10.0
    z = 2 * torch.eye(6, dtype=torch.float64) - 1
    paper = -F.logsigmoid(z * x).sum() / 6
    loss = SigLIPLoss(chunk_size=4).double()
    torch.testing.assert_close(loss(q, k), paper)


@pytest.mark.parametrize("chunk", [1, 3, 5, 16])
def test_chunked_equals_unchunked_forward_and_backward(chunk):
    q, k = _feats(9, 9, seed=3)
    results = []
    for c in (None, chunk):
        qq, kk = q.clone().requires_grad_(True), k.clone().requires_grad_(True)
        s = torch.tensor(4.0, dtype=torch.float64, requires_grad=True)
        b = torch.tensor(-2.0, dtype=torch.float64, requires_grad=True)
        out = sigmoid_pairwise_sum(qq, kk, s, b, chunk_size=c)
        out.backward()
        results.append((out.detach(), qq.grad, kk.grad, s.grad, b.grad))
    for a, b in zip(*results, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_gradcheck_float64():
    q, k = _feats(5, 6, d=3, seed=4)
    q.requires_grad_(True)
    k.requires_grad_(True)
    s = torch.tensor(2.5, dtype=torch.float64, requires_grad=True)
    b = torch.tensor(-0.7, dtype=torch.float64, requires_grad=True)
    mask = torch.rand(5, 6, generator=torch.Generator().manual_seed(5)) > 0.2
    t = (torch.rand(5, 6, generator=torch.Generator().manual_seed(6)) > 0.7).double()
    assert torch.autograd.gradcheck(lambda q, k, s, b: sigmoid_pairwise_sum(q, k, s, b, pos_offset=1,
                                                                             chunk_size=2), (q, k, s, b))
    assert torch.autograd.gradcheck(lambda q, k, s, b: sigmoid_pairwise_sum(q, k, s, b, targets=t, mask=mask,
                                                                             chunk_size=4), (q, k, s, b))


def test_module_defaults_learnable_params_and_dict():
    loss = SigLIPLoss()
    params = dict(loss.named_parameters())
    assert set(params) == {"logit_scale_module.log_scale", "bias"}
    assert float(loss.resolve_scale(None).detach()) == pytest.approx(10.0) and float(loss.bias.detach()) == -10.0
    q, k = _feats(4)
    out = loss.double()(q.requires_grad_(True), k, return_dict=True)
    out["siglip_loss"].backward()
    assert loss.bias.grad is not None and loss.logit_scale_module.log_scale.grad is not None
    fixed = SigLIPLoss(temperature=0.1, learn_bias=False)
    assert list(fixed.parameters()) == [] and fixed.get_config_dict()["learn_scale"] is False
    assert "Sigmoid Loss" in loss.citation


def test_loss_decreases():
    torch.manual_seed(0)
    q = torch.randn(12, 6, requires_grad=True)
    k = torch.randn(12, 6, requires_grad=True)
    loss = SigLIPLoss(chunk_size=5)
    opt = torch.optim.SGD([q, k, *loss.parameters()], lr=0.3)
    first = float(loss(q, k).detach())
    for _ in range(40):
        opt.zero_grad()
        loss(q, k).backward()
        opt.step()
    assert float(loss(q, k).detach()) < 0.5 * first


def test_negatives_only_blocks_equal_zero_targets_and_ring_needs_local_loss():
    q, k = _feats(4, 6)
    a = sigmoid_pairwise_sum(q, k, 3.0, -1.0, pos_offset=None, chunk_size=4)
    b = sigmoid_pairwise_sum(q, k, 3.0, -1.0, targets=torch.zeros(4, 6, dtype=torch.float64))
    torch.testing.assert_close(a, b)
    from representation.distributed import GatherSpec

    with pytest.raises(ValueError, match="ring"):
        SigLIPLoss(dist_impl="ring", gather=GatherSpec(local_loss=False))
    # one process: the ring is the identity, same loss as gather
    torch.testing.assert_close(SigLIPLoss(dist_impl="ring").double()(q, q), SigLIPLoss().double()(q, q))
