"""Issue 15: slow toy "beats its baseline" runs for the methods-C rows (numbers recorded in
benchmarks/RESULTS.md; run with ``pytest --runslow -s tests/representation/methods_c/test_mc_toys.py``).
Each toy is seeded, small (seconds to a minute on 2 cores) and prints its figures."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from representation.eval import LinearProbe, knn_accuracy

pytestmark = pytest.mark.slow


def _mlp(d_in: int, d_out: int, hidden: int = 64) -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.Linear(d_in, hidden), torch.nn.GELU(), torch.nn.Linear(hidden, d_out))


def _train(params, loss_fn, steps: int, lr: float = 3e-3) -> None:
    opt = torch.optim.Adam(params, lr=lr)
    for step in range(steps):
        loss = loss_fn(step)
        opt.zero_grad()
        loss.backward()
        opt.step()


def _r1(q: torch.Tensor, g: torch.Tensor) -> float:
    """Recall@1 of row i of q retrieving row i of g (cosine)."""
    s = F.normalize(q, dim=1) @ F.normalize(g, dim=1).T
    return float((s.argmax(1) == torch.arange(q.shape[0])).float().mean())


# ---------------------------------------------------------------- CoLLAP: one relevant segment among distractors


def _collap_toy(attention: str, seed: int) -> float:
    from representation.losses import CoLLAPLoss

    g = torch.Generator().manual_seed(seed)
    n_items, s, d = 600, 6, 16
    content = torch.randn(n_items, d, generator=g)
    mix = torch.randn(d, d, generator=g) / d ** 0.5

    def batch(idx, gen):
        seg = torch.randn(idx.numel(), s, d, generator=gen)  # distractor segments
        slot = torch.randint(0, s, (idx.numel(),), generator=gen)
        seg[torch.arange(idx.numel()), slot] = content[idx] + 0.3 * torch.randn(idx.numel(), d, generator=gen)
        txt = content[idx] @ mix + 0.3 * torch.randn(idx.numel(), d, generator=gen)
        return seg, txt

    torch.manual_seed(seed)
    enc_a, enc_t = _mlp(d, 32), _mlp(d, 32)
    loss = CoLLAPLoss(dim=32, attn_dim=16, attention=attention, temperature=0.1)
    gen = torch.Generator().manual_seed(seed + 1)
    train_idx = torch.arange(400)

    def step(_):
        idx = train_idx[torch.randperm(400, generator=gen)[:128]]
        seg, txt = batch(idx, gen)
        return loss(enc_a(seg), enc_t(txt))

    _train([*enc_a.parameters(), *enc_t.parameters(), *loss.parameters()], step, 400)
    seg, txt = batch(torch.arange(400, 600), torch.Generator().manual_seed(seed + 2))
    with torch.no_grad():
        scores = loss.pool(enc_a(seg), enc_t(txt))  # [items, texts]
    return float((scores.argmax(0) == torch.arange(200)).float().mean())  # text -> item R@1


def test_collap_attention_pooling_beats_mean_pooling_with_distractor_segments():
    res = {a: [_collap_toy(a, s) for s in range(3)] for a in ("uniform", "learned")}
    mean = {k: sum(v) / len(v) for k, v in res.items()}
    print("CoLLAP toy text->item R@1 (200 held-out items, 6 segments, 1 relevant):", res, mean)
    assert mean["learned"] > mean["uniform"] + 0.1


# ---------------------------------------------------------------- SepCLR: salient space captures the target-only factor


def _sepclr_data(n, gen, target: bool):
    common = torch.randint(0, 4, (n,), generator=gen)
    salient = torch.randint(0, 4, (n,), generator=gen) if target else torch.full((n,), -1)
    return common, salient


def _sepclr_toy(mi_weight: float, seed: int = 0, noise: float = 1.0, steps: int = 500) -> dict[str, float]:
    """Background: 4 common classes; target: the same plus 4 salient classes (additive prototypes,
    mixed by a random rotation, Gaussian noise). Linear-probe accuracy of each factor from each space."""
    from representation.losses import SepCLRLoss

    g = torch.Generator().manual_seed(seed)
    d = 24
    proto_c, proto_s = torch.randn(4, d, generator=g), torch.randn(4, d, generator=g)
    mix = torch.linalg.qr(torch.randn(d, d, generator=g))[0]

    def observe(common, salient, gen):
        x = proto_c[common] + torch.where((salient >= 0).unsqueeze(1), proto_s[salient.clamp_min(0)], 0.0)
        return (x + noise * torch.randn(x.shape, generator=gen)) @ mix

    torch.manual_seed(seed)
    enc = _mlp(d, 16, 96)
    loss = SepCLRLoss(mi_weight=mi_weight)
    gen = torch.Generator().manual_seed(seed + 1)

    def step(_):
        cb, sb = _sepclr_data(128, gen, target=False)
        ct, st = _sepclr_data(128, gen, target=True)
        c, s = torch.cat([cb, ct]), torch.cat([sb, st])
        feats = torch.stack([enc(observe(c, s, gen)), enc(observe(c, s, gen))], 1)
        return loss(feats[..., :8], feats[..., 8:], s >= 0)

    _train(enc.parameters(), step, steps)
    tg = torch.Generator().manual_seed(seed + 7)
    c_tr, s_tr = _sepclr_data(1000, tg, True)
    c_te, s_te = _sepclr_data(500, tg, True)
    with torch.no_grad():
        z_tr, z_te = enc(observe(c_tr, s_tr, tg)), enc(observe(c_te, s_te, tg))
        cb, sb = _sepclr_data(500, tg, False)
        bg_norm = float(enc(observe(cb, sb, tg))[:, 8:].norm(dim=1).mean())
    probe = LinearProbe(l2=1e-3)
    out = {"salient->salient": probe(z_tr[:, 8:], s_tr, z_te[:, 8:], s_te)["test_top1"],
           "common->salient": probe(z_tr[:, :8], s_tr, z_te[:, :8], s_te)["test_top1"],
           "common->common": probe(z_tr[:, :8], c_tr, z_te[:, :8], c_te)["test_top1"],
           "salient->common": probe(z_tr[:, 8:], c_tr, z_te[:, 8:], c_te)["test_top1"]}
    out["salient_norm_background"], out["salient_norm_target"] = bg_norm, float(z_te[:, 8:].norm(dim=1).mean())
    return out


def test_sepclr_salient_space_captures_the_target_only_factor():
    res = {w: _sepclr_toy(w) for w in (0.0, 10.0)}
    print("SepCLR toy (probe accuracy, 4 classes per factor; mi_weight 0 vs 10):", res)
    sep = res[10.0]
    assert sep["salient->salient"] > sep["common->salient"] + 0.2
    assert sep["common->common"] > sep["salient->common"] + 0.2
    assert sep["salient_norm_background"] < 0.3 * sep["salient_norm_target"]


# ---------------------------------------------------------------- COCONUT: classes in two stages


def _coconut_toy(mode: str, seed: int) -> dict[str, float]:
    """Stage 1: SupCon on classes 0-4; stage 2: classes 5-9 by fine-tuning (SupCon on the new data),
    rehearsal (SupCon on new data + a 100-sample reservoir of old data) or COCONUT (rehearsal + NSPT
    on the buffer, teacher = the frozen stage-1 encoder). kNN accuracy of old / new queries
    against a bank of all ten classes."""
    import copy

    from representation.losses import NSPTLoss, SupConLoss
    from representation.memory import RehearsalBuffer

    g = torch.Generator().manual_seed(seed)
    d = 32
    protos = torch.randn(10, d, generator=g) * 1.2
    mix = torch.randn(d, d, generator=g) / d ** 0.5

    def sample(classes, n, gen):
        y = torch.tensor(classes)[torch.randint(0, len(classes), (n,), generator=gen)]
        return torch.tanh((protos[y] + torch.randn(n, d, generator=gen)) @ mix), y

    torch.manual_seed(seed)
    enc = _mlp(d, 16, 128)
    supcon, nspt = SupConLoss(temperature=0.1), NSPTLoss(temperature=0.1)
    gen = torch.Generator().manual_seed(seed + 1)
    old, new = list(range(5)), list(range(5, 10))

    def stage1(_):
        x, y = sample(old, 128, gen)
        return supcon(enc(x), y)

    _train(enc.parameters(), stage1, 300)
    buf = RehearsalBuffer(100, seed=seed)
    buf.add(*sample(old, 1000, gen))
    frozen = copy.deepcopy(enc).requires_grad_(False)

    def stage2(_):
        x, y = sample(new, 128, gen)
        if mode == "finetune":
            return supcon(enc(x), y)
        xb, yb = buf.sample(64)
        zb = enc(xb)
        loss = supcon(torch.cat([enc(x), zb]), torch.cat([y, yb]))  # rehearsal
        return loss if mode == "replay" else loss + nspt(zb, frozen(xb), yb)

    _train(enc.parameters(), stage2, 300)
    te = torch.Generator().manual_seed(99)
    x_bank, y_bank = sample(list(range(10)), 2000, te)
    (x_o, y_o), (x_n, y_n) = sample(old, 500, te), sample(new, 500, te)
    with torch.no_grad():
        bank = enc(x_bank)
        return {"old_knn": knn_accuracy(enc(x_o), y_o, bank, y_bank, k=10)["top1"],
                "new_knn": knn_accuracy(enc(x_n), y_n, bank, y_bank, k=10)["top1"]}


def test_coconut_forgets_less_than_fine_tuning():
    res = {m: [_coconut_toy(m, s) for s in range(3)] for m in ("finetune", "replay", "coconut")}
    mean = {m: {k: sum(r[k] for r in v) / len(v) for k in v[0]} for m, v in res.items()}
    print("COCONUT toy kNN accuracy after stage 2 (old classes / new classes):", mean)
    assert mean["coconut"]["old_knn"] > mean["finetune"]["old_knn"] + 0.03
