"""Activation-memory levers of issue 18 change the memory, not the training: gradient checkpointing
(open_clip's ``set_grad_checkpointing``, preset ``grad_checkpointing``) gives the gradients of the plain
backward, also when every block but the last is frozen (the PIGEON policy: the last block's input then
carries no gradient, which a reentrant checkpoint would silently drop); pretraining with GradCache
micro-batches (``pretrain_micro_batch_size``) plus checkpointing trains the same weights as the whole
batch at once."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from geoloc.model import GeoModel, GeoModelConfig
from geoloc.train.data import LocationImages, load_locations
from geoloc.train.embed import model_transform
from geoloc.train.finetune import BatchGeoModel, GeocellTrainingLoss
from geoloc.train.presets import get_preset
from geoloc.train.pretrain import new_clip, pretrain

CELLS = np.c_[np.linspace(-50.0, 50.0, 6), np.linspace(-150.0, 150.0, 6)]


def _gradients(net: GeoModel, batch: dict[str, torch.Tensor], checkpointing: bool) -> dict[str, torch.Tensor]:
    net.zero_grad(set_to_none=True)
    net.tower.visual.set_grad_checkpointing(checkpointing)
    out = BatchGeoModel(net)(batch)
    terms = GeocellTrainingLoss(CELLS)(out, batch)
    sum(v for k, v in terms.items() if k.endswith("_loss")).backward()
    net.tower.visual.set_grad_checkpointing(False)
    return {n: p.grad.clone() for n, p in net.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("freeze", ["none", "all_but_last"])
def test_grad_checkpointing_gives_the_plain_gradients(freeze):
    torch.manual_seed(0)
    net = GeoModel(GeoModelConfig(num_cells=len(CELLS), tower="geoloc-tiny-vit", image_size=64)).double()
    net.freeze(freeze)
    g = torch.Generator().manual_seed(1)
    batch = {"images": torch.randn(3, 2, 3, 64, 64, generator=g, dtype=torch.float64),
             "lat": torch.tensor([10.0, -20.0, 40.0], dtype=torch.float64),
             "lon": torch.tensor([5.0, 100.0, -60.0], dtype=torch.float64),
             "cell": torch.tensor([2, 0, 5]), "ok": torch.ones(3, dtype=torch.bool)}
    plain = _gradients(net, batch, False)
    ckpt = _gradients(net, batch, True)
    trainable = {n for n, p in net.named_parameters() if p.requires_grad}
    blocks = {n for n in trainable if ".resblocks." in n}
    assert blocks and blocks <= set(plain)              # the transformer blocks do train
    assert set(ckpt) == set(plain)                      # no parameter lost its gradient
    for n in plain:
        torch.testing.assert_close(ckpt[n], plain[n], rtol=1e-9, atol=1e-12, msg=n)


@pytest.fixture(scope="module")
def images(toy_data):
    locs = load_locations(toy_data["train"], views=1)
    net = GeoModel(GeoModelConfig(num_cells=1))
    return LocationImages(locs, model_transform(net), progress=False)


def test_pretraining_with_micro_batches_and_checkpointing_trains_the_same_weights(images, tmp_path, capsys):
    # the ViT tower: GradCache equals the big batch only without BatchNorm (the default preset's ResNet has it)
    base = dict(tower="geoloc-tiny-vit", views=1, pretrain_steps=2, pretrain_batch_size=8, warmup_steps=0,
                pretrain_lr=1e-3)
    plain = pretrain(images, get_preset("synthworld-tiny", **base), tmp_path / "plain", progress=False)
    lean = pretrain(images, get_preset("synthworld-tiny", grad_checkpointing=True, pretrain_micro_batch_size=4,
                                       **base), tmp_path / "lean", progress=True)
    assert "GradCache micro-batches of 4" in capsys.readouterr().err
    a, b = load_file(str(plain)), load_file(str(lean))
    assert a.keys() == b.keys()
    torch.manual_seed(0)                    # pretrain() seeds with preset.seed (0) before building the CLIP
    init = new_clip(get_preset("synthworld-tiny", **base)).state_dict()
    moved = torch.cat([(a[k] - init[k]).abs().flatten() for k in a])
    diff = torch.cat([(a[k] - b[k]).abs().flatten() for k in a])
    # two AdamW steps at lr 1e-3 move the weights by ~lr; both ways move them alike up to float32 rounding
    # of the gradients, which AdamW's division by sqrt(v) turns into steps of up to ~lr where a gradient
    # entry is ~0: hence a mean bound far below the movement (measured: 4e-10 against 2e-4) and a max
    # bound of lr (measured 6e-5). Missing negatives or a lost gradient move the mean by orders more.
    assert float(moved.mean()) > 1e-4, float(moved.mean())
    assert float(diff.mean()) < 1e-4 * float(moved.mean()) and float(diff.max()) < 1e-3, \
        (float(diff.mean()), float(diff.max()), float(moved.mean()))
