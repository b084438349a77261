"""Slow toy "beats its baseline" runs for the graded-target methods (numbers recorded in
benchmarks/RESULTS.md)."""

import pytest
import torch
import torch.nn.functional as F

from representation.losses.soft_contrastive import SoftContrastiveLoss
from representation.losses.space2 import Space2Loss
from representation.losses.supcon import SupConLoss
from representation.targets.geo import haversine_kernel_targets
from representation.targets.hierarchy import hierarchy_jaccard_targets
from representation.targets.labels import same_label_targets


def spearman(a: torch.Tensor, b: torch.Tensor) -> float:
    ra, rb = a.argsort().argsort().double(), b.argsort().argsort().double()
    ra, rb = ra - ra.mean(), rb - rb.mean()
    return float((ra * rb).sum() / (ra.norm() * rb.norm()))


def _mlp(d_in, d_out=16):
    return torch.nn.Sequential(torch.nn.Linear(d_in, 64), torch.nn.ReLU(), torch.nn.Linear(64, d_out))


# ---------------- SPACE-2: continent > country > region > cell ----------------

PATHS = [(a, b, c, d) for a in range(4) for b in range(3) for c in range(3) for d in range(3)]


def _hier_sampler(seed):
    """Inputs = tanh(random mix of (sum of one prototype per hierarchy level) + noise)."""
    g = torch.Generator().manual_seed(seed)
    sizes = (4, 3, 3, 3)
    protos = [torch.randn(*sizes[:lvl + 1], 32, generator=g) for lvl in range(4)]
    mix = torch.randn(32, 32, generator=g) / 32 ** 0.5

    def sample(n, gen):
        idx = torch.randint(0, len(PATHS), (n,), generator=gen)
        ps = [PATHS[i] for i in idx.tolist()]
        x = sum(torch.stack([protos[lvl][p[:lvl + 1]] for p in ps]) for lvl in range(4))
        return torch.tanh((x + torch.randn(n, 32, generator=gen)) @ mix), ps

    return sample


def _train_hier(kind, seed, steps=250):
    sample = _hier_sampler(seed)
    torch.manual_seed(seed)
    net = _mlp(32)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    gen = torch.Generator().manual_seed(seed + 1)
    supcon, space2 = SupConLoss(temperature=0.1), Space2Loss(temperature=0.1)
    for _ in range(steps):
        x, ps = sample(128, gen)
        z = net(x)
        if kind == "supcon":  # hard labels at the finest level (geocell)
            loss = supcon(z, torch.tensor([PATHS.index(p) for p in ps]))
        else:
            loss = space2(z, ps)
        opt.zero_grad()
        loss.backward()
        opt.step()
    x, ps = sample(400, torch.Generator().manual_seed(777))
    with torch.no_grad():
        z = F.normalize(net(x), dim=1)
    iu = torch.triu_indices(400, 400, 1)
    return spearman((z @ z.T)[iu[0], iu[1]], hierarchy_jaccard_targets(ps)[iu[0], iu[1]])


@pytest.mark.slow
def test_space2_graded_targets_keep_the_hierarchy_better_than_cell_supcon():
    """Spearman(embedding cosine, hierarchy Jaccard) on held-out pairs."""
    res = {k: [_train_hier(k, s) for s in range(2)] for k in ("supcon", "space2")}
    mean = {k: sum(v) / len(v) for k, v in res.items()}
    print("SPACE-2 toy Spearman(cos, Jaccard):", res, mean)
    assert mean["space2"] > mean["supcon"] + 0.1


# ---------------- Dialog2Flow soft targets with a haversine kernel ----------------


def _geo_sampler(seed):
    """Locations uniform in a 20 x 40 degree box; inputs = noisy random Fourier features."""
    g = torch.Generator().manual_seed(seed)
    freqs = torch.randn(2, 32, generator=g) * 0.15
    phase = torch.rand(32, generator=g) * 6.283

    def sample(n, gen):
        lat = 35 + 20 * torch.rand(n, generator=gen)
        lon = -10 + 40 * torch.rand(n, generator=gen)
        feats = lambda: torch.sin(torch.stack([lat, lon], 1) @ freqs + phase) + 0.3 * torch.randn(  # noqa: E731
            n, 32, generator=gen)
        return feats(), feats(), lat, lon

    return sample


def _train_geo(kind, seed, steps=250, tau_km=300.0):
    sample = _geo_sampler(seed)
    torch.manual_seed(seed)
    net = _mlp(32)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    gen = torch.Generator().manual_seed(seed + 1)
    loss_fn = SoftContrastiveLoss(temperature=0.1)
    for _ in range(steps):
        x1, x2, lat, lon = sample(128, gen)
        if kind == "haversine":
            t = haversine_kernel_targets(lat, lon, lat, lon, tau_km)
        else:  # hard targets: same 5-degree geocell (the hard-label SupCon form of the loss)
            cell = (lat // 5) * 100 + lon // 5
            t = same_label_targets(cell.long(), cell.long())
        loss = loss_fn(net(x1), net(x2), targets=t)
        opt.zero_grad()
        loss.backward()
        opt.step()
    x1, _, lat, lon = sample(400, torch.Generator().manual_seed(777))
    with torch.no_grad():
        z = F.normalize(net(x1), dim=1)
    from geoloc.geo.distance import haversine_km_torch

    d = haversine_km_torch(lat.unsqueeze(1), lon.unsqueeze(1), lat.unsqueeze(0), lon.unsqueeze(0))
    iu = torch.triu_indices(400, 400, 1)
    return spearman((1 - z @ z.T)[iu[0], iu[1]], d[iu[0], iu[1]])


@pytest.mark.slow
def test_haversine_soft_targets_beat_hard_cell_targets():
    """Spearman(embedding distance, km) on held-out points."""
    res = {k: [_train_geo(k, s) for s in range(2)] for k in ("cells", "haversine")}
    mean = {k: sum(v) / len(v) for k, v in res.items()}
    print("Dialog2Flow haversine toy Spearman(dist, km):", res, mean)
    assert mean["haversine"] > mean["cells"] + 0.05


# ---------------- MultiCSR: masking same-cell false negatives ----------------


def mean_average_precision(z: torch.Tensor, labels: torch.Tensor) -> float:
    """Mean AP of same-label retrieval with cosine similarity (query excluded)."""
    s = z @ z.T
    s.fill_diagonal_(-2)
    order = s.argsort(1, descending=True)[:, :-1]
    rel = (labels[order] == labels.unsqueeze(1)).float()
    prec = rel.cumsum(1) / torch.arange(1, rel.shape[1] + 1)
    return float(((prec * rel).sum(1) / rel.sum(1).clamp_min(1)).mean())


def _train_multicsr(masked, seed, steps=200, n_cells=16):
    from representation.miners.false_negative import FalseNegativeMasker

    g = torch.Generator().manual_seed(seed)
    protos = torch.randn(n_cells, 32, generator=g)

    def sample(n, gen):
        c = torch.randint(0, n_cells, (n,), generator=gen)
        return protos[c] + torch.randn(n, 32, generator=gen), c

    torch.manual_seed(seed)
    net = _mlp(32)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    loss_fn, masker = SupConLoss(temperature=0.1), FalseNegativeMasker("cell")
    gen = torch.Generator().manual_seed(seed + 1)
    for _ in range(steps):
        x, c = sample(128, gen)  # ~8 samples per cell: many in-batch false negatives
        views = torch.stack([x + 0.5 * torch.randn(x.shape, generator=gen),
                             x + 0.5 * torch.randn(x.shape, generator=gen)], 1)
        loss = loss_fn(net(views), mask=masker(c) if masked else None)  # SimCLR views (+ MultiCSR mask)
        opt.zero_grad()
        loss.backward()
        opt.step()
    x, c = sample(600, torch.Generator().manual_seed(99))
    with torch.no_grad():
        return mean_average_precision(F.normalize(net(x), dim=1), c)


@pytest.mark.slow
def test_multicsr_masking_improves_same_cell_retrieval():
    res = {k: [_train_multicsr(k == "masked", s) for s in range(2)] for k in ("plain", "masked")}
    mean = {k: sum(v) / len(v) for k, v in res.items()}
    print("MultiCSR toy same-cell mAP:", res, mean)
    assert mean["masked"] > mean["plain"] + 0.1


# ---------------- MOFI: classification + contrastive combiner ----------------


def _train_mofi(weights, seed, steps=200, n_a=6, n_b=5):
    """Toy clusters indexed by (a, b) (think: country x scene type). The classification term
    sees only ``a`` (entity ids), the caption term only ``b`` (captions describe the scene):
    retrieval of the same (a, b) needs both kinds of supervision."""
    from representation.losses.multitask import MultiTaskLoss
    from representation.losses.negclip import NegCLIPLoss

    g = torch.Generator().manual_seed(seed)
    proto_a, proto_b = torch.randn(n_a, 32, generator=g), torch.randn(n_b, 32, generator=g)
    caption_emb = torch.randn(n_b, 16, generator=g)

    def sample(n, gen):
        a, b = torch.randint(0, n_a, (n,), generator=gen), torch.randint(0, n_b, (n,), generator=gen)
        x = proto_a[a] + proto_b[b] + torch.randn(n, 32, generator=gen)
        return x, caption_emb[b] + 0.3 * torch.randn(n, 16, generator=gen), a, b

    torch.manual_seed(seed)
    backbone, cls_head, text_tower = _mlp(32), torch.nn.Linear(16, n_a), torch.nn.Linear(16, 16)
    loss_fn = MultiTaskLoss({"cls": torch.nn.CrossEntropyLoss(), "clip": NegCLIPLoss(temperature=0.1)}, weights)
    opt = torch.optim.Adam([*backbone.parameters(), *cls_head.parameters(), *text_tower.parameters()], lr=3e-3)
    gen = torch.Generator().manual_seed(seed + 1)
    for _ in range(steps):
        x, t, a, _ = sample(128, gen)
        h = backbone(x)
        inputs = {"cls": (cls_head(h), a), "clip": {"image": h, "text": text_tower(t)}}
        loss = loss_fn({k: v for k, v in inputs.items() if weights[k]})
        opt.zero_grad()
        loss.backward()
        opt.step()
    x, _, a, b = sample(600, torch.Generator().manual_seed(99))
    with torch.no_grad():
        return mean_average_precision(F.normalize(backbone(x), dim=1), a * n_b + b)


@pytest.mark.slow
def test_mofi_joint_loss_beats_either_term_alone():
    cfgs = {"cls": {"cls": 1.0, "clip": 0.0}, "clip": {"cls": 0.0, "clip": 1.0}, "joint": {"cls": 1.0, "clip": 1.0}}
    res = {k: [_train_mofi(w, s) for s in range(2)] for k, w in cfgs.items()}
    mean = {k: sum(v) / len(v) for k, v in res.items()}
    print("MOFI toy retrieval mAP:", res, mean)
    assert mean["joint"] >= max(mean["cls"], mean["clip"])
