"""Issue 18: parameters the training forward never uses are exactly what freeze_unused freezes.

DDP (no find_unused_parameters) fails at step 2 when a trainable parameter gets no gradient. The
reference here is empirical: one real backward pass per configuration, and the parameters left
without a gradient must be exactly :func:`geoloc.model.unused.unused_parameters`; after
:func:`freeze_unused` every trainable parameter has one. The DDP run itself is
tests/train/test_ddp_pipeline.py.
"""

from __future__ import annotations

import pytest
import torch

from geoloc.model import GeoModel, GeoModelConfig, build_clip
from geoloc.model.unused import freeze_unused, unused_parameters
from geoloc.train.finetune import BatchGeoModel, GeocellTrainingLoss


def _no_grad(module: torch.nn.Module) -> set[str]:
    return {n for n, p in module.named_parameters() if p.requires_grad and p.grad is None}


def _geo_backward(net: GeoModel, train_views: int | None = None) -> None:
    torch.manual_seed(0)
    model = BatchGeoModel(net, train_views).train()
    images = torch.randn(3, 4, 3, 64, 64)
    feats = model({"images": images})
    loss = GeocellTrainingLoss([[0.0, 0.0], [10.0, 10.0], [-20.0, 50.0]], weights={"country": 0.5})
    batch = {"lat": torch.tensor([1.0, 9.0, -19.0]), "lon": torch.tensor([1.0, 11.0, 49.0]),
             "cell": torch.tensor([0, 1, 2]), "country": torch.tensor([0, -1, 1]), "ok": torch.ones(3, dtype=torch.bool)}
    out = loss(feats, batch)
    sum(v for k, v in out.items() if k.endswith("_loss")).backward()


CONFIGS = [("geoloc-tiny-vit", "tokens_mean", "mean"), ("geoloc-tiny-vit", "tokens_mean_pre_ln", "mean"),
           ("geoloc-tiny-vit", "pooled", "mean"), ("geoloc-tiny-vit", "pooled", "cross_frame"),
           ("geoloc-tiny-vit", "tokens_mean", "cross_frame"), ("geoloc-tiny-vit", "tokens_mean_pre_ln", "cross_frame"),
           ("geoloc-tiny-vit", "tokens_mean", "attention"), ("geoloc-tiny-rn", "pooled", "mean")]


@pytest.mark.parametrize(("tower", "embedding", "fusion"), CONFIGS, ids=["-".join(c) for c in CONFIGS])
@pytest.mark.parametrize("freeze", ["none", "all_but_last"])
def test_geo_model_unused_parameters_are_exactly_those_without_gradient(tower, embedding, fusion, freeze):
    cfg = GeoModelConfig(num_cells=3, tower=tower, image_size=64, embedding=embedding, fusion=fusion,
                         aux_heads={"country": 2})
    torch.manual_seed(0)
    net = GeoModel(cfg)
    net.freeze(freeze)
    _geo_backward(net, train_views=2 if tower.endswith("rn") else None)
    assert _no_grad(net) == set(unused_parameters(net))
    net.zero_grad(set_to_none=True)
    frozen = freeze_unused(net)
    assert set(frozen) == set(unused_parameters(net))
    _geo_backward(net)
    assert _no_grad(net) == set()


def test_known_cases_are_named():
    vit = {e: GeoModel(GeoModelConfig(num_cells=2, embedding=e, image_size=64))
           for e in ("tokens_mean", "tokens_mean_pre_ln", "pooled")}
    assert unused_parameters(vit["tokens_mean"]) == ["tower.visual.proj"]
    assert set(unused_parameters(vit["tokens_mean_pre_ln"])) == {"tower.visual.proj", "tower.visual.ln_post.weight",
                                                                 "tower.visual.ln_post.bias"}
    assert unused_parameters(vit["pooled"]) == []
    cross = GeoModel(GeoModelConfig(num_cells=2, embedding="pooled", fusion="cross_frame", image_size=64))
    assert unused_parameters(cross) == ["tower.visual.proj"]


@pytest.mark.parametrize("tower", ["geoloc-tiny-vit", "geoloc-tiny-rn"])
def test_clip_pretraining_leaves_only_open_clips_logit_scale_unused(tower):
    from geoloc.train.presets import get_preset
    from geoloc.train.pretrain import ClipPair, build_pretrain_loss

    torch.manual_seed(0)
    clip = build_clip(tower, image_size=64)
    pair = ClipPair(clip)
    loss = build_pretrain_loss(get_preset("synthworld-tiny", tower=tower))
    batch = {"images": torch.randn(4, 3, 64, 64), "tokens": torch.randint(1, 400, (4, 1, 77))}
    feats = pair(batch)
    sum(v for k, v in loss(feats, batch).items() if k.endswith("_loss")).backward()
    assert _no_grad(clip) == {"logit_scale"} == set(unused_parameters(clip))
    clip.zero_grad(set_to_none=True)
    freeze_unused(clip)
    feats = pair(batch)
    sum(v for k, v in loss(feats, batch).items() if k.endswith("_loss")).backward()
    assert _no_grad(clip) == set()
