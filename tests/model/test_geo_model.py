"""GeoModel: shapes, view fusion semantics, heads, freezing, config round trip."""

from __future__ import annotations

import pytest
import torch

from geoloc.model import GeoModel, GeoModelConfig


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return GeoModel(GeoModelConfig(num_cells=7, aux_heads={"country": 4, "month": 12})).eval()


def test_outputs_and_mean_fusion(model):
    x = torch.randn(2, 4, 3, 64, 64)
    with torch.no_grad():
        out = model(x)
        views = model.embed_views(x)
    assert set(out) == {"embedding", "geocell", "country", "month"}
    assert out["embedding"].shape == (2, 128) and out["geocell"].shape == (2, 7)
    assert out["country"].shape == (2, 4) and out["month"].shape == (2, 12)
    torch.testing.assert_close(out["embedding"], views.mean(dim=1))
    head = model.heads.heads["geocell"]
    torch.testing.assert_close(out["geocell"], out["embedding"] @ head.weight.T + head.bias)


def test_single_view_equals_tower(model):
    x = torch.randn(3, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(model(x)["embedding"], model.tower(x))


def test_valid_mask_ignores_missing_views(model):
    x = torch.randn(1, 4, 3, 64, 64)
    valid = torch.tensor([[True, True, False, False]])
    with torch.no_grad():
        a = model(x, valid)["embedding"]
        b = model(x[:, :2])["embedding"]
    torch.testing.assert_close(a, b)


@pytest.mark.parametrize("fusion", ["attention", "cross_frame"])
def test_attention_fusions_are_view_permutation_invariant(fusion):
    torch.manual_seed(0)
    m = GeoModel(GeoModelConfig(num_cells=5, fusion=fusion)).eval()
    x = torch.randn(2, 4, 3, 64, 64)
    with torch.no_grad():
        a = m(x)["embedding"]
        b = m(x[:, [2, 0, 3, 1]])["embedding"]
        mean = m.embed_views(x).mean(dim=1)
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(a, mean)
    m.train()
    m(x)["geocell"].sum().backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in m.fusion.parameters())


def test_freeze_all_but_last(model):
    model.freeze("all_but_last")
    blocks = model.tower.visual.transformer.resblocks
    assert not any(p.requires_grad for p in blocks[0].parameters())
    assert all(p.requires_grad for p in blocks[-1].parameters())
    assert all(p.requires_grad for p in model.heads.parameters())
    model.freeze("all")
    assert not any(p.requires_grad for p in model.tower.parameters())
    model.freeze("none")
    assert all(p.requires_grad for p in model.tower.parameters())
    with pytest.raises(ValueError):
        model.freeze("half")


def test_config_round_trip():
    cfg = GeoModelConfig(num_cells=3, aux_heads={"country": 2}, loss_weights={"country": 0.5}, fusion="attention")
    assert GeoModelConfig.from_dict(cfg.to_dict()) == cfg
    assert cfg.loss_weight("country") == 0.5 and cfg.loss_weight("geocell") == 1.0
    with pytest.raises(ValueError, match="unknown"):
        GeoModelConfig.from_dict({"num_cells": 3, "bogus": 1})


def test_bad_input_shape(model):
    with pytest.raises(ValueError):
        model(torch.randn(2, 4, 1, 64, 64))
