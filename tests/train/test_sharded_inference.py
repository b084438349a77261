"""Issue 18: embedding, held-out evaluation and `refine build` under 2 processes: each rank does its
share on its device, the results travel once to rank 0, and they equal the one-process results."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from geoloc.bundle import load_bundle


def _work(rank: int, world: int, bundle: str, manifest: str, out: str) -> dict:
    from geoloc.refine.cli import build_into_bundle
    from geoloc.train.data import LocationImages, load_locations
    from geoloc.train.embed import embed_dataset, model_transform
    from geoloc.train.pipeline import evaluate_locations

    torch.set_num_threads(1)
    b = load_bundle(bundle)
    locs = load_locations(manifest, views=1)
    ds = LocationImages(locs, model_transform(b.model), cache=False, progress=False)
    main = embed_dataset(b.model, ds, batch_size=5, device="cpu", progress=False, gather="main")
    every = embed_dataset(b.model, ds, batch_size=5, device="cpu", progress=False, gather="all")
    ev = evaluate_locations(b, locs, batch_size=5, progress=False, device="cpu", return_predictions=True)
    copy = Path(out) / f"bundle{rank}"
    if rank == 0:
        shutil.copytree(bundle, copy)
    from representation.distributed import barrier

    barrier()
    info = build_into_bundle(Path(out) / "bundle0", Path(manifest), batch_size=5, progress=False, device="cpu")
    return {"main": main, "every": every, "ev": ev, "info": info}


# ~80 s on 2 busy cores, so slow; the default run's tests/train/test_ddp_pipeline.py covers the sharded
# embedding and evaluation inside the pipeline under torchrun
@pytest.mark.slow
def test_two_process_inference_equals_one(tiny_bundle_dir, toy_data, tmp_path):
    from geoloc.refine.cli import build_into_bundle
    from geoloc.train.data import LocationImages, load_locations
    from geoloc.train.embed import embed_dataset, model_transform
    from geoloc.train.pipeline import evaluate_locations
    from representation.testing.ddp import run_ddp

    manifest = str(toy_data["test"])
    r0, r1 = run_ddp(_work, world_size=2, args=(str(tiny_bundle_dir), manifest, str(tmp_path)), timeout_s=400)
    b = load_bundle(tiny_bundle_dir)
    locs = load_locations(manifest, views=1)
    ds = LocationImages(locs, model_transform(b.model), cache=False, progress=False)
    emb, ok = embed_dataset(b.model, ds, batch_size=5, device="cpu", progress=False)
    assert ok.all() and emb.shape == (24, b.model.embed_dim)
    assert r1["main"] == (None, None), "gather='main' sends the shards to rank 0 only"
    for got in (r0["main"], r0["every"], r1["every"]):
        np.testing.assert_allclose(got[0], emb, rtol=1e-5, atol=1e-6)   # batch composition changes the last bits
        np.testing.assert_array_equal(got[1], ok)
    ev = evaluate_locations(b, locs, batch_size=5, progress=False, device="cpu", return_predictions=True)
    assert r1["ev"] is None
    np.testing.assert_allclose(r0["ev"]["predictions"], ev["predictions"], rtol=1e-6)
    assert r0["ev"]["refined"] == pytest.approx(ev["refined"]) and r0["ev"]["n_locations"] == 24
    shutil.copytree(tiny_bundle_dir, tmp_path / "single")
    info = build_into_bundle(tmp_path / "single", Path(manifest), batch_size=5, progress=False, device="cpu")
    assert r1["info"] is None and r0["info"]["prototypes"] == info["prototypes"] == r0["info"]["prototypes"]
    p2, p1 = load_bundle(tmp_path / "bundle0").prototypes, load_bundle(tmp_path / "single").prototypes
    np.testing.assert_array_equal(p2.member_rows, p1.member_rows)
    np.testing.assert_allclose(p2.embeddings, p1.embeddings, rtol=1e-5, atol=1e-6)
