"""Behaviour: a tiny CLIP fitted for a few dozen CPU steps on coloured images paired with prompts
naming four countries classifies held-out images zero-shot far better than chance; the same
model with random weights does not."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from geoloc.zeroshot import ZeroShotGeolocator
from geoloc.zeroshot.prompts import cell_prompts, country_prompts
from geoloc.zeroshot.synthetic import colour_images, fit_clip, multi_positive_infonce


def _country_accuracy(zs, labels, keys, seed):
    imgs = colour_images(labels, len(keys), seed=seed)
    preds = zs.predict(imgs, places=False, top_k=1)
    from_cells = np.mean([p.countries[0].code == keys[k] for p, k in zip(preds, labels, strict=True)])
    from_text = np.mean([p.countries_text[0].code == keys[k] for p, k in zip(preds, labels, strict=True)])
    return from_cells, from_text


def test_fitted_tiny_clip_beats_chance(tiny_clip, toy_cells):
    from geoloc.predict import region_index

    f = toy_cells.frame
    keys, col = region_index(f["country"].astype(str).tolist())
    names = dict(zip(f["country"], f["country_name"], strict=True))
    towns = [""] * len(toy_cells)
    cp = cell_prompts(toy_cells, towns=towns)
    kp = country_prompts([names[k] for k in keys])
    rng = np.random.default_rng(0)
    cell_of = rng.choice(np.flatnonzero(col >= 0), size=256)
    labels = col[cell_of]
    clip = copy.deepcopy(tiny_clip)
    pixels = torch.stack([clip.transform(im) for im in colour_images(labels, len(keys), seed=1)])
    test_labels = rng.integers(0, len(keys), size=80)

    untrained = ZeroShotGeolocator(clip, toy_cells, towns=towns, progress=False)
    before = _country_accuracy(untrained, test_labels, keys, seed=2)

    losses = fit_clip(clip.model, clip.tokenizer, pixels, [cp[c] + kp[col[c]] for c in cell_of], labels, steps=20)
    assert np.mean(losses[-5:]) < losses[0]
    trained = ZeroShotGeolocator(clip, toy_cells, towns=towns, progress=False)
    after = _country_accuracy(trained, test_labels, keys, seed=2)
    chance = 1 / len(keys)
    print(f"country accuracy (cells, prompts): random {before}, fitted {after}")
    assert min(after) >= 0.75, (before, after)          # 4 countries: chance 0.25
    assert max(before) <= chance + 0.25, (before, after)


def test_multi_positive_infonce_reference():
    g = torch.Generator().manual_seed(0)
    a = torch.nn.functional.normalize(torch.randn(5, 3, generator=g), dim=1)
    b = torch.nn.functional.normalize(torch.randn(5, 3, generator=g), dim=1)
    lab = torch.tensor([0, 1, 0, 2, 1])
    s = torch.tensor(7.0)
    logits = (s * a @ b.T).double()

    def side(lg):
        tot = 0.0
        for i in range(5):
            pos = [j for j in range(5) if lab[j] == lab[i]]
            lse = torch.logsumexp(lg[i], 0)
            tot += -sum(float(lg[i, j] - lse) for j in pos) / len(pos)
        return tot / 5

    ref = (side(logits) + side(logits.T)) / 2
    assert float(multi_positive_infonce(a, b, lab, s)) == pytest.approx(ref, rel=1e-5)
    # distinct labels: the standard CLIP loss
    lab2 = torch.arange(5)
    clip_loss = (torch.nn.functional.cross_entropy(s * a @ b.T, lab2)
                 + torch.nn.functional.cross_entropy(s * b @ a.T, lab2)) / 2
    torch.testing.assert_close(multi_positive_infonce(a, b, lab2, s), clip_loss)
