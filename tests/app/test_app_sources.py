"""The sidebar's model source switch (AppTest): a bundle folder, zero-shot CLIP from a local checkpoint, and
sources that cannot be loaded offline (one line in the sidebar, the current model stays, never a traceback)."""

from __future__ import annotations

import time

import pytest
from app_helpers import image_bytes
from streamlit.testing.v1 import AppTest

from app.cli import APP_SCRIPT
from app.modelinfo import SOURCE_CHOICES

TIMEOUT = 180


@pytest.fixture
def offline_at(tiny_bundle_dir, tmp_path, monkeypatch, offline_hub):
    """The page on the tiny bundle, offline (an empty Hugging Face cache, a Hub that refuses connections)."""
    monkeypatch.setenv("GEOLOC_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("GEOLOC_MODEL", str(tiny_bundle_dir))
    at = AppTest.from_file(str(APP_SCRIPT), default_timeout=TIMEOUT)
    at.run()
    assert not at.exception
    return at


def captions(at) -> str:
    return "\n".join(c.value for c in at.caption)


def load(at, choice: str, **fields: str) -> float:
    at.radio(key="source_choice").set_value(choice)
    at.run()
    for key, value in fields.items():
        at.text_input(key=key).input(value)
    t0 = time.perf_counter()
    at.button(key="load_model").click().run()
    assert not at.exception
    return time.perf_counter() - t0


def test_switch_to_another_bundle_folder(offline_at, tmp_path):
    from geoloc.testing import TINY_CARD, tiny_bundle

    other = tiny_bundle(tmp_path / "other", card={**TINY_CARD, "title": "other-bundle", "data": "other data"})
    assert "Model: **other-bundle**" not in captions(offline_at)
    load(offline_at, SOURCE_CHOICES[2], bundle_spec=str(other))
    assert not offline_at.error
    assert "Model: **other-bundle**" in captions(offline_at) and "Trained on: other data" in captions(offline_at)
    assert offline_at.session_state["model_spec"] == str(other.resolve())


def test_unreachable_hub_bundle_keeps_the_model_and_says_why(offline_at, tiny_bundle_dir):
    before = captions(offline_at)
    elapsed = load(offline_at, SOURCE_CHOICES[2], bundle_spec="hf-hub:geoloc-test/absent")
    errors = [e.value for e in offline_at.error]
    assert elapsed < 30 and len(errors) == 1 and "\n" not in errors[0]
    assert errors[0].startswith("Model not changed: model bundle hf-hub:geoloc-test/absent: not on this machine")
    assert "model_spec" not in offline_at.session_state and captions(offline_at) == before


def test_unreachable_zero_shot_weights_keep_the_model(offline_at):
    load(offline_at, SOURCE_CHOICES[1], zs_arch="ViT-B-32", zs_weights="openai")
    errors = [e.value for e in offline_at.error]
    assert len(errors) == 1 and "CLIP weights ViT-B-32 (pretrained 'openai')" in errors[0]
    assert "cannot be reached" in errors[0]


def test_switch_to_zero_shot_clip_and_locate_a_photo(offline_at, tiny_bundle_dir, tmp_path):
    import torch
    from safetensors.torch import save_file

    from geoloc.zeroshot import load_clip

    torch.manual_seed(0)
    clip = load_clip("geoloc-tiny-vit")
    ckpt = tmp_path / "clip.safetensors"
    save_file({k: v.contiguous() for k, v in clip.model.state_dict().items()}, str(ckpt))
    load(offline_at, SOURCE_CHOICES[1], zs_arch="geoloc-tiny-vit", zs_weights=str(ckpt), zs_cells=str(tiny_bundle_dir))
    assert not offline_at.error
    assert "Model: **zero-shot CLIP geoloc-tiny-vit" in captions(offline_at)
    assert not offline_at.warning                                     # no SynthWorld warning for zero-shot CLIP
    offline_at.file_uploader(key="uploads").set_value(("a.jpg", image_bytes(), "image/jpeg"))
    offline_at.run()
    assert not offline_at.exception and not offline_at.error
    assert "**Top-5 guesses**" in "\n".join(m.value for m in offline_at.markdown)
    offline_at.radio(key="mode").set_value("Model card").run()
    text = "\n".join(m.value for m in offline_at.markdown)
    assert "**Zero-shot fusion:** default (uncalibrated)" in text
