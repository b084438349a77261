"""Issue 14: SigLIP's custom autograd Function is autocast-aware (custom_fwd/custom_bwd), and
GradCache with BatchNorm says what it equals (micro-batch forwards), leaves running statistics
updated once per micro-batch and warns."""

from __future__ import annotations

import pytest
import torch

from representation.functional.sigmoid import sigmoid_pairwise_sum
from representation.losses import InfoNCELoss
from representation.train import grad_cache_backward
from representation.train.gradcache import concat_trees, split_batch


def test_siglip_function_under_cpu_bf16_autocast_matches_float32() -> None:
    torch.manual_seed(0)
    lin = torch.nn.Linear(8, 8)
    x, y = torch.randn(6, 8), torch.randn(6, 8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        q, k = lin(x), lin(y)  # bf16 under autocast
        assert q.dtype == torch.bfloat16
        loss = sigmoid_pairwise_sum(q, k, 10.0, -1.0, chunk_size=4)
    assert loss.dtype == torch.float32
    qf, kf = q.detach().float().requires_grad_(True), k.detach().float().requires_grad_(True)
    ref = sigmoid_pairwise_sum(qf, kf, 10.0, -1.0, chunk_size=4)  # fp32, no autocast
    assert loss.item() == pytest.approx(ref.item(), rel=1e-6)
    q.retain_grad()
    k.retain_grad()
    with torch.autocast("cpu", dtype=torch.bfloat16):  # backward called inside autocast too
        loss.backward()
    ref.backward()
    torch.testing.assert_close(q.grad.float(), qf.grad.to(torch.bfloat16).float(), rtol=1e-2, atol=1e-3)
    torch.testing.assert_close(k.grad.float(), kf.grad.to(torch.bfloat16).float(), rtol=1e-2, atol=1e-3)


class _BNTower(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.BatchNorm1d(8), torch.nn.Tanh(),
                                     torch.nn.Linear(8, 4))
        self.b = torch.nn.Linear(5, 4)

    def forward(self, batch):
        return self.a(batch[0]), self.b(batch[1])


def _loss(feats, batch):
    return InfoNCELoss(temperature=0.2)(*feats, return_dict=True)


def test_gradcache_with_batchnorm_equals_micro_batch_forwards_and_updates_stats_once() -> None:
    torch.manual_seed(0)
    x, y = torch.randn(10, 5, dtype=torch.float64), torch.randn(10, 5, dtype=torch.float64)
    model = _BNTower().double()
    ref = _BNTower().double()
    ref.load_state_dict(model.state_dict())
    with pytest.warns(UserWarning, match="BatchNorm"):
        grad_cache_backward(model, _loss, (x, y), 4, device=torch.device("cpu"))
    # reference: every micro-batch embedded WITH gradient (its own BatchNorm statistics), loss on all
    feats = concat_trees([ref(mb) for mb in split_batch((x, y), 4)])
    _loss(feats, None)["infonce_loss"].backward()
    for (name, p), (_, r) in zip(model.named_parameters(), ref.named_parameters(), strict=True):
        torch.testing.assert_close(p.grad, r.grad, rtol=1e-10, atol=1e-12, msg=name)
    for (name, b), (_, r) in zip(model.named_buffers(), ref.named_buffers(), strict=True):
        torch.testing.assert_close(b, r, rtol=0, atol=0, msg=name)  # updated once per micro-batch, not twice
    assert int(model.a[1].num_batches_tracked) == 3
    # ...which is not the big-batch gradient (per-micro-batch statistics)
    big = _BNTower().double()
    big.load_state_dict(ref.state_dict())
    InfoNCELoss(temperature=0.2)(*big((x, y))).backward()
    assert not torch.allclose(big.a[0].weight.grad, ref.a[0].weight.grad)


def test_gradcache_in_eval_batchnorm_equals_big_batch() -> None:
    torch.manual_seed(1)
    x, y = torch.randn(10, 5, dtype=torch.float64), torch.randn(10, 5, dtype=torch.float64)
    model, big = _BNTower().double(), _BNTower().double()
    big.load_state_dict(model.state_dict())
    model.a[1].eval()
    big.a[1].eval()
    grad_cache_backward(model, _loss, (x, y), 3, device=torch.device("cpu"))
    InfoNCELoss(temperature=0.2)(*big((x, y))).backward()
    for (name, p), (_, r) in zip(model.named_parameters(), big.named_parameters(), strict=True):
        torch.testing.assert_close(p.grad, r.grad, rtol=1e-10, atol=1e-12, msg=name)
