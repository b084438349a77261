"""Prompt-ensemble embeddings and their cache file."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from geoloc.zeroshot.prompts import country_prompts
from geoloc.zeroshot.text_embed import (
    cache_file,
    cache_key,
    class_embeddings,
    encode_texts,
    ensemble,
    load_class_embeddings,
    save_class_embeddings,
    text_fingerprint,
)

PROMPTS = [*country_prompts(["France", "Japan", "Brazil"]), ["A street view photo of Open sea 1."]]


def _naive(model, tokenizer, prompts):
    """Reference: one sentence at a time, float64 mean of unit vectors, normalised."""
    out = []
    for group in prompts:
        vecs = []
        for s in group:
            with torch.no_grad():
                v = model.encode_text(tokenizer([s]))[0].double()
            vecs.append(v / v.norm())
        m = torch.stack(vecs).mean(0)
        out.append((m / m.norm()).numpy())
    return np.stack(out)


def test_class_embeddings_equal_naive_loop(tiny_clip):
    got = class_embeddings(tiny_clip.model, tiny_clip.tokenizer, PROMPTS, batch_size=5)
    assert got.shape == (4, tiny_clip.model.text_projection.shape[1]) and got.dtype == torch.float32
    np.testing.assert_allclose(got.double().numpy(), _naive(tiny_clip.model, tiny_clip.tokenizer, PROMPTS),
                               atol=2e-6)
    np.testing.assert_allclose(got.norm(dim=1).numpy(), 1.0, atol=1e-6)


def test_encode_texts_batch_size_invariant(tiny_clip):
    texts = [s for g in PROMPTS for s in g]
    a = encode_texts(tiny_clip.model, tiny_clip.tokenizer, texts, batch_size=1)
    b = encode_texts(tiny_clip.model, tiny_clip.tokenizer, texts, batch_size=256, progress=True)
    np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-5)
    with pytest.raises(ValueError):
        encode_texts(tiny_clip.model, tiny_clip.tokenizer, texts, batch_size=0)


def test_ensemble_reference_and_empty_class():
    rng = np.random.default_rng(0)
    e = torch.nn.functional.normalize(torch.as_tensor(rng.normal(size=(6, 4))), dim=1)
    owner = np.array([2, 0, 2, 1, 0, 2])
    got = ensemble(e, owner, 3).numpy()
    for k in range(3):
        m = e.numpy()[owner == k].mean(0)
        np.testing.assert_allclose(got[k], m / np.linalg.norm(m), atol=1e-12)
    with pytest.raises(ValueError, match="no prompt"):
        ensemble(e, owner, 4)


def test_fingerprint_tracks_the_text_side_only(tiny_clip):
    import copy

    m = copy.deepcopy(tiny_clip.model)
    fp = text_fingerprint(m, tiny_clip.tokenizer)
    assert fp == text_fingerprint(copy.deepcopy(m), tiny_clip.tokenizer)
    with torch.no_grad():
        m.visual.conv1.weight.add_(1.0)
    assert text_fingerprint(m, tiny_clip.tokenizer) == fp          # image tower: same text embeddings
    with torch.no_grad():
        m.ln_final.weight[0] += 1e-3
    assert text_fingerprint(m, tiny_clip.tokenizer) != fp
    with torch.no_grad():
        m.ln_final.weight[0] -= 1e-3
        m.logit_scale.add_(0.5)
    assert text_fingerprint(m, tiny_clip.tokenizer) != fp


def test_cache_key_depends_on_every_input():
    p = {"cells": [["a."]], "countries": [["b."]]}
    k = cache_key("t", "g", p)
    assert k == cache_key("t", "g", {"countries": [["b."]], "cells": [["a."]]})
    assert len({k, cache_key("t2", "g", p), cache_key("t", "g2", p),
                cache_key("t", "g", {"cells": [["a!"]], "countries": [["b."]]})}) == 4


def test_cache_round_trip_and_damage(tmp_path):
    t = {"cells": torch.randn(5, 8), "countries": torch.randn(2, 8)}
    path = save_class_embeddings(cache_file(tmp_path / "c", "abc"), "abc", t, {"model": "x"})
    got = load_class_embeddings(path, "abc", ["cells", "countries"])
    assert got is not None
    for k in t:
        torch.testing.assert_close(got[k], t[k], rtol=0, atol=0)
    assert load_class_embeddings(path, "other", ["cells"]) is None            # another key
    assert load_class_embeddings(path, "abc", ["cells", "extra"]) is None     # lacks a tensor
    assert load_class_embeddings(tmp_path / "missing.safetensors", "abc", ["cells"]) is None
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])                                   # truncated
    assert load_class_embeddings(path, "abc", ["cells"]) is None
    assert not list((tmp_path / "c").glob("*.tmp"))
