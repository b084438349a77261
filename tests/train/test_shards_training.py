"""Issue 18: WebDataset shards as a training source. The shards written by `geoloc data shard` are
indexed once (tar headers); every stage then reads each image by one positioned read from its shard,
in any order, so DDP's sampler gives every rank the same number of samples and resume is exact."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import load_file

from geoloc.data.shards import index_shards, is_member_ref, manifest_to_shards
from geoloc.errors import InputFileError
from geoloc.train.data import LocationImages, attach_shards, load_locations


@pytest.fixture(scope="module")
def sharded(toy_data, tmp_path_factory):
    from geoloc.data.manifest import read_manifest

    out = tmp_path_factory.mktemp("shards")
    df = read_manifest(toy_data["train"])
    paths, report = manifest_to_shards(df, out, root=toy_data["train"].parent, maxcount=50, progress=False)
    assert len(paths) == 3 and report.n_bad == 0
    return out


def test_index_and_pixels_equal_the_files(toy_data, sharded):
    index = index_shards(sharded)
    assert len(index) == 120 and all(len(v) == 4 and all(is_member_ref(r) for r in v) for v in index.values())
    locs = load_locations(toy_data["train"], views=4)
    from_shards = attach_shards(locs, sharded)
    assert len(from_shards) == 120 and from_shards.rejected == 0
    from geoloc.data.datasets import open_clip_transform
    from geoloc.model import register_model_configs

    register_model_configs()
    t = open_clip_transform("geoloc-tiny-vit", 64)
    a = LocationImages(locs, t, cache=False, progress=False)
    b = LocationImages(from_shards, t, cache=False, progress=False)
    for i in (0, 57, 119):
        assert torch.equal(a.pixels(i)[0], b.pixels(i)[0])


def test_missing_locations_are_counted_and_none_is_an_error(toy_data, sharded, tmp_path):
    df = pd.read_csv(toy_data["train"])
    extra = df[df["id"] == "loc0000"].copy()
    extra["id"] = "not-sharded"
    locs = load_locations(pd.concat([df, extra]), root=toy_data["train"].parent, views=4)
    got = attach_shards(locs, sharded)
    assert len(got) == 120 and got.rejected == locs.rejected + 1
    assert any("not in the shards" in p for p in got.problems)
    other = df.copy()
    other["id"] = other["id"] + "-x"
    with pytest.raises(InputFileError, match="none of the 120"):
        attach_shards(load_locations(other, root=toy_data["train"].parent, views=4), sharded)


def test_training_from_shards_equals_training_from_files(toy_data, sharded, tmp_path):
    from geoloc.train.pipeline import train_bundle

    kw = dict(cells="grid", grid_deg=45.0, finetune_steps=3, batch_size=16, warmup_steps=1, refine=False,
              head_epochs=0, progress=False, command="pytest")
    files = train_bundle(toy_data["train"], tmp_path / "files", "synthworld-tiny", **kw)
    df = pd.read_csv(toy_data["train"])
    df["path"] = "/nonexistent/" + df["path"]  # the files are not needed any more
    shards = train_bundle(df, tmp_path / "shards", "synthworld-tiny", shards=str(sharded), **kw)
    a, b = load_file(str(files / "model.safetensors")), load_file(str(shards / "model.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert np.isfinite(next(iter(a.values())).numpy()).all()
