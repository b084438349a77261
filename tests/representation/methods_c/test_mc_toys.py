"""Issue 15: slow toy "beats its baseline" runs for the methods-C rows (numbers recorded in
benchmarks/RESULTS.md; run with ``pytest --runslow -s tests/representation/methods_c/test_mc_toys.py``).
Each toy is seeded, small (seconds to a minute on 2 cores) and prints its figures."""

from __future__ import annotations

import random

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
    base, sep = res[0.0], res[10.0]
    assert sep["salient->salient"] > 0.9  # the target-only factor is in the salient space
    assert sep["common->salient"] < base["common->salient"] - 0.3  # and, with the MI term, out of the common one
    assert sep["salient_norm_background"] < 0.3 * sep["salient_norm_target"]
    # Finding (recorded in benchmarks/RESULTS.md, not a property of the method to assert): at λ = 10 the
    # MI term also drives the common factor out of the common space (common->common 0.998 -> 0.412 on
    # this toy, while salient->common stays 0.998): the spaces separate the salient factor, not both.


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


@pytest.mark.xfail(strict=True, reason="measured (RESULTS.md, methods C): rehearsal alone keeps the old classes "
                   "(kNN 0.980 vs 0.917 fine-tuning), rehearsal + NSPT does not (0.916); a likely, unverified cause: the NSPT denominator "
                   "pushes same-class student samples apart")
def test_coconut_forgets_less_than_fine_tuning():
    res = {m: [_coconut_toy(m, s) for s in range(3)] for m in ("finetune", "replay", "coconut")}
    mean = {m: {k: sum(r[k] for r in v) / len(v) for k in v[0]} for m, v in res.items()}
    print("COCONUT toy kNN accuracy after stage 2 (old classes / new classes):", mean)
    assert mean["replay"]["old_knn"] > mean["finetune"]["old_knn"] + 0.03  # the rehearsal buffer works
    assert mean["coconut"]["old_knn"] > mean["finetune"]["old_knn"] + 0.03


# ---------------------------------------------------------------- CCP: language B = partial rotation of A


def _ccp_toy(grouped: bool, seed: int = 0, steps: int = 300) -> dict[str, float]:
    """Monolingual context-prediction training on two languages (B observes A's features through a
    rotation of half the channels plus an offset); cross-lingual R@1 of 300 parallel sentences."""
    from representation.blocks import EmbeddingWhitening
    from representation.losses import CCPLoss

    g = torch.Generator().manual_seed(seed)
    topics = torch.randn(60, 8, generator=g)
    w = torch.randn(8, 16, generator=g) / 8 ** 0.5
    rot = torch.eye(16)
    rot[:8, :8] = torch.linalg.qr(torch.randn(8, 8, generator=g))[0]
    offset = torch.randn(16, generator=g)

    def observe(m, lang):
        x = torch.tanh(m @ w)
        return torch.where(lang.unsqueeze(1) == 1, x @ rot + offset, x)

    torch.manual_seed(seed)
    enc = _mlp(16, 16, 64)
    loss = CCPLoss(num_groups=2 if grouped else 1, dim=16, queue_size=64, temperature=0.1)
    gen = torch.Generator().manual_seed(seed + 1)

    def step(_):
        t = torch.randint(0, 60, (128,), generator=gen)
        lang = torch.randint(0, 2, (128,), generator=gen)
        a = topics[t] + 0.5 * torch.randn(128, 8, generator=gen)  # two sentences of one context window
        b = topics[t] + 0.5 * torch.randn(128, 8, generator=gen)
        return loss(enc(observe(a, lang)), enc(observe(b, lang)), lang if grouped else torch.zeros_like(lang))

    _train(enc.parameters(), step, steps)
    tg = torch.Generator().manual_seed(seed + 9)
    m = topics[torch.randint(0, 60, (300,), generator=tg)] + 0.5 * torch.randn(300, 8, generator=tg)
    with torch.no_grad():
        za, zb = enc(observe(m, torch.zeros(300))), enc(observe(m, torch.ones(300)))
    both = torch.cat([za, zb]).double()
    langs = [0] * 300 + [1] * 300
    white = EmbeddingWhitening().fit(both, langs)(both, langs)
    return {"r1": _r1(za, zb), "r1_whitened": _r1(white[:300].float(), white[300:].float())}


def test_ccp_cross_lingual_retrieval_from_monolingual_training():
    res = {k: [_ccp_toy(k == "per-language queue", s) for s in range(2)] for k in ("mixed queue", "per-language queue")}
    mean = {k: {m: sum(r[m] for r in v) / len(v) for m in v[0]} for k, v in res.items()}
    print("CCP toy cross-lingual R@1 (300 parallel sentences, chance 0.0033):", mean)
    ccp, mixed = mean["per-language queue"], mean["mixed queue"]
    assert ccp["r1"] > 10 / 300 and ccp["r1"] > mixed["r1"]  # 10x chance, and above one shared queue
    # Finding (RESULTS.md): post-hoc per-language whitening does not help on this toy (0.028 vs 0.050
    # unwhitened); it stays far above chance.
    assert ccp["r1_whitened"] > 5 / 300


# ---------------------------------------------------------------- heuristic vision pre-training


def _heuristic_toy(tasks: tuple[str, ...], seed: int = 0, steps: int = 300) -> float:
    """Patches [8 x 6] from class prototypes and class-correlated binary attributes; linear probe of
    the class on the backbone features after training with the given tasks."""
    from representation.losses import heuristic_pretraining_loss, random_patch_mask

    g = torch.Generator().manual_seed(seed)
    protos = torch.randn(10, 48, generator=g) * 0.6
    attr_p = torch.rand(10, 6, generator=g).round() * 0.8 + 0.1  # P(attribute | class)
    attr_pat = torch.randn(6, 48, generator=g)

    def sample(n, gen):
        y = torch.randint(0, 10, (n,), generator=gen)
        a = (torch.rand(n, 6, generator=gen) < attr_p[y]).float()
        return protos[y] + a @ attr_pat * 0.5 + torch.randn(n, 48, generator=gen) * 1.2, a, y

    torch.manual_seed(seed)
    backbone = _mlp(48, 32, 128)
    attr_head, mim_head = torch.nn.Linear(32, 6), torch.nn.Linear(32, 48)
    weights = {t: (1.0 if t in tasks else 0.0) for t in ("attributes", "mim", "contrastive")}
    recipe = heuristic_pretraining_loss(weights)
    gen = torch.Generator().manual_seed(seed + 1)

    def step(_):
        x, a, _ = sample(128, gen)
        mask = random_patch_mask(128, 8, 0.5, gen)
        x_in = x.reshape(128, 8, 6).masked_fill(mask.unsqueeze(-1), 0.0).reshape(128, 48)
        h = backbone(x_in)
        v2 = backbone(x + 0.3 * torch.randn(x.shape, generator=gen))
        inputs = {"attributes": (attr_head(h), a), "mim": (mim_head(h).reshape(128, 8, 6), x.reshape(128, 8, 6), mask),
                  "contrastive": (h, v2)}
        return recipe({k: v for k, v in inputs.items() if weights[k] > 0})

    _train([*backbone.parameters(), *attr_head.parameters(), *mim_head.parameters()], step, steps)
    tg = torch.Generator().manual_seed(seed + 5)
    (x_tr, _, y_tr), (x_te, _, y_te) = sample(1000, tg), sample(1000, tg)
    with torch.no_grad():
        return LinearProbe(l2=1e-3)(backbone(x_tr), y_tr, backbone(x_te), y_te)["test_top1"]


def test_heuristic_attribute_head_improves_the_linear_probe():
    rows = {"contrastive": ("contrastive",), "contrastive+attributes": ("contrastive", "attributes"),
            "all three": ("contrastive", "attributes", "mim")}
    res = {k: [_heuristic_toy(t, s) for s in range(2)] for k, t in rows.items()}
    mean = {k: sum(v) / len(v) for k, v in res.items()}
    print("Heuristic PT toy linear-probe accuracy (10 classes):", res, mean)
    # measured gains are small (+0.005 with the attribute head, +0.011 with all three, 2 seeds x 1000
    # test samples: within noise; RESULTS.md): the toy checks their sign, deterministically seeded
    assert mean["contrastive+attributes"] > mean["contrastive"]
    assert mean["all three"] > mean["contrastive"] + 0.005


# ---------------------------------------------------------------- TaskExpert vs a shared decoder


def _taskexpert_toy(experts: int, memory: bool, seed: int = 0, steps: int = 300) -> float:
    """Three tasks on 4 tokens of 16 dims, each task's label a different nonlinear function of a
    different token subspace; mean test accuracy of the three heads."""
    from representation.blocks import TaskExpertBlock

    g = torch.Generator().manual_seed(seed)
    dirs = torch.randn(3, 2, 16, generator=g)

    def sample(n, gen):
        x = torch.randn(n, 4, 16, generator=gen)
        ys = [((x[:, t] @ dirs[t, 0]) * (x[:, (t + 1) % 4] @ dirs[t, 1]) > 0).long() for t in range(3)]
        return x, ys

    torch.manual_seed(seed)
    proj = torch.nn.Linear(16, 32)
    blocks = torch.nn.ModuleList(TaskExpertBlock(32, experts, 3, memory=memory) for _ in range(2))
    heads = torch.nn.ModuleList(torch.nn.Linear(32 * 4, 2) for _ in range(3))

    def forward(x):
        tok, mem = proj(x), None
        for b in blocks:
            feats, mem = b(tok, mem) if memory else b(tok)
        return [heads[t](feats[t].flatten(1)) for t in range(3)]

    gen = torch.Generator().manual_seed(seed + 1)

    def step(_):
        x, ys = sample(128, gen)
        return sum(F.cross_entropy(o, y) for o, y in zip(forward(x), ys))

    _train([*proj.parameters(), *blocks.parameters(), *heads.parameters()], step, steps)
    x, ys = sample(2000, torch.Generator().manual_seed(seed + 3))
    with torch.no_grad():
        return sum(float((o.argmax(1) == y).float().mean()) for o, y in zip(forward(x), ys)) / 3


def test_taskexpert_beats_a_shared_decoder_on_conflicting_tasks():
    res = {k: [_taskexpert_toy(*cfg, seed=s) for s in range(2)]
           for k, cfg in {"shared decoder (K=1)": (1, False), "TaskExpert (K=4, memory)": (4, True)}.items()}
    mean = {k: sum(v) / len(v) for k, v in res.items()}
    print("TaskExpert toy mean accuracy over 3 tasks:", res, mean)
    assert mean["TaskExpert (K=4, memory)"] > mean["shared decoder (K=1)"] + 0.02


# ---------------------------------------------------------------- WhitenedCSE vs SimCSE


def _whitened_toy(kind: str, seed: int = 0, steps: int = 300) -> dict[str, float]:
    """Instances observed through noise (dropout-like views); R@1 of two fresh views of 500 held-out
    instances, and the uniformity of their embeddings."""
    from representation.eval import uniformity
    from representation.losses import InfoNCELoss, WhitenedCSELoss

    g = torch.Generator().manual_seed(seed)
    mix = torch.randn(16, 32, generator=g) / 4
    torch.manual_seed(seed)
    enc = torch.nn.Sequential(torch.nn.Dropout(0.1), _mlp(32, 32, 128))
    simcse, wcse = InfoNCELoss.simcse(), WhitenedCSELoss(num_groups=4)
    gen = torch.Generator().manual_seed(seed + 1)

    def step(_):
        z = torch.randn(128, 16, generator=gen)
        x = torch.tanh(z @ mix)
        if kind == "simcse":
            return simcse(enc(x), enc(x))
        return wcse(torch.stack([enc(x), enc(x), enc(x)], 1))

    _train(enc.parameters(), step, steps)
    enc.eval()
    tg = torch.Generator().manual_seed(seed + 4)
    x = torch.tanh(torch.randn(500, 16, generator=tg) @ mix)
    with torch.no_grad():
        a = enc(x + 0.3 * torch.randn(x.shape, generator=tg))
        b = enc(x + 0.3 * torch.randn(x.shape, generator=tg))
    return {"r1": _r1(a, b), "uniformity": uniformity(a)}


@pytest.mark.xfail(strict=True, reason="measured (RESULTS.md, methods C): WhitenedCSE is less uniform than SimCSE "
                   "on this toy (-2.73 vs -3.49) at equal R@1 (0.949 vs 0.956)")
def test_whitenedcse_against_simcse():
    res = {k: [_whitened_toy(k, s) for s in range(2)] for k in ("simcse", "whitenedcse")}
    mean = {k: {m: sum(r[m] for r in v) / len(v) for m in v[0]} for k, v in res.items()}
    print("WhitenedCSE toy (noisy-view R@1 of 500 held-out instances, uniformity):", mean)
    assert mean["whitenedcse"]["uniformity"] < mean["simcse"]["uniformity"]  # more uniform (lower is better)


# ---------------------------------------------------------------- Pixel-Linguist


WORDS = ("rue avenue via calle strasse road place plaza platz square north south old new grand little saint "
         "mount lake river bridge market station church park garden hill gate port bay castle tower").split()


def _sentences(n: int, rng: random.Random) -> list[str]:
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 4))) + f" {rng.randint(1, 99)}" for _ in range(n)]


def _pixel_toy(train: bool, seed: int = 0, steps: int = 250) -> float:
    from representation.augment import TextPerturbation, pixel_linguist_loss, render_text

    rng = random.Random(seed)
    torch.manual_seed(seed)
    enc = torch.nn.Sequential(torch.nn.Conv2d(1, 16, 3, padding=1), torch.nn.GELU(), torch.nn.MaxPool2d(2),
                              torch.nn.Conv2d(16, 32, 3, padding=1), torch.nn.GELU(), torch.nn.AdaptiveAvgPool2d((2, 16)),
                              torch.nn.Flatten(), torch.nn.Linear(32 * 32, 64))
    perturb, loss = TextPerturbation(p_typo=0.8, p_shuffle=0.5), pixel_linguist_loss(similarity="cosine")

    def render(texts):
        return torch.stack([render_text(t, width=128) for t in texts])

    if train:
        def step(_):
            texts = _sentences(32, rng)
            return loss(enc(render(texts)), enc(render([perturb(t, rng) for t in texts])))

        _train(enc.parameters(), step, steps, lr=1e-3)
    test = _sentences(200, random.Random(seed + 100))
    trng = random.Random(seed + 200)
    with torch.no_grad():
        return _r1(enc(render([perturb(t, trng) for t in test])), enc(render(test)))


def test_pixel_linguist_retrieves_perturbed_renderings():
    res = {"untrained": [_pixel_toy(False, s) for s in range(2)], "trained": [_pixel_toy(True, s) for s in range(2)]}
    mean = {k: sum(v) / len(v) for k, v in res.items()}
    print("Pixel-Linguist toy R@1 perturbed -> clean rendering (200 held-out strings):", res, mean)
    assert mean["trained"] > mean["untrained"] + 0.1
