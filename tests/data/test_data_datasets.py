"""torch datasets: samples, multi-view batching, failure skipping, seeding with workers,
open_clip preprocessing, and the shard-backed iterable dataset."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from datahelpers import write_manifest_folder
from PIL import Image

from geoloc.data.datasets import (
    FailedSample,
    ManifestDataset,
    ShardDataset,
    collate_skip_failed,
    default_transform,
    make_loader,
    open_clip_preprocess_cfg,
    open_clip_transform,
)
from geoloc.data.manifest import validate_manifest
from geoloc.data.shards import manifest_to_shards
from geoloc.errors import GeolocError


class NoisyTransform:
    """Resize + to tensor + noise from torch's, numpy's and Python's RNGs (to test seeding)."""

    def __init__(self, size: int = 16):
        self.base = default_transform(size)

    def __call__(self, img: Image.Image) -> torch.Tensor:
        import random

        x = self.base(img)
        return x + torch.rand(1) + float(np.random.rand()) + random.random()


@pytest.fixture
def folder(tmp_path):
    df = write_manifest_folder(tmp_path, n=6, views=4, size=20)
    df.attrs["root"] = str(tmp_path)
    return tmp_path, df


def test_single_view_samples(folder):
    tmp, df = folder
    ds = ManifestDataset(df, label_columns=["country", "month"], image_size=16)
    assert len(ds) == 24
    s = ds[5]
    assert s["images"].shape == (1, 3, 16, 16) and s["images"].dtype == torch.float32
    assert s["lat"].item() == pytest.approx(df["lat"][5]) and s["lon"].item() == pytest.approx(df["lon"][5])
    assert s["country"] == df["country"][5] and s["month"].dtype == torch.long and s["month"].item() == 2
    ref = default_transform(16)(Image.open(tmp / df["path"][5]).convert("RGB"))
    torch.testing.assert_close(s["images"][0], ref)


def test_four_view_batches_in_view_order(folder):
    tmp, df = folder
    shuffled = df.sample(frac=1.0, random_state=1)  # row order must not matter
    shuffled.attrs["root"] = str(tmp)
    ds = ManifestDataset(shuffled, views=4, image_size=16)
    assert len(ds) == 6 and ds.rejected.empty
    loader = make_loader(ds, batch_size=4)
    batch = next(iter(loader))
    assert batch["images"].shape == (4, 4, 3, 16, 16)
    assert batch["lat"].shape == (4,) and batch["n_failed"] == 0
    first = batch["id"][0]
    i = int(first[3:])
    for v in range(4):
        ref = default_transform(16)(Image.open(tmp / f"img/loc{i}_v{v}.jpg").convert("RGB"))
        torch.testing.assert_close(batch["images"][0, v], ref)


def test_incomplete_locations_rejected(folder):
    tmp, df = folder
    df = df[~((df["id"] == "loc2") & (df["view"] == 3))]
    df.attrs["root"] = str(tmp)
    ds = ManifestDataset(df, views=4)
    assert len(ds) == 5 and ds.rejected["id"].tolist() == ["loc2"]


def test_bad_files_are_skipped_and_counted(folder):
    tmp, df = folder
    (tmp / "img" / "loc1_v0.jpg").write_bytes(b"\xff\xd8\xff\xe0 broken")
    (tmp / "img" / "loc4_v2.jpg").unlink()
    bad = df.copy()
    bad.loc[0, "lat"] = 123.0  # invalid coordinate: reported at construction
    bad.attrs["root"] = str(tmp)
    ds = ManifestDataset(bad, image_size=16)
    assert ds.report.n_bad == 1 and list(ds.report.bad_rows) == [0]
    assert len(ds) == 23
    loader = make_loader(ds, batch_size=8, num_workers=0)
    total_good = total_failed = 0
    failed_sources = []
    for batch in loader:
        total_good += batch["n_good"]
        total_failed += batch["n_failed"]
        failed_sources += [f.source for f in batch["failed"]]
        assert batch["images"].shape[0] == batch["n_good"]
    assert total_good == 21 and total_failed == 2
    assert sorted(s.rsplit("/", 1)[-1] for s in failed_sources) == ["loc1_v0.jpg", "loc4_v2.jpg"]


def test_collate_all_failed():
    out = collate_skip_failed([FailedSample(0, "a", "x"), FailedSample(1, "b", "y")])
    assert out["n_failed"] == 2 and out["n_good"] == 0 and out["images"].numel() == 0


def _run(ds, seed, workers, shuffle=True):
    loader = make_loader(ds, batch_size=5, shuffle=shuffle, num_workers=workers, seed=seed)
    return [(b["id"], b["images"].clone()) for b in loader]


def test_deterministic_with_two_workers(folder):
    _, df = folder
    ds = ManifestDataset(df, NoisyTransform(16))
    a = _run(ds, seed=7, workers=2)
    b = _run(ds, seed=7, workers=2)
    c = _run(ds, seed=8, workers=2)
    assert [x[0] for x in a] == [x[0] for x in b]
    for (_, ta), (_, tb) in zip(a, b, strict=True):
        torch.testing.assert_close(ta, tb)
    assert [x[0] for x in a] != [x[0] for x in c]
    # the shuffle order depends on the seed only, not on the number of workers
    assert [x[0] for x in _run(ds, seed=7, workers=0)] == [x[0] for x in a]


def test_open_clip_transform_matches_open_clip():
    import open_clip
    from open_clip.transform import OPENAI_DATASET_MEAN, OPENAI_DATASET_STD

    img = Image.fromarray(np.random.default_rng(0).integers(0, 255, (300, 400, 3), dtype=np.uint8))
    ours = open_clip_transform("ViT-B-32")
    ref = open_clip.image_transform(224, is_train=False, mean=OPENAI_DATASET_MEAN, std=OPENAI_DATASET_STD)
    out = ours(img)
    assert out.shape == (3, 224, 224)
    torch.testing.assert_close(out, ref(img))
    assert open_clip_transform("ViT-L-14-336")(img).shape == (3, 336, 336)
    assert open_clip_transform("ViT-B-32", image_size=64)(img).shape == (3, 64, 64)
    # a pretrained tag brings that checkpoint's normalisation (SigLIP: 0.5 / 0.5), offline
    cfg = open_clip_preprocess_cfg("ViT-B-16-SigLIP", pretrained="webli")
    assert tuple(cfg["mean"]) == (0.5, 0.5, 0.5) and tuple(cfg["std"]) == (0.5, 0.5, 0.5)
    # a config dict works too
    cfg2 = open_clip_preprocess_cfg({"vision_cfg": {"image_size": 96, "image_mean": [0.1, 0.2, 0.3]}})
    assert cfg2["size"] == 96 and list(cfg2["mean"]) == [0.1, 0.2, 0.3]
    with pytest.raises(GeolocError, match="unknown open_clip model"):
        open_clip_transform("no-such-model")


@pytest.mark.slow
def test_open_clip_transform_equals_model_preprocess():
    import open_clip

    _, _, preprocess = open_clip.create_model_and_transforms("ViT-B-32", pretrained=None)
    img = Image.fromarray(np.random.default_rng(1).integers(0, 255, (250, 180, 3), dtype=np.uint8))
    torch.testing.assert_close(open_clip_transform("ViT-B-32")(img), preprocess(img))


@pytest.fixture
def shards(folder):
    tmp, df = folder
    clean, _ = validate_manifest(df)
    paths, _ = manifest_to_shards(clean, tmp / "shards", maxcount=2, progress=False)
    assert len(paths) == 3
    return paths


def test_shard_dataset_epoch_covers_each_sample_once_with_workers(shards):
    ds = ShardDataset(shards, views=4, image_size=16, label_columns=["country"])
    ids = []
    for b in make_loader(ds, batch_size=4, num_workers=2):
        assert b["images"].shape[1:] == (4, 3, 16, 16)
        assert all(c in ("C0", "C1") for c in b["country"])
        ids += b["id"]
    assert sorted(ids) == [f"loc{i}" for i in range(6)]


def test_shard_dataset_shuffle_is_seeded(shards):
    def order(seed, epoch=0):
        ds = ShardDataset(shards, views=1, image_size=8, shuffle=10, seed=seed)
        ds.set_epoch(epoch)
        return [i for b in make_loader(ds, batch_size=3, num_workers=2) for i in b["id"]]

    a = order(3)
    assert a == order(3) and sorted(a) == [f"loc{i}" for i in range(6)]
    assert any(order(s) != a for s in (4, 5, 6)) or order(3, epoch=1) != a


def test_shard_dataset_resampled_and_view_shortfall(shards):
    ds = ShardDataset(shards, views=1, image_size=8, resampled=True, seed=0)
    taken = list(itertools.islice(iter(ds), 20))  # endless stream
    assert len(taken) == 20 and all(s["images"].shape == (1, 3, 8, 8) for s in taken)
    too_many = ShardDataset(shards, views=5, image_size=8)
    out = list(too_many)
    assert len(out) == 6 and all(isinstance(s, FailedSample) and "4 views" in s.reason for s in out)
    with pytest.raises(GeolocError, match="not found"):
        ShardDataset([str(shards[0]) + ".missing"])
