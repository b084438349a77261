import math
import random

import pytest
import torch
import torch.nn.functional as F
from ma_reference import naive_clip

from representation.augment.text import split_sentences, sub_caption_sampler
from representation.losses.dreamlip import (
    DreamLIPLoss,
    grouping_pool,
    grouping_weights,
    image_to_captions_multipos,
)

LONG = ("A narrow cobbled street lined with stone houses. Red shutters on every window! "
        "Mountains rise behind the church? A blue sign says Andorra la Vella; cars park on the left.\nThe sky is grey.")


def test_split_and_sub_caption_sampler():
    sents = split_sentences(LONG)
    assert len(sents) == 6 and sents[-1] == "The sky is grey."
    rng = random.Random(0)
    subs = sub_caption_sampler(LONG, 3, rng)
    assert len(subs) == 3 and len(set(subs)) == 3 and all(s in sents for s in subs)
    assert subs == sorted(subs, key=sents.index)  # caption order kept
    short = sub_caption_sampler("One sentence only", 4, random.Random(1))
    assert short == ["One sentence only"] * 4
    assert sub_caption_sampler(LONG, 3, random.Random(5)) == sub_caption_sampler(LONG, 3, random.Random(5))
    with pytest.raises(ValueError):
        sub_caption_sampler("  ", 2)
    with pytest.raises(ValueError):
        sub_caption_sampler("x", 0)


def _batch(b=4, k=3, m=5, d=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (F.normalize(torch.randn(b, d, generator=g, dtype=torch.float64), dim=-1),
            F.normalize(torch.randn(b, k, d, generator=g, dtype=torch.float64), dim=-1),
            F.normalize(torch.randn(b, m, d, generator=g, dtype=torch.float64), dim=-1))


def test_k1_with_extras_off_is_clip():
    img, txt, _ = _batch(k=1)
    loss = DreamLIPLoss(temperature=0.1, multipos_weight=0, grouping_weight=0)(img, txt)
    assert loss.item() == pytest.approx(naive_clip(img, txt[:, 0], 10.0), rel=1e-10)
    loss2d = DreamLIPLoss(temperature=0.1, multipos_weight=0, grouping_weight=0)(img, txt[:, 0])
    assert loss2d.item() == pytest.approx(loss.item(), rel=1e-12)


def test_grouping_weights_convex_and_threshold():
    _, txt, patches = _batch(m=7)
    w = grouping_weights(txt, patches)
    assert (w >= 0).all()
    torch.testing.assert_close(w.sum(-1), torch.ones(4, 3, dtype=torch.float64))
    pooled = grouping_pool(txt, patches)
    torch.testing.assert_close(pooled, torch.einsum("bkm,bmd->bkd", w, patches))
    # threshold (reference sgl_delta = 0.1): patches whose min-max normalised similarity is below it get 0
    s = torch.einsum("bkd,bmd->bkm", txt, patches)
    s_norm = (s - s.min(-1, keepdim=True).values) / (s.max(-1, keepdim=True).values - s.min(-1, keepdim=True).values)
    assert torch.equal(w > 0, s_norm >= 0.1)
    assert torch.equal(grouping_weights(txt, patches, threshold=-1.0) > 0, s_norm >= 1 / 7)  # < 0: 1/M
    assert (w.argmax(-1) == s.argmax(-1)).all()  # the best-matching patch gets the most weight


def test_grouping_weights_by_hand_and_flat_row():
    text = torch.tensor([[[1.0, 0.0]]], dtype=torch.float64)
    patches = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [0.6, 0.8], [0.2, 0.98]]], dtype=torch.float64)
    # sims 1, 0, 0.6, 0.2 -> normalised the same; threshold 0.1 drops 0, threshold 1/4 also drops 0.2
    w = grouping_weights(text, patches)
    torch.testing.assert_close(w[0, 0], torch.tensor([1 / 1.8, 0, 0.6 / 1.8, 0.2 / 1.8], dtype=torch.float64))
    w = grouping_weights(text, patches, threshold=-1.0)
    torch.testing.assert_close(w[0, 0], torch.tensor([1 / 1.6, 0, 0.6 / 1.6, 0], dtype=torch.float64))
    flat = grouping_weights(torch.zeros(1, 1, 2, dtype=torch.float64), patches)
    torch.testing.assert_close(flat[0, 0], torch.full((4,), 0.25, dtype=torch.float64))


def test_multipos_matches_loop():
    img, txt, _ = _batch()
    b, k, _ = txt.shape
    got = image_to_captions_multipos(img, txt, 5.0)
    flat = txt.reshape(b * k, -1)
    total = 0.0
    for i in range(b):
        row = [5.0 * float(img[i] @ flat[c]) for c in range(b * k)]
        lse = math.log(sum(math.exp(v) for v in row))
        total += -sum(row[i * k + j] - lse for j in range(k)) / k
    assert got.item() == pytest.approx(total / b, rel=1e-10)


def test_dreamlip_terms_sum_and_grouping_matches_loop():
    img, txt, patches = _batch()
    fn = DreamLIPLoss(temperature=0.1, clip_weight=0.5, multipos_weight=0.25, grouping_weight=2.0,
                      clip_captions="mean", multipos="softce")
    out = fn(img, txt, patches=patches, return_dict=True)
    assert set(out) == {"dreamlip_clip_loss", "dreamlip_multipos_loss", "dreamlip_grouping_loss", "logs"}
    total = fn(img, txt, patches=patches)
    assert total.item() == pytest.approx(sum(v.item() for k, v in out.items() if k.endswith("_loss")), rel=1e-12)
    pooled = F.normalize(grouping_pool(txt, patches), dim=-1)
    expect_group = naive_clip(txt.reshape(12, -1), pooled.reshape(12, -1), 10.0)
    assert out["dreamlip_grouping_loss"].item() == pytest.approx(2.0 * expect_group, rel=1e-10)
    expect_clip = sum(naive_clip(img, txt[:, j], 10.0) for j in range(3)) / 3
    assert out["dreamlip_clip_loss"].item() == pytest.approx(0.5 * expect_clip, rel=1e-10)
    with pytest.raises(ValueError):
        fn(img, txt)  # grouping needs patches


def test_dreamlip_gradcheck_and_decreases():
    img, txt, patches = _batch(b=3, k=2, m=4, d=3)
    leaves = [x.clone().requires_grad_(True) for x in (img, txt, patches)]
    fn = DreamLIPLoss(temperature=0.5, grouping_threshold=-1.0, multipos="softce")  # circle: detached weights
    assert torch.autograd.gradcheck(lambda a, b, c: fn(a, b, patches=c), tuple(leaves))
    torch.manual_seed(0)
    x = torch.randn(16, 6)
    enc_i, enc_t, enc_p = torch.nn.Linear(6, 8), torch.nn.Linear(6, 16), torch.nn.Linear(6, 32)
    opt = torch.optim.Adam([*enc_i.parameters(), *enc_t.parameters(), *enc_p.parameters()], lr=3e-2)
    first = None
    for _ in range(25):
        loss = fn(enc_i(x), enc_t(x).view(16, 2, 8), patches=enc_p(x).view(16, 4, 8))
        opt.zero_grad()
        loss.backward()
        opt.step()
        first = loss.item() if first is None else first
    assert loss.item() < first


def _reference_dreamlip(img, txt, patches, logit_scale, logit_scale_local, delta=0.1, margin=0.25, gamma=32.0):
    """``zyf0619sjtu/DreamLIP open_clip/loss.py::ClipLoss.forward`` (use_multipos_loss, use_finegrained_loss)
    in one process, written as loops from its code: CLIP on caption 0 divided by 2K; circle loss of
    images vs all captions (positives: own K) divided by 10; grouping: min-max normalise (eps 1e-10),
    zero below delta, renormalise, pool, normalise, symmetric CE with ``logit_scale_local``."""
    b, k, d = txt.shape
    m = patches.shape[1]
    dot = lambda a, c: sum(float(a[i]) * float(c[i]) for i in range(d))  # noqa: E731

    def ce(rows, cols, scale):
        tot = 0.0
        for i, r in enumerate(rows):
            logits = [scale * dot(r, c) for c in cols]
            tot += math.log(sum(math.exp(v) for v in logits)) - logits[i]
        return tot / len(rows)

    clip = (ce(img, txt[:, 0], logit_scale) + ce(txt[:, 0], img, logit_scale)) / (2 * k)
    caps = [txt[j, c] for c in range(k) for j in range(b)]  # the reference stacks caption-major
    owner = [j for c in range(k) for j in range(b)]
    circle = 0.0
    for i in range(b):
        s = [dot(img[i], c) for c in caps]
        lp = [-gamma * max(-s[j] + 1 + margin, 0) * (s[j] - (1 - margin)) for j in range(len(caps)) if owner[j] == i]
        ln = [gamma * max(s[j] + margin, 0) * (s[j] - margin) for j in range(len(caps)) if owner[j] != i]
        z = math.log(sum(math.exp(v) for v in lp)) + math.log(sum(math.exp(v) for v in ln))
        circle += math.log1p(math.exp(z))
    multipos = circle / b / 10.0
    flat_t, pooled = [], []
    for j in range(b):
        for c in range(k):
            sim = [dot(txt[j, c], patches[j, p]) for p in range(m)]
            lo, hi = min(sim), max(sim)
            w = [(v - lo) / (hi - lo + 1e-10) for v in sim]
            w = [0.0 if v < delta else v for v in w]
            tot = sum(w)
            vec = [sum(w[p] / tot * float(patches[j, p, e]) for p in range(m)) for e in range(d)]
            norm = math.sqrt(sum(v * v for v in vec))
            flat_t.append(txt[j, c])
            pooled.append(torch.tensor([v / norm for v in vec], dtype=torch.float64))
    grouping = (ce(flat_t, pooled, logit_scale_local) + ce(pooled, flat_t, logit_scale_local)) / 2
    return clip, multipos, grouping


def test_dreamlip_defaults_follow_the_reference():
    """Issue 14 (fidelity): CLIP on caption 0 / K, circle multi-positive / 10, grouping threshold
    0.1 and a separate local scale, each term against the reference's code written as loops."""
    img, txt, patches = _batch(b=4, k=3, m=5, d=6)
    fn = DreamLIPLoss(temperature=0.1, local_temperature=0.25)
    out = fn(img, txt, patches=patches, return_dict=True)
    clip, multipos, grouping = _reference_dreamlip(img, txt, patches, 10.0, 4.0)
    assert out["dreamlip_clip_loss"].item() == pytest.approx(clip, rel=1e-10)
    assert out["dreamlip_multipos_loss"].item() == pytest.approx(multipos, rel=1e-9)
    assert out["dreamlip_grouping_loss"].item() == pytest.approx(grouping, rel=1e-9)
    learn = DreamLIPLoss(learn_scale=True)
    assert learn.local_scale_module is not None  # a separate learnable logit_scale_local
    learn(img, txt, patches=patches).backward()
    assert learn.local_scale_module.log_scale.grad is not None and learn.logit_scale_module.log_scale.grad is not None
