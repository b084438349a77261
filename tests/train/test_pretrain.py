"""Caption pretraining: a few steps lower nothing silly, build_clip loads the checkpoint, the
losses' options run, MultiCSR masks near pairs."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from geoloc.model import GeoModel, GeoModelConfig, build_clip
from geoloc.train.data import LocationImages, load_locations
from geoloc.train.embed import model_transform
from geoloc.train.presets import get_preset
from geoloc.train.pretrain import CaptionedViews, _MaskByKm, pretrain


@pytest.fixture(scope="module")
def images(toy_data):
    locs = load_locations(toy_data["train"], views=1)
    net = GeoModel(GeoModelConfig(num_cells=1))
    return LocationImages(locs, model_transform(net), progress=False)


def test_pretrain_then_build_clip_loads_it(images, tmp_path):
    preset = get_preset("synthworld-tiny", views=1, pretrain_steps=4, pretrain_batch_size=16, warmup_steps=1,
                        pretrain_lr=1e-3)
    path = pretrain(images, preset, tmp_path, progress=False)
    assert path.name == "clip.safetensors"
    clip = build_clip(preset.tower, checkpoint=path, image_size=64)
    fresh = build_clip(preset.tower, image_size=64)
    from safetensors.torch import load_file

    saved = load_file(str(path))
    assert all(torch.equal(saved[k], v) for k, v in clip.state_dict().items())
    assert not torch.equal(clip.visual.conv1.weight, fresh.visual.conv1.weight)
    # the fine-tuning model starts from it: the vision weights are the pretrained ones
    net = GeoModel(GeoModelConfig(num_cells=3, tower=preset.tower, image_size=64), checkpoint=str(path))
    assert torch.equal(net.tower.visual.conv1.weight, saved["visual.conv1.weight"])
    rows = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["step"] == 4 and np.isfinite(rows[-1]["loss"])


@pytest.mark.parametrize("loss", ["dreamlip", "multicsr"])
def test_loss_options_train(images, tmp_path, loss):
    preset = get_preset("synthworld-tiny", views=1, pretrain_steps=2, pretrain_batch_size=8, warmup_steps=0,
                        pretrain_loss=loss, captions_per_location=3, multicsr_km=500.0)
    path = pretrain(images, preset, tmp_path, progress=False)
    assert path.is_file()
    rows = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert np.isfinite(rows[-1]["loss"])


def test_captioned_views_and_km_mask(images):
    import open_clip

    tok = open_clip.get_tokenizer("geoloc-tiny-vit")
    ds = CaptionedViews(images, tok, captions_per_item=2, seed=0)
    assert len(ds) == len(images) and ds[0]["tokens"].shape == (2, 77)
    assert ds.captions[0][0].startswith("A street view photo close to the town of Town0")
    latlon = torch.tensor([[0.0, 0.0], [0.0, 1.0], [0.0, 30.0]])   # 0-1: 111 km apart
    mask = _MaskByKm(200.0)({"latlon": latlon})["mask"]
    assert mask.tolist() == [[True, False, True], [False, True, True], [True, True, True]]
