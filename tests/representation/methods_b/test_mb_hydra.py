"""Hydra / SimLAP: gate range, gated logits, the reference's pair-weighted loss (written from
``erow/vitookit`` ``simlap.py`` as loops), reduction to SupCon, probe detachment."""

from __future__ import annotations

import math

import pytest
import torch

from representation.heads.gate import GateFilter
from representation.losses.hydra import (
    HydraLoss,
    gated_logits,
    hydra_contrastive_loss,
    hydra_masks,
    sample_partner_labels,
)


def _naive_supcon(z: torch.Tensor, labels: torch.Tensor, tau: float) -> float:
    """Khosla et al. L_out, mean over anchors with at least one positive."""
    zn = torch.nn.functional.normalize(z, dim=1)
    n, total, count = z.shape[0], 0.0, 0
    for i in range(n):
        others = [a for a in range(n) if a != i]
        pos = [p for p in others if labels[p] == labels[i]]
        if not pos:
            continue
        lse = math.log(sum(math.exp(float(zn[i] @ zn[a]) / tau) for a in others))
        total += sum(lse - float(zn[i] @ zn[p]) / tau for p in pos) / len(pos)
        count += 1
    return total / count


def _reference_simlap(z: torch.Tensor, gate: torch.Tensor, y1: torch.Tensor, y2: torch.Tensor, s: float) -> float:
    """``SimLAP.disparate_loss`` + ``multipos_ce_loss`` in one process, by loops: unit-norm z, logits
    ``s * <z_i * g_i^2, z_j>``, positives ``y2_i == y1_j`` (the anchor itself included),
    negatives ``y_j not in {y1_i, y2_i}``; sum over positive pairs of
    ``log(e^l_p + sum_n e^l_n) - l_p`` divided by the number of positive pairs."""
    n, d = z.shape
    zn = [[float(v) / math.sqrt(sum(float(u) ** 2 for u in row)) for v in row] for row in z]
    total, pairs = 0.0, 0
    for i in range(n):
        logit = [s * sum(zn[i][c] * float(gate[i, c]) ** 2 * zn[j][c] for c in range(d)) for j in range(n)]
        negs = [j for j in range(n) if int(y1[j]) not in (int(y1[i]), int(y2[i]))]
        for p in range(n):
            if int(y1[p]) == int(y2[i]):
                total += math.log(math.exp(logit[p]) + sum(math.exp(logit[q]) for q in negs)) - logit[p]
                pairs += 1
    return total / pairs


def test_gate_in_open_unit_interval_and_open_gate_is_one() -> None:
    torch.manual_seed(0)
    for style in ("reference", "mlp"):
        g = GateFilter(10, 16, embed_dim=12, hidden=20, style=style)
        y1, y2 = torch.randint(0, 10, (32,)), torch.randint(0, 10, (32,))
        gate = g(y1, y2)
        assert gate.shape == (32, 16)
        assert ((gate > 0) & (gate < 1)).all()
        torch.testing.assert_close(g(y1, y1), torch.sigmoid(g.mlp(g.label_embedding(y1))))
        torch.testing.assert_close(g(y1, y2), g(y2, y1))
    # the reference gate: ReLU, BatchNorm, Linear, ReLU, BatchNorm, Linear on the label embedding
    kinds = [type(m).__name__ for m in GateFilter(10, 16).mlp]
    assert kinds == ["ReLU", "BatchNorm1d", "Linear", "ReLU", "BatchNorm1d", "Linear"]
    assert GateFilter(10, 16).label_embedding.embedding_dim == 512
    assert torch.equal(GateFilter(10, 16, open_gate=True)(y1, y2), torch.ones(32, 16))


def test_gated_logits_match_loops() -> None:
    torch.manual_seed(0)
    z, k, gate = torch.randn(4, 6, dtype=torch.float64), torch.randn(5, 6, dtype=torch.float64), \
        torch.rand(4, 6, dtype=torch.float64)
    ref = gated_logits(z, k, gate, "reference")
    ren = gated_logits(z, k, gate, "renormalized")
    for i in range(4):
        for j in range(5):
            zi, kj = z[i] / z[i].norm(), k[j] / k[j].norm()
            assert ref[i, j].item() == pytest.approx((zi * gate[i] ** 2 @ kj).item(), rel=1e-10)
            a, b = z[i] * gate[i], k[j] * gate[i]
            assert ren[i, j].item() == pytest.approx((a @ b / (a.norm() * b.norm())).item(), rel=1e-10)


def test_masks_exclude_both_classes_from_negatives() -> None:
    y1 = torch.tensor([0, 1, 2])
    y2 = torch.tensor([1, 1, 0])
    keys = torch.tensor([0, 1, 2, 3, 1])
    pos, neg = hydra_masks(y1, y2, keys)
    for i in range(3):
        for j in range(5):
            assert pos[i, j] == (keys[j] == y2[i])
            assert neg[i, j] == (keys[j] != y1[i] and keys[j] != y2[i])


@pytest.mark.parametrize("style", ["reference", "mlp"])
def test_default_loss_equals_reference_simlap(style: str) -> None:
    """Issue 14 (fidelity): pair-weighted per-positive denominator, (z*g^2).k logits on unit
    vectors, anchor itself a positive when y2 = y1 -- as the reference's active code."""
    torch.manual_seed(0)
    z = torch.randn(12, 6, dtype=torch.float64)
    y1 = torch.tensor([0, 0, 0, 1, 1, 2, 2, 2, 2, 3, 3, 1])
    y2 = torch.tensor([1, 0, 2, 0, 3, 2, 1, 0, 3, 3, 2, 1])
    loss = HydraLoss(4, 6, temperature=0.2, gate_style=style, gate_embed_dim=8, gate_hidden=16).double()
    gate = loss.gate(y1, y2).detach()
    expect = _reference_simlap(z, gate, y1, y2, 5.0)
    assert loss(z, y1, partner_labels=y2).item() == pytest.approx(expect, rel=1e-10)


def test_open_gate_identical_partner_is_supcon() -> None:
    torch.manual_seed(0)
    z = torch.randn(12, 8, dtype=torch.float64)
    labels = torch.tensor([0, 0, 0, 1, 1, 2, 2, 2, 2, 3, 4, 4])
    loss = HydraLoss(5, 8, temperature=0.2, partner="identical", open_gate=True, denominator="supcon",
                     exclude_self=True).double()
    assert loss(z, labels).item() == pytest.approx(_naive_supcon(z, labels, 0.2), rel=1e-10)
    renorm = HydraLoss(5, 8, temperature=0.2, partner="identical", open_gate=True, denominator="supcon",
                       exclude_self=True, logits="renormalized").double()
    assert renorm(z, labels).item() == pytest.approx(_naive_supcon(z, labels, 0.2), rel=1e-10)


def test_per_positive_denominator_equals_supcon_with_two_views_per_class() -> None:
    torch.manual_seed(0)
    z = torch.randn(10, 8, dtype=torch.float64)
    labels = torch.arange(5).repeat(2)
    loss = HydraLoss(5, 8, temperature=0.5, partner="identical", denominator="per_positive",
                     open_gate=True, exclude_self=True).double()
    assert loss(z, labels).item() == pytest.approx(_naive_supcon(z, labels, 0.5), rel=1e-10)


def test_per_positive_is_pair_weighted_like_the_reference() -> None:
    """Issue 14: the sum over ALL positive pairs divided by the number of pairs (anchors with more
    positives weigh more), not a mean of per-anchor means."""
    torch.manual_seed(0)
    logits = torch.randn(6, 6, dtype=torch.float64)
    y1 = torch.tensor([0, 0, 1, 1, 2, 2])
    y2 = torch.tensor([1, 2, 0, 2, 0, 1])
    key_labels = torch.tensor([0, 1, 1, 1, 2, 0])  # anchors get 1 to 3 positives
    pos, neg = hydra_masks(y1, y2, key_labels)
    got = hydra_contrastive_loss(logits, pos, neg, "per_positive").item()
    total, pairs, per_anchor = 0.0, 0, []
    for i in range(6):
        ps = [j for j in range(6) if pos[i, j]]
        ns = [j for j in range(6) if neg[i, j]]
        terms = [-float(logits[i, p]) + math.log(math.exp(float(logits[i, p]))
                                                 + sum(math.exp(float(logits[i, n])) for n in ns)) for p in ps]
        total, pairs = total + sum(terms), pairs + len(terms)
        if terms:
            per_anchor.append(sum(terms) / len(terms))
    assert got == pytest.approx(total / pairs, rel=1e-10)
    assert abs(got - sum(per_anchor) / len(per_anchor)) > 1e-3  # the earlier per-anchor reading differs


def test_partner_sampling_modes() -> None:
    gen = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 7, (50,))
    assert torch.equal(sample_partner_labels(labels, "identical", 7), labels)
    d = sample_partner_labels(labels, "distinct", 7, gen)
    assert (d != labels).all() and ((d >= 0) & (d < 7)).all()
    a = sample_partner_labels(labels, "arbitrary", 7, gen)
    assert sorted(a.tolist()) == sorted(labels.tolist())
    with pytest.raises(ValueError, match="partner"):
        HydraLoss(7, 4, partner="nearest")
    with pytest.raises(ValueError, match="denominator"):
        HydraLoss(7, 4, denominator="dcl")
    with pytest.raises(ValueError, match="logits"):
        HydraLoss(7, 4, logits="dot")


def test_probe_is_detached_and_dict_output() -> None:
    torch.manual_seed(0)
    feats = torch.randn(8, 5, requires_grad=True)
    z = torch.randn(8, 4, requires_grad=True)
    labels = torch.tensor([0, 0, 1, 1, 2, 2, 3, 3])
    loss = HydraLoss(4, 4, probe_dim=5, gate_embed_dim=8, gate_hidden=8)
    out = loss(z, labels, probe_features=feats, return_dict=True)
    assert set(out) == {"hydra_loss", "probe_loss", "logs"}
    out["probe_loss"].backward()
    assert feats.grad is None
    assert loss.probe.weight.grad is not None


def test_hydra_loss_decreases() -> None:
    torch.manual_seed(0)
    x = torch.randn(32, 10)
    labels = torch.arange(4).repeat(8)
    x = x + 2 * torch.randn(4, 10)[labels]
    enc = torch.nn.Linear(10, 8)
    loss_fn = HydraLoss(4, 8, temperature=0.2, gate_embed_dim=16, gate_hidden=32)
    opt = torch.optim.Adam([*enc.parameters(), *loss_fn.parameters()], lr=1e-2)
    gen = torch.Generator().manual_seed(1)
    y2 = sample_partner_labels(labels, "arbitrary", 4, gen)
    first = loss_fn(enc(x), labels, partner_labels=y2).item()
    for _ in range(60):
        opt.zero_grad()
        loss_fn(enc(x), labels, partner_labels=y2).backward()
        opt.step()
    assert loss_fn(enc(x), labels, partner_labels=y2).item() < first - 0.2


def _linear_probe(f_tr: torch.Tensor, y_tr: torch.Tensor, f_te: torch.Tensor, y_te: torch.Tensor, k: int) -> float:
    clf = torch.nn.Linear(f_tr.shape[1], k)
    opt = torch.optim.Adam(clf.parameters(), lr=1e-2)
    for _ in range(200):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(clf(f_tr), y_tr).backward()
        opt.step()
    with torch.no_grad():
        return (clf(f_te).argmax(1) == y_te).float().mean().item()


@pytest.mark.slow
def test_toy_hydra_keeps_more_unlabelled_structure_than_supcon() -> None:
    """Inputs = class direction + an unlabelled 4-way attribute + noise. SupCon (open gate, y2=y1)
    collapses each class and discards the attribute; Hydra (gated, arbitrary partners) leaves
    same-class pairs out of its rows and keeps more of it -- with renormalised gated logits.
    Finding: with the reference's unrenormalised ``(z*g^2).k`` logits (the default, as upstream)
    it keeps LESS of the attribute than SupCon on this toy (probe ~0.25 vs ~0.37, measured);
    the test records that number and asserts the renormalised variant. All reach a perfect class probe."""
    torch.manual_seed(0)
    n_cls, d_in = 8, 32
    cls_dirs, attr_dirs = torch.randn(n_cls, d_in), torch.randn(4, d_in)
    g = torch.Generator().manual_seed(1)

    def data(n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        y, c = torch.randint(0, n_cls, (n,), generator=g), torch.randint(0, 4, (n,), generator=g)
        return cls_dirs[y] + 0.7 * attr_dirs[c] + 0.5 * torch.randn(n, d_in, generator=g), y, c

    xtr, ytr, ctr = data(4000)
    xte, yte, cte = data(2000)
    variants = {"supcon": {"partner": "identical", "open_gate": True, "denominator": "supcon", "exclude_self": True},
                "hydra_reference": {"partner": "arbitrary"},
                "hydra_renormalized": {"partner": "arbitrary", "logits": "renormalized"}}
    res = {}
    for name, kw in variants.items():
        torch.manual_seed(0)
        enc = torch.nn.Sequential(torch.nn.Linear(d_in, 64), torch.nn.ReLU(), torch.nn.Linear(64, 16))
        loss_fn = HydraLoss(n_cls, 16, temperature=0.1, **kw)
        opt = torch.optim.Adam([*enc.parameters(), *loss_fn.parameters()], lr=3e-3)
        gen = torch.Generator().manual_seed(2)
        for _ in range(300):
            i = torch.randint(0, 4000, (128,), generator=gen)
            opt.zero_grad()
            loss_fn(enc(xtr[i]), ytr[i], generator=gen).backward()
            opt.step()
        with torch.no_grad():
            ftr = torch.nn.functional.normalize(enc(xtr), dim=-1)
            fte = torch.nn.functional.normalize(enc(xte), dim=-1)
        res[name] = (_linear_probe(ftr, ytr, fte, yte, n_cls), _linear_probe(ftr, ctr, fte, cte, 4))
    print(f"toy Hydra (class probe, unlabelled-attribute probe): {res}")
    assert all(v[0] >= 0.95 for v in res.values())
    assert res["hydra_renormalized"][1] > res["supcon"][1] + 0.02
