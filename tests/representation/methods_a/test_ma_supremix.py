import math

import pytest
import torch
import torch.nn.functional as F

from representation.losses.supcon import SupConLoss
from representation.losses.supremix import SupReMixLoss, supremix_loss
from representation.miners.mixup import MixupPairGenerator


def _batch(n=12, d=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    z = F.normalize(torch.randn(n, d, generator=g, dtype=torch.float64), dim=1)
    y = torch.randint(0, 5, (n,), generator=g).double()
    return z, y


def test_mixed_label_arithmetic():
    z, y = _batch(n=16)
    pairs = MixupPairGenerator(num_negatives=3, num_positives=4, lam_range=(0.6, 0.8))(
        z, y, torch.Generator().manual_seed(1))
    n, c = pairs.labels.shape
    assert (n, c) == (16, 7) and pairs.features.shape == (16, 7, 5)
    a = torch.arange(n).unsqueeze(1).expand(n, c)
    yi, yj = y[pairs.first], y[pairs.second]
    # labels and features are the same lam-mix
    torch.testing.assert_close(pairs.labels, pairs.lam * yi + (1 - pairs.lam) * yj)
    lam = pairs.lam.unsqueeze(-1)
    torch.testing.assert_close(pairs.features, lam * z[pairs.first] + (1 - lam) * z[pairs.second])
    neg, pos = ~pairs.positive & pairs.valid, pairs.positive & pairs.valid
    # inclusive: the anchor is the first sample, lam in range, mixed label differs from the anchor's
    assert torch.equal(pairs.first[neg], a[neg])
    assert ((pairs.lam[neg] >= 0.6) & (pairs.lam[neg] <= 0.8)).all()
    assert (pairs.labels[neg] != y[a[neg]]).all()
    # exclusive: y_i < y_a < y_j, anchor not mixed, mixed label == anchor label
    assert (yi[pos] < y[a[pos]]).all() and (yj[pos] > y[a[pos]]).all()
    assert ((pairs.first[pos] != a[pos]) & (pairs.second[pos] != a[pos])).all()
    torch.testing.assert_close(pairs.labels[pos], y[a[pos]])
    # anchors with the smallest / largest label have no exclusive pair
    extreme = (y == y.min()) | (y == y.max())
    exclusive = (pairs.positive & pairs.valid)[:, 3:]  # the last 4 columns are the exclusive mixes
    assert pairs.positive[:, 3:].all() and not pairs.positive[:, :3].any()
    assert not exclusive[extreme].any() and exclusive[~extreme].all()
    assert torch.isfinite(pairs.features).all() and torch.isfinite(pairs.labels).all()


def test_exclusive_lambda_by_hand():
    z = torch.eye(3, dtype=torch.float64)
    y = torch.tensor([1.0, 2.0, 5.0])
    pairs = MixupPairGenerator(num_negatives=0, num_positives=1)(z, y)
    # anchor 1 (y=2) mixes sample 0 (y=1) and 2 (y=5): lam = (5-2)/(5-1) = 0.75
    assert pairs.valid[1, 0] and pairs.lam[1, 0].item() == pytest.approx(0.75)
    torch.testing.assert_close(pairs.features[1, 0], torch.tensor([0.75, 0.0, 0.25], dtype=torch.float64))
    assert not pairs.valid[0, 0] and not pairs.valid[2, 0]
    with pytest.raises(ValueError):
        MixupPairGenerator(lam_range=(0.0, 0.5))


def test_supremix_matches_naive_loop():
    z, y = _batch(n=8)
    pairs = MixupPairGenerator(2, 2)(z, y, torch.Generator().manual_seed(2))
    got = supremix_loss(z, y, pairs, 4.0)
    mixes = F.normalize(pairs.features, dim=-1)
    total, count = 0.0, 0
    for a in range(8):
        cands = [(float(z[a] @ z[c]), float(y[c] == y[a])) for c in range(8) if c != a]
        cands += [(float(z[a] @ mixes[a, j]), float(pairs.positive[a, j])) for j in range(4) if pairs.valid[a, j]]
        n_pos = sum(p for _, p in cands)
        if n_pos == 0:
            continue
        lse = math.log(sum(math.exp(4.0 * s) for s, _ in cands))
        total += -sum(4.0 * s - lse for s, p in cands if p) / n_pos
        count += 1
    assert got.item() == pytest.approx(total / count, rel=1e-10)


def test_no_mixes_equals_supcon():
    z, y = _batch()
    a = SupReMixLoss(temperature=0.2, num_negatives=0, num_positives=0)(z, y)
    b = SupConLoss(temperature=0.2)(z, y.long())
    assert a.item() == pytest.approx(b.item(), rel=1e-12)
    out = SupReMixLoss(temperature=0.2)(z, y, return_dict=True, generator=torch.Generator().manual_seed(0))
    assert out["logs"]["num_mixed_positives"] > 0
    assert SupReMixLoss().get_config_dict()["num_positives"] == 4


def test_supremix_gradients_flow_through_mixes():
    z, y = _batch(n=6, d=3)
    z = z.clone().requires_grad_(True)
    fn = SupReMixLoss(temperature=0.5)
    assert torch.autograd.gradcheck(lambda x: fn(x, y, generator=torch.Generator().manual_seed(0)), (z,))


def _ordinal_toy(n, seed):
    g = torch.Generator().manual_seed(seed)
    y = torch.rand(n, generator=g) * 10
    proj = torch.randn(1, 16, generator=torch.Generator().manual_seed(123))
    phase = torch.rand(16, generator=torch.Generator().manual_seed(124)) * 6.28
    x = torch.sin(y.unsqueeze(1) * proj * 0.5 + phase) + 0.1 * torch.randn(n, 16, generator=g)
    return x, y


def _spearman(a: torch.Tensor, b: torch.Tensor) -> float:
    ra, rb = a.argsort().argsort().double(), b.argsort().argsort().double()
    ra, rb = ra - ra.mean(), rb - rb.mean()
    return float((ra * rb).sum() / (ra.norm() * rb.norm()))


def _train(loss_name, steps=300, seed=0):
    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(16, 64), torch.nn.ReLU(), torch.nn.Linear(64, 8))
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    supcon = SupConLoss(temperature=0.1)
    remix = SupReMixLoss(temperature=0.1, num_negatives=4, num_positives=4)
    gen = torch.Generator().manual_seed(seed)
    for step in range(steps):
        x, y = _ordinal_toy(128, seed * 10_000 + step)
        bins = y.floor()
        z = net(x)
        loss = supcon(z, bins.long()) if loss_name == "supcon" else remix(z, bins, generator=gen)
        opt.zero_grad()
        loss.backward()
        opt.step()
    x, y = _ordinal_toy(400, 999)
    with torch.no_grad():
        z = F.normalize(net(x), dim=1)
    iu = torch.triu_indices(400, 400, 1)
    emb_dist = (1 - z @ z.T)[iu[0], iu[1]]
    label_dist = (y.unsqueeze(1) - y.unsqueeze(0)).abs()[iu[0], iu[1]]
    return _spearman(emb_dist, label_dist)


@pytest.mark.slow
def test_supremix_beats_supcon_on_ordinal_toy():
    """1-D ordinal toy: Spearman(embedding distance, |y_i - y_j|) on held-out data."""
    res = {name: [_train(name, seed=s) for s in range(2)] for name in ("supcon", "supremix")}
    mean = {k: sum(v) / len(v) for k, v in res.items()}
    print("SupReMix toy Spearman:", res, mean)
    assert mean["supremix"] > mean["supcon"] + 0.05
