"""embed_manifest equals the Geolocator's own preprocessing + forward; cached == streamed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from geoloc.data.images import load_image
from geoloc.predict import Geolocator
from geoloc.train.embed import embed_manifest


def test_embed_manifest_matches_geolocator(tiny_bundle_dir, toy_data):
    emb, lat, _lon, ok = embed_manifest(tiny_bundle_dir, toy_data["test"], views=1, progress=False)
    emb_c, *_ = embed_manifest(tiny_bundle_dir, toy_data["test"], views=1, progress=False, cache=True)
    df = pd.read_csv(toy_data["test"])
    first = df[df["view"] == 0].reset_index(drop=True)
    assert ok.all() and emb.shape == (len(first), 128)
    np.testing.assert_allclose(lat, first["lat"])
    geo = Geolocator.from_pretrained(tiny_bundle_dir, device="cpu")
    pixels = torch.stack([geo.transform(load_image(toy_data["test"].parent / p)) for p in first["path"]])
    ref, _, _, _ = geo.forward(pixels[:, None])
    np.testing.assert_allclose(emb, ref, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(emb, emb_c)


def test_multi_view_embedding_is_the_mean_fusion(tiny_bundle_dir, toy_data):
    from geoloc.bundle import load_bundle

    b = load_bundle(tiny_bundle_dir)
    emb4, _, _, ok = embed_manifest(b, toy_data["test"], views=4, progress=False)
    assert ok.all() and emb4.shape[0] == 24
    df = pd.read_csv(toy_data["test"])
    geo = Geolocator(b, device="cpu")
    loc = df[df["id"] == "loc0005"].sort_values("view")
    px = torch.stack([geo.transform(load_image(toy_data["test"].parent / p)) for p in loc["path"]])[None]
    ref, _, _, _ = geo.forward(px)
    np.testing.assert_allclose(emb4[5], ref[0], rtol=1e-5, atol=1e-5)
