import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from ma_reference import naive_jaccard_score, naive_soft_ce

from representation.losses.soft_contrastive import SoftContrastiveLoss
from representation.losses.space2 import Space2Loss
from representation.losses.supcon import SupConLoss
from representation.targets.geo import haversine_kernel_targets
from representation.targets.hierarchy import (
    HierarchyJaccard,
    hierarchy_jaccard_score,
    hierarchy_jaccard_targets,
)
from representation.targets.label_kernel import LabelEmbeddingKernel, label_embedding_kernel_targets

# ---------------- Dialog2Flow label-embedding kernel ----------------


def test_label_kernel_matches_loop_and_rows_sum_to_one():
    g = torch.Generator().manual_seed(0)
    emb = torch.randn(5, 7, generator=g, dtype=torch.float64)
    labels = torch.tensor([0, 3, 3, 1, 4, 2])
    t = LabelEmbeddingKernel(emb, temperature=0.3)(labels)
    for i in range(6):
        row = [math.exp(F.cosine_similarity(emb[labels[i]], emb[labels[j]], dim=0).item() / 0.3) for j in range(6)]
        for j in range(6):
            assert t[i, j].item() == pytest.approx(row[j] / sum(row), rel=1e-10)
    torch.testing.assert_close(t.sum(1), torch.ones(6, dtype=torch.float64))
    assert torch.allclose(t[1], t[2])  # same label -> same target row


def test_label_kernel_zero_temperature_limit_is_hard_supcon_targets():
    g = torch.Generator().manual_seed(1)
    emb = torch.randn(4, 16, generator=g, dtype=torch.float64)
    labels = torch.tensor([0, 1, 1, 2, 0, 3, 1])
    t = label_embedding_kernel_targets(emb[labels], emb[labels], temperature=1e-4)
    hard = (labels.unsqueeze(1) == labels.unsqueeze(0)).double()
    torch.testing.assert_close(t, hard / hard.sum(1, keepdim=True), atol=1e-12, rtol=0)


def test_label_kernel_mask_and_errors():
    emb = torch.eye(3, dtype=torch.float64)
    m = torch.tensor([[True, False, True], [False, False, False]])
    t = label_embedding_kernel_targets(emb[:2], emb, 0.5, mask=m)
    assert t[0, 1] == 0 and t[0].sum().item() == pytest.approx(1.0) and t[1].sum() == 0
    with pytest.raises(ValueError):
        LabelEmbeddingKernel(emb, temperature=0.0)
    with pytest.raises(ValueError):
        LabelEmbeddingKernel(emb)(torch.tensor([0, 5]))


def test_soft_contrastive_matches_naive_and_is_symmetric():
    g = torch.Generator().manual_seed(2)
    q, k = torch.randn(6, 4, generator=g, dtype=torch.float64), torch.randn(6, 4, generator=g, dtype=torch.float64)
    emb = torch.randn(3, 5, generator=g, dtype=torch.float64)
    labels = torch.tensor([0, 1, 2, 0, 1, 2])
    loss_fn = SoftContrastiveLoss(temperature=0.1, kernel=LabelEmbeddingKernel(emb, 0.25))
    got = loss_fn(q, k, labels=labels)
    t = loss_fn.kernel(labels)
    s = (F.normalize(q, dim=1) @ F.normalize(k, dim=1).T / 0.1)
    expect = 0.5 * (naive_soft_ce(s.tolist(), t.tolist()) + naive_soft_ce(s.T.tolist(), t.tolist()))
    assert got.item() == pytest.approx(expect, rel=1e-10)
    # swapping the two sides gives the same symmetric loss
    assert loss_fn(k, q, labels=labels).item() == pytest.approx(got.item(), rel=1e-10)


def test_soft_contrastive_hard_limit_equals_two_view_supcon_reference():
    """tau_s -> 0: the D2F loss equals the reference's hard-label form CE(s, same-label/|P|)."""
    g = torch.Generator().manual_seed(3)
    q, k = torch.randn(8, 4, generator=g, dtype=torch.float64), torch.randn(8, 4, generator=g, dtype=torch.float64)
    emb = torch.randn(3, 32, generator=g, dtype=torch.float64)
    labels = torch.tensor([0, 1, 2, 0, 1, 2, 0, 0])
    soft = SoftContrastiveLoss(temperature=0.2, kernel=LabelEmbeddingKernel(emb, 1e-4), symmetric=False)
    hard = (labels.unsqueeze(1) == labels.unsqueeze(0)).double()
    s = F.normalize(q, dim=1) @ F.normalize(k, dim=1).T / 0.2
    expect = naive_soft_ce(s.tolist(), hard.tolist())
    assert soft(q, k, labels=labels).item() == pytest.approx(expect, rel=1e-8)


def test_soft_contrastive_with_haversine_kernel():
    lat = torch.tensor([48.85, 48.86, 40.71, -33.87], dtype=torch.float64)
    lon = torch.tensor([2.35, 2.34, -74.0, 151.2], dtype=torch.float64)
    t = haversine_kernel_targets(lat, lon, lat, lon, tau_km=50.0)
    # Paris and its neighbour share their mass; New York and Sydney are one-hot
    assert t[0, 1] > 0.4 and t[2, 2].item() == pytest.approx(1.0) and t[3, 3].item() == pytest.approx(1.0)
    g = torch.Generator().manual_seed(4)
    q = torch.randn(4, 8, generator=g, dtype=torch.float64, requires_grad=True)
    loss = SoftContrastiveLoss(temperature=0.1)(q, q.detach() + 0.01, targets=t)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(q.grad).all()
    with pytest.raises(ValueError):
        SoftContrastiveLoss()(q, q)


def test_soft_contrastive_loss_decreases():
    torch.manual_seed(0)
    x = torch.randn(48, 6)
    labels = (x[:, 0] > 0).long() * 2 + (x[:, 1] > 0).long()
    emb = torch.randn(4, 8)
    net = torch.nn.Linear(6, 8)
    loss_fn = SoftContrastiveLoss(temperature=0.1, kernel=LabelEmbeddingKernel(emb, 0.25))
    opt = torch.optim.Adam(net.parameters(), lr=5e-2)
    first = None
    for _ in range(30):
        z = net(x)
        loss = loss_fn(z, z + 0.05 * torch.randn_like(z), labels=labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
        first = loss.item() if first is None else first
    assert loss.item() < first


# ---------------- SPACE-2 hierarchy Jaccard ----------------

PATHS = [
    ("Europe", "France", "IDF", "c1"),
    ("Europe", "France", "IDF", "c2"),
    ("Europe", "France", "PACA", "c3"),
    ("Europe", "Spain", "Madrid", "c4"),
    ("Asia", "Japan", "Tokyo", "c5"),
    ("Europe", "France", "IDF", "c1"),
    ("Europe", "Spain", None, None),
]


def test_hierarchy_vectorised_matches_naive():
    t = hierarchy_jaccard_targets(PATHS, dtype=torch.float64)
    for i, a in enumerate(PATHS):
        for j, b in enumerate(PATHS):
            assert t[i, j].item() == pytest.approx(naive_jaccard_score(a, b), abs=1e-12)
            assert hierarchy_jaccard_score(a, b) == pytest.approx(naive_jaccard_score(a, b), abs=1e-12)


def test_hierarchy_properties():
    t = hierarchy_jaccard_targets(PATHS, dtype=torch.float64)
    torch.testing.assert_close(t, t.T)
    assert (t >= 0).all() and (t <= 1).all()
    torch.testing.assert_close(torch.diagonal(t), torch.ones(len(PATHS), dtype=torch.float64))
    # more shared levels -> larger target: same cell > same admin-1 > same country > same continent > none
    assert t[0, 5] > t[0, 1] > t[0, 2] > t[0, 3] > t[0, 4] == 0
    # L = 4: sharing only the continent is 1 of 10 sets, continent + country 3 of 10
    assert t[0, 3].item() == pytest.approx(0.1) and t[0, 2].item() == pytest.approx(0.3)


def test_hierarchy_one_level_is_supcon_targets():
    labels = [3, 1, 3, 2, 1]
    t = hierarchy_jaccard_targets([(x,) for x in labels])
    y = torch.tensor(labels)
    torch.testing.assert_close(t, (y.unsqueeze(1) == y.unsqueeze(0)).float())


def test_hierarchy_multi_path_items():
    a = [("Europe", "France"), ("Europe", "Spain")]
    b = [("Europe", "France")]
    # nodes L0: {E} vs {E} -> 1; L1: {F, S} vs {F} -> 1/2; edges: {EF, ES} vs {EF} -> 1/2
    assert hierarchy_jaccard_score(a, b) == pytest.approx((1 + 0.5 + 0.5) / 3)
    t = HierarchyJaccard()([a, b], [a, b])
    assert t[0, 1].item() == pytest.approx((1 + 0.5 + 0.5) / 3)
    with pytest.raises(TypeError):
        hierarchy_jaccard_score("Europe", ("Europe",))


label = st.sampled_from(["a", "b", "c", None])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(label, label, label), min_size=2, max_size=6))
def test_hierarchy_property_random(paths):
    paths = [p for p in paths if any(x is not None for x in p)]
    if len(paths) < 2:
        return
    t = hierarchy_jaccard_targets(paths, dtype=torch.float64)
    assert torch.allclose(t, t.T) and (t >= 0).all() and (t <= 1).all()
    for i, a in enumerate(paths):
        assert t[i, i].item() == pytest.approx(1.0)
        for j, b in enumerate(paths):
            assert t[i, j].item() == pytest.approx(naive_jaccard_score(a, b), abs=1e-12)


def test_space2_one_level_equals_supcon_and_graded_differs():
    g = torch.Generator().manual_seed(5)
    z = torch.randn(7, 2, 6, generator=g, dtype=torch.float64)
    labels = torch.tensor([0, 1, 0, 2, 1, 0, 3])
    one_level = [(int(x),) for x in labels]
    s2 = Space2Loss(temperature=0.2)
    assert s2(z, one_level).item() == pytest.approx(SupConLoss(temperature=0.2)(z, labels).item(), rel=1e-12)
    graded = s2(z, PATHS)
    cells = torch.tensor([hash(p) % 1000 for p in PATHS])
    assert graded.item() != pytest.approx(SupConLoss(temperature=0.2)(z, cells).item(), rel=1e-6)
    out = s2(z, PATHS, unlabelled=torch.randn(4, 2, 6, generator=g, dtype=torch.float64), return_dict=True)
    assert set(out) == {"space2_loss", "space2_unsup_loss", "logs"}
    with pytest.raises(ValueError):
        s2(z, PATHS[:3])
