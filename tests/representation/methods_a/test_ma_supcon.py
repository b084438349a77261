import pytest
import torch
import torch.nn.functional as F
from ma_reference import naive_supcon, naive_weighted_supcon

from representation.losses.supcon import SupConLoss, supcon_loss


def _data(n=8, v=2, d=5, classes=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    z = F.normalize(torch.randn(n, v, d, generator=g, dtype=torch.float64), dim=-1)
    y = torch.randint(0, classes, (n,), generator=g)
    return z, y


@pytest.mark.parametrize("views", [1, 2, 3])
def test_supcon_matches_naive_loop(views):
    z, y = _data(v=views)
    tau = 0.3
    got = SupConLoss(temperature=tau)(z, y)
    flat = z.reshape(-1, z.shape[-1])
    labels = y.repeat_interleave(views).tolist()
    assert got.item() == pytest.approx(naive_supcon(flat, labels, tau), rel=1e-10)


def test_supcon_without_labels_is_simclr():
    z, _ = _data(v=2)
    tau = 0.5
    got = SupConLoss(temperature=tau)(z)
    flat = z.reshape(-1, z.shape[-1])
    ids = torch.arange(z.shape[0]).repeat_interleave(2).tolist()
    assert got.item() == pytest.approx(naive_supcon(flat, ids, tau), rel=1e-10)


def test_supcon_anchor_without_positive_is_skipped():
    z = F.normalize(torch.randn(4, 3, dtype=torch.float64), dim=-1)
    y = torch.tensor([0, 0, 1, 2])  # rows 2 and 3 have no positive (one view)
    per_row = supcon_loss(z, y, scale=2.0, reduction="none")
    assert per_row[2] == 0 and per_row[3] == 0
    assert torch.isfinite(SupConLoss(temperature=0.5)(z, y))
    assert SupConLoss(temperature=0.5)(z, y).item() == pytest.approx(naive_supcon(z, y.tolist(), 0.5))


def test_graded_targets_match_naive_and_one_hot_equals_supcon():
    z, y = _data(n=6, v=1)
    flat = z[:, 0]
    g = torch.Generator().manual_seed(3)
    w = torch.rand(6, 6, generator=g, dtype=torch.float64)
    w = (w + w.T) / 2
    got = supcon_loss(flat, targets=w, scale=1 / 0.4)
    assert got.item() == pytest.approx(naive_weighted_supcon(flat, w.tolist(), 0.4), rel=1e-10)
    one_hot = (y.unsqueeze(1) == y.unsqueeze(0)).double()
    assert supcon_loss(flat, targets=one_hot, scale=3.0).item() == pytest.approx(
        supcon_loss(flat, y, scale=3.0).item(), rel=1e-12)


def test_supcon_mask_removes_candidates():
    z, y = _data(n=6, v=1)
    flat = z[:, 0]
    keep = torch.ones(6, 6, dtype=torch.bool)
    keep[0, 5] = keep[5, 0] = False
    got = supcon_loss(flat, y, scale=2.0, mask=keep, reduction="none")
    # row 0 computed by hand on the remaining candidates
    cols = [1, 2, 3, 4]
    logits = [2.0 * float(flat[0] @ flat[j]) for j in cols]
    pos = [i for i, j in enumerate(cols) if y[j] == y[0]]
    lse = torch.logsumexp(torch.tensor(logits, dtype=torch.float64), 0).item()
    expect = -sum(logits[i] - lse for i in pos) / len(pos) if pos else 0.0
    assert got[0].item() == pytest.approx(expect, rel=1e-10)


def test_supcon_gradcheck_float64():
    z, y = _data(n=5, v=2, d=3)
    z = z.clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda x: SupConLoss(temperature=0.5)(x, y), (z,))


def test_supcon_loss_decreases():
    torch.manual_seed(0)
    x = torch.randn(64, 10)
    y = (x[:, 0] > 0).long() + 2 * (x[:, 1] > 0).long()
    net = torch.nn.Sequential(torch.nn.Linear(10, 32), torch.nn.ReLU(), torch.nn.Linear(32, 8))
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    loss_fn = SupConLoss(temperature=0.2)
    first = None
    for _ in range(30):
        loss = loss_fn(net(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        first = loss.item() if first is None else first
    assert loss.item() < 0.8 * first


def test_supcon_config_and_dict():
    fn = SupConLoss(temperature=0.1)
    assert fn.get_config_dict() == {"temperature": 0.1, "learn_scale": False, "init_temperature": 0.07,
                                    "max_scale": 100.0, "normalize": True,
                                    "gather": {"local_loss": True, "with_grad": True}}
    z, y = _data()
    out = fn(z, y, return_dict=True)
    assert set(out) == {"supcon_loss", "logs"}
    assert "Khosla" in fn.citation
    with pytest.raises(ValueError):
        supcon_loss(z, targets=torch.ones(3, 3))
