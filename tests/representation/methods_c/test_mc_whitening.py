"""Issue 15, rows 21 (WhitenedCSE) and 1 (CCP's post-hoc whitening): shuffled group whitening,
the WhitenedCSE loss, fitted per-group whitening."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from representation import registry
from representation.blocks import EmbeddingWhitening, ShuffledGroupWhitening
from representation.functional.whitening import group_whiten
from representation.losses import InfoNCELoss, WhitenedCSELoss
from representation.testing.reference import naive_info_nce


def naive_group_whiten(x: np.ndarray, groups: int, perm: list[int] | None, eps: float) -> np.ndarray:
    """Loops over groups; covariance by sums of outer products; ZCA from numpy's eigh."""
    n, d = x.shape
    order = perm if perm is not None else list(range(d))
    w = d // groups
    out = np.zeros_like(x)
    for g in range(groups):
        chans = order[g * w:(g + 1) * w]
        block = x[:, chans]
        mean = sum(block[i] for i in range(n)) / n
        cov = sum(np.outer(block[i] - mean, block[i] - mean) for i in range(n)) / n
        lam, u = np.linalg.eigh(cov)
        zca = u @ np.diag(1.0 / np.sqrt(lam + eps)) @ u.T
        for i in range(n):
            out[i, chans] = (block[i] - mean) @ zca
    return out


def test_group_whitening_matches_the_loop_reference_and_whitens_each_group():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(40, 12, generator=g, dtype=torch.float64) @ torch.randn(12, 12, generator=g, dtype=torch.float64)
    perm = torch.randperm(12, generator=g)
    out = group_whiten(x, 3, perm, eps=1e-8)
    ref = naive_group_whiten(x.numpy(), 3, perm.tolist(), 1e-8)
    np.testing.assert_allclose(out.numpy(), ref, atol=1e-8)
    for grp in range(3):  # covariance of each (permuted) group is I; channels back in place
        chans = perm[grp * 4:(grp + 1) * 4]
        block = out[:, chans]
        cov = (block - block.mean(0)).T @ (block - block.mean(0)) / 40
        torch.testing.assert_close(cov, torch.eye(4, dtype=torch.float64), atol=1e-6, rtol=0)


def test_unpermute_restores_channel_order_and_one_group_is_shuffle_invariant():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(30, 8, generator=g, dtype=torch.float64)
    perm = torch.randperm(8, generator=g)
    torch.testing.assert_close(group_whiten(x, 1, perm), group_whiten(x, 1, None))  # ZCA is equivariant
    # with groups, shuffling x's channels and unshuffling the output equals whitening with the shuffle
    torch.testing.assert_close(group_whiten(x[:, perm], 2, None)[:, torch.argsort(perm)], group_whiten(x, 2, perm))


def test_group_whitening_gradcheck_float64():
    g = torch.Generator().manual_seed(2)
    x = torch.randn(10, 4, generator=g, dtype=torch.float64, requires_grad=True)
    perm = torch.tensor([2, 0, 3, 1])
    assert torch.autograd.gradcheck(lambda t: group_whiten(t, 2, perm, eps=1e-3), (x,))


def test_whitenedcse_loss_matches_sum_of_simcse_terms_on_whitened_views():
    g = torch.Generator().manual_seed(3)
    views = torch.randn(16, 3, 8, generator=g, dtype=torch.float64)
    perms = torch.stack([torch.randperm(8, generator=g) for _ in range(3)])
    loss = WhitenedCSELoss(num_groups=2, eps=1e-6)(views, perms=perms)
    white = [torch.from_numpy(naive_group_whiten(views[:, v].numpy(), 2, perms[v].tolist(), 1e-6)) for v in range(3)]
    expect = sum(naive_info_nce(white[0], white[v], 1 / 0.05) for v in (1, 2))
    assert abs(float(loss) - expect) < 1e-8
    # two views: the SimCSE InfoNCE of the two whitened views
    two = WhitenedCSELoss(num_groups=2, eps=1e-6)(views[:, :2], perms=perms[:2])
    simcse = InfoNCELoss.simcse()(white[0], white[1])
    assert abs(float(two) - float(simcse)) < 1e-8


def test_whitenedcse_gradient_flows_through_the_whitening():
    views = torch.randn(12, 3, 4, dtype=torch.float64, requires_grad=True)
    WhitenedCSELoss(num_groups=2)(views).backward()
    assert views.grad is not None and torch.isfinite(views.grad).all() and views.grad.abs().sum() > 0


def test_shuffled_group_whitening_block_and_errors():
    blk = registry.build({"type": "shuffled_group_whitening", "num_groups": 2})
    assert isinstance(blk, ShuffledGroupWhitening)
    out = blk(torch.randn(50, 6, dtype=torch.float64))
    assert out.shape == (50, 6)
    with pytest.raises(ValueError, match="multiple of num_groups"):
        group_whiten(torch.randn(5, 7), 2)


def test_embedding_whitening_per_group_and_pca_dim():
    g = torch.Generator().manual_seed(4)
    a = torch.randn(200, 5, generator=g, dtype=torch.float64) * 3 + 10
    b = torch.randn(200, 5, generator=g, dtype=torch.float64) @ torch.randn(5, 5, generator=g, dtype=torch.float64) - 4
    x, groups = torch.cat([a, b]), ["en"] * 200 + ["de"] * 200
    w = EmbeddingWhitening(eps=1e-9).fit(x, groups)
    out = w(x, groups)
    for sl in (slice(0, 200), slice(200, 400)):
        blk = out[sl]
        torch.testing.assert_close(blk.mean(0), torch.zeros(5, dtype=torch.float64), atol=1e-8, rtol=0)
        torch.testing.assert_close((blk - blk.mean(0)).T @ (blk - blk.mean(0)) / 200, torch.eye(5, dtype=torch.float64),
                                   atol=1e-6, rtol=0)
    with pytest.raises(ValueError, match="not seen"):
        w(x[:2], ["fr", "en"])
    pca = EmbeddingWhitening(dim=2).fit(a)
    assert pca(a).shape == (200, 2)
    cov = torch.cov(pca(a).T, correction=0)
    torch.testing.assert_close(cov, torch.eye(2, dtype=torch.float64), atol=1e-4, rtol=0)
    assert F.normalize(pca(a), dim=1).shape == (200, 2)
