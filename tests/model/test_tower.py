"""Vision towers: local checkpoint round trips, embedding definitions, errors."""

from __future__ import annotations

import open_clip
import pytest
import torch
from safetensors.torch import save_file

from geoloc.errors import InputFileError
from geoloc.model import build_clip, build_vision_tower, load_state_dict_file, register_model_configs

TINY = "geoloc-tiny-vit"


def test_tiny_configs_registered():
    names = register_model_configs()
    assert TINY in names
    assert set(names) <= set(open_clip.list_models())


@pytest.mark.parametrize("fmt", ["safetensors", "pt"])
def test_checkpoint_round_trip_full_clip(tmp_path, fmt):
    torch.manual_seed(0)
    src = build_clip(TINY)
    path = tmp_path / f"ckpt.{fmt}"
    sd = {k: v.contiguous() for k, v in src.state_dict().items()}
    if fmt == "safetensors":
        save_file(sd, str(path))
    else:
        torch.save({"state_dict": {f"module.{k}": v for k, v in sd.items()}}, path)
    torch.manual_seed(1)  # a different random init that the checkpoint must overwrite
    fresh = build_vision_tower(TINY).eval()
    loaded = build_vision_tower(TINY, checkpoint=path).eval()
    ref = build_vision_tower(TINY).eval()
    ref.visual.load_state_dict(src.visual.state_dict())
    x = torch.randn(3, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(loaded(x), ref(x))
        assert not torch.allclose(fresh(x), ref(x))


def test_vision_only_checkpoint(tmp_path):
    tower = build_vision_tower(TINY).eval()
    path = tmp_path / "visual.safetensors"
    save_file({k: v.contiguous() for k, v in tower.visual.state_dict().items()}, str(path))
    other = build_vision_tower(TINY, checkpoint=path).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(tower(x), other(x))


def test_checkpoint_errors(tmp_path):
    with pytest.raises(InputFileError, match="does not exist"):
        build_vision_tower(TINY, checkpoint=tmp_path / "missing.safetensors")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a safetensors file")
    with pytest.raises(InputFileError, match="could not be read"):
        load_state_dict_file(bad)
    wrong = tmp_path / "wrong.safetensors"
    save_file({"visual.conv1.weight": torch.zeros(8, 3, 16, 16)}, str(wrong))
    with pytest.raises(InputFileError, match="does not fit"):
        build_vision_tower(TINY, checkpoint=wrong)


def test_pickled_objects_refused(tmp_path):
    import argparse

    path = tmp_path / "evil.pt"  # an arbitrary Python object: weights_only refuses to unpickle it
    torch.save({"state_dict": {"x": argparse.Namespace(a=1)}}, path)
    with pytest.raises(InputFileError):
        load_state_dict_file(path)


def test_tokens_mean_is_mean_of_ln_tokens_before_projection():
    tower = build_vision_tower(TINY).eval()
    v = tower.visual
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        h = v.transformer(v._embeds(x))
        expected = v.ln_post(h).mean(dim=1)
        assert tower.embed_dim == v.transformer.width == 128
        assert h.shape[1] == 1 + (64 // 16) ** 2
        torch.testing.assert_close(tower(x), expected)
        pre = build_vision_tower(TINY, embedding="tokens_mean_pre_ln").eval()
        pre.visual.load_state_dict(v.state_dict())
        torch.testing.assert_close(pre(x), h.mean(dim=1))


def test_pooled_embedding_is_clip_image_feature():
    torch.manual_seed(0)
    clip = build_clip(TINY).eval()
    tower = build_vision_tower(TINY, embedding="pooled").eval()
    tower.visual.load_state_dict(clip.visual.state_dict())
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(tower(x), clip.encode_image(x))
    assert tower.embed_dim == 128


def test_image_size_override_and_custom_cfg():
    tower = build_vision_tower(TINY, image_size=96)
    assert tower.image_size == 96
    assert tower(torch.randn(1, 3, 96, 96)).shape == (1, 128)
    cfg = {"embed_dim": 32, "vision_cfg": {"image_size": 32, "layers": 1, "width": 64, "head_width": 32,
                                           "patch_size": 8},
           "text_cfg": {"context_length": 16, "vocab_size": 100, "width": 32, "heads": 2, "layers": 1}}
    custom = build_vision_tower("my-custom", custom_cfg=cfg)
    assert custom(torch.randn(2, 3, 32, 32)).shape == (2, 64)


def test_resnet_tower_uses_pooled_output():
    cfg = {"embed_dim": 32, "vision_cfg": {"image_size": 64, "layers": [1, 1, 1, 1], "width": 8},
           "text_cfg": {"context_length": 16, "vocab_size": 100, "width": 32, "heads": 2, "layers": 1}}
    tower = build_vision_tower("tiny-rn", custom_cfg=cfg)
    assert not tower.is_vit and tower.embedding == "pooled"
    assert tower(torch.randn(2, 3, 64, 64)).shape == (2, tower.embed_dim) == (2, 32)


def test_unknown_architecture():
    with pytest.raises(ValueError, match="unknown open_clip architecture"):
        build_vision_tower("no-such-arch")


def test_no_misleading_random_init_warning(caplog):
    """Building a tower without a pretrained tag (weights are random or loaded next) does not log
    open_clip's "initialized randomly" warning."""
    import logging

    from geoloc.model import build_vision_tower

    with caplog.at_level(logging.WARNING):
        build_vision_tower("geoloc-tiny-vit")
    assert not any("No pretrained weights" in r.getMessage() for r in caplog.records)
