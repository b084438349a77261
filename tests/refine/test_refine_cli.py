"""`geoloc refine build`: embeds a manifest with the bundle's model and stores prototypes in the bundle."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
from PIL import Image
from typer.testing import CliRunner

from geoloc.bundle import load_bundle, verify_bundle
from geoloc.refine import build_prototypes
from geoloc.refine.cli import app
from geoloc.train.embed import embed_manifest


def _manifest(folder, n=40, seed=0):
    from geoloc.geo import sample_photo_locations

    rng = np.random.default_rng(seed)
    lat, lon = sample_photo_locations(n, seed=seed)
    (folder / "img").mkdir(parents=True)
    rows = []
    for i in range(n):
        img = (rng.random((64, 64, 3)) * 255).astype(np.uint8)
        Image.fromarray(img).save(folder / "img" / f"{i}.png")
        rows.append({"path": f"img/{i}.png", "lat": lat[i], "lon": lon[i]})
    rows.append({"path": "img/0.png", "lat": float("nan"), "lon": 0.0})        # bad coordinates
    (folder / "img" / "broken.png").write_bytes(b"not a png")
    rows.append({"path": "img/broken.png", "lat": 10.0, "lon": 10.0})           # undecodable
    pd.DataFrame(rows).to_csv(folder / "train.csv", index=False)
    return folder / "train.csv"


def test_refine_build_writes_prototypes_and_bundle_verifies(tiny_bundle_dir, tmp_path):
    bundle = tmp_path / "bundle"
    shutil.copytree(tiny_bundle_dir, bundle)
    before = load_bundle(bundle)
    manifest = _manifest(tmp_path / "data")
    res = CliRunner().invoke(app, ["build", "--model", str(bundle), "--manifest", str(manifest), "--quiet",
                                   "--min-samples", "2", "--xi", "0.1"])
    assert res.exit_code == 0, res.output
    assert "from 40 locations (2 skipped)" in res.output
    verify_bundle(bundle)
    after = load_bundle(bundle)
    assert after.content_hash != before.content_hash
    # the stored prototypes are exactly build_prototypes of the bundle model's embeddings
    emb, lat, lon, ok = embed_manifest(after, manifest, progress=False)
    assert ok.sum() == 40 and not ok[-1]
    ref = build_prototypes(after.geocells.assign(lat[ok], lon[ok]), lat[ok], lon[ok], emb[ok], len(after.geocells),
                           min_samples=2, xi=0.1, progress=False)
    np.testing.assert_allclose(after.prototypes.embeddings, ref.embeddings, rtol=1e-5, atol=1e-6)
    assert after.config["card"]["prototypes"]["locations"] == 40


def test_refine_build_errors(tiny_bundle_dir, tmp_path):
    res = CliRunner().invoke(app, ["build", "--model", str(tiny_bundle_dir), "--manifest", str(tmp_path / "x.csv"),
                                   "--xi", "2"])
    assert res.exit_code != 0
    assert "xi" in str(res.exception)
