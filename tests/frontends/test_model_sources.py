"""The three model sources in every front end (geoloc.sources): bundle folders, ``hf-hub:`` bundles from the
Hugging Face cache, zero-shot CLIP; and offline, weights that are not on disk fail within seconds in one line.

"Offline" here is a Hub endpoint on a closed loopback port (connections are refused at once) and an empty
Hugging Face cache in a temporary folder; a published bundle is a cache folder written the way
``huggingface_hub`` writes one (:func:`geoloc.testing.fake_hub_repo`).
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from geoloc.cli import main
from geoloc.errors import BundleError, GeolocError
from geoloc.hub import OfflineError
from geoloc.sources import ModelSource
from geoloc.testing import fake_hub_repo

ABSENT = "hf-hub:geoloc-test/absent-bundle"
FAST_S = 30.0  # far below a network timeout; the probe gives up after 3 s, the rest is CPU time on a loaded machine


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """Two images, a manifest of them, and a random tiny full-CLIP checkpoint."""
    import torch
    from safetensors.torch import save_file

    from geoloc.zeroshot import load_clip

    d = tmp_path_factory.mktemp("sources")
    rng = np.random.default_rng(0)
    for i in range(2):
        Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(d / f"img{i}.png")
    pd.DataFrame({"path": ["img0.png", "img1.png"], "lat": [48.8, 35.7], "lon": [2.3, 139.7]}).to_csv(
        d / "m.csv", index=False)
    torch.manual_seed(0)
    clip = load_clip("geoloc-tiny-vit")
    save_file({k: v.contiguous() for k, v in clip.model.state_dict().items()}, str(d / "clip.safetensors"))
    return d


def publish(cache, bundle_dir, repo="geoloc-test/tiny"):
    """``bundle_dir`` as the Hub cache holds it after ``hf download REPO``."""
    files = {p.name: p for p in bundle_dir.iterdir() if p.is_file()}
    return fake_hub_repo(cache, repo, files)


# --------------------------------------------------------------------------- parsing


@pytest.mark.parametrize("spec", [
    "bundles/m", "hf-hub:org/name", "hf-hub:org/name@v1.0",
    "zero-shot:ViT-B-32@openai", "zero-shot:ViT-B-32@openai;cells=bundles/m;calibration=cal.json",
    "zero-shot:geoloc-tiny-vit@run/clip.safetensors;prior=cells", "zero-shot:hf-hub:org/clip",
])
def test_spec_round_trip(spec):
    src = ModelSource.parse(spec)
    assert src.spec == spec and ModelSource.parse(src.spec) == src


def test_spec_fields_and_options():
    src = ModelSource.parse("zero-shot:geoloc-tiny-vit@run/clip.safetensors;cells=c.parquet")
    assert (src.kind, src.name, src.pretrained, src.checkpoint, src.cells) == (
        "zero-shot", "geoloc-tiny-vit", None, "run/clip.safetensors", "c.parquet")
    assert ModelSource.parse("zero-shot:ViT-B-32@openai").pretrained == "openai"
    # a --model bundle given with --zero-shot supplies the geocells
    assert ModelSource.from_options("b/m", zero_shot="ViT-B-32", pretrained="openai").cells == "b/m"
    assert ModelSource.from_options(None) == ModelSource()
    with pytest.raises(GeolocError, match="need --zero-shot"):
        ModelSource.from_options("b/m", pretrained="openai")
    with pytest.raises(GeolocError, match="not both"):
        ModelSource.from_options(None, zero_shot="ViT-B-32", pretrained="openai", clip_checkpoint="x.pt")
    with pytest.raises(GeolocError, match="hf-hub:ORG/NAME"):
        ModelSource.parse("hf-hub:no-slash")
    with pytest.raises(GeolocError, match="unknown zero-shot option"):
        ModelSource.parse("zero-shot:ViT-B-32;colour=red")


def test_environment_spec_is_any_source(monkeypatch):
    from geoloc.sources import default_source

    monkeypatch.setenv("GEOLOC_MODEL", "zero-shot:ViT-B-32@openai")
    assert default_source().kind == "zero-shot"
    monkeypatch.setenv("GEOLOC_MODEL", "hf-hub:org/name")
    assert default_source() == ModelSource(kind="hub", name="hf-hub:org/name")


# --------------------------------------------------------------------------- hf-hub bundles


def test_hub_bundle_loads_from_the_cache_offline_and_predicts_as_the_folder(offline_hub, tiny_bundle_dir, inputs):
    from geoloc.predict import Geolocator

    publish(offline_hub, tiny_bundle_dir)
    t0 = time.perf_counter()
    hub_geo = Geolocator.from_pretrained("hf-hub:geoloc-test/tiny", device="cpu")
    assert time.perf_counter() - t0 < 60
    folder_geo = Geolocator.from_pretrained(tiny_bundle_dir, device="cpu")
    a, b = (g.predict(str(inputs / "img0.png"), places=False)[0] for g in (hub_geo, folder_geo))
    assert [t.cell for t in a.top_k] == [t.cell for t in b.top_k]
    np.testing.assert_allclose([t.probability for t in a.top_k], [t.probability for t in b.top_k], rtol=1e-6)


def test_hub_bundle_revision_and_a_damaged_cache(offline_hub, tiny_bundle_dir):
    from geoloc.sources import hub_bundle_path

    snap = publish(offline_hub, tiny_bundle_dir)
    assert hub_bundle_path("hf-hub:geoloc-test/tiny@main") == snap
    with pytest.raises(OfflineError, match="cannot be reached"):          # another revision is not cached
        hub_bundle_path("hf-hub:geoloc-test/tiny@v2")
    blob = (snap / "config.json").resolve()
    blob.write_bytes(blob.read_bytes().replace(b"{", b"{ ", 1))           # altered after the download
    with pytest.raises(BundleError, match="cached copy is damaged") as ex:
        hub_bundle_path("hf-hub:geoloc-test/tiny")
    assert "\n" not in str(ex.value) and "config.json" in str(ex.value)


def test_a_clip_repository_is_not_a_bundle(offline_hub):
    from geoloc.sources import hub_bundle_path

    fake_hub_repo(offline_hub, "geoloc-test/clip", {"open_clip_config.json": b"{}", "README.md": b"x"})
    with pytest.raises(BundleError, match="use --zero-shot hf-hub:geoloc-test/clip"):
        hub_bundle_path("hf-hub:geoloc-test/clip")


def test_unreachable_probe_gives_up_on_a_hanging_resolver(monkeypatch):
    import socket

    from geoloc.hub import unreachable

    def hanging_resolver(*args, **kwargs):
        time.sleep(3)
        raise OSError("resolver gave up")

    monkeypatch.setattr(socket, "getaddrinfo", hanging_resolver)
    t0 = time.perf_counter()
    reason = unreachable("https://huggingface.co/x", timeout=0.5)
    assert time.perf_counter() - t0 < 2 and "no answer from huggingface.co:443 within 0.5 s" == reason


# --------------------------------------------------------------------------- every front end, offline


def run_cli(argv, capsys) -> tuple[int, str, float]:
    t0 = time.perf_counter()
    with pytest.raises(SystemExit) as ex:
        main(argv)
    return ex.value.code or 0, capsys.readouterr().err, time.perf_counter() - t0


def front_ends(inputs, tmp_path, model_args):
    return {
        "predict": ["predict", str(inputs / "img0.png"), *model_args],
        "eval": ["eval", str(inputs / "m.csv"), *model_args, "--out", str(tmp_path / "report")],
        "serve": ["serve", "--port", "0", *model_args],
        "app": ["app", "--port", "8599", *model_args],
        "bot play": ["bot", "play", "--site", "arena", "--url", "http://127.0.0.1:9/", "--headless", *model_args],
        "bot serve-model": ["bot", "serve-model", "--port", "0", *model_args],
    }


@pytest.mark.parametrize("front_end", ["predict", "eval", "serve", "app", "bot play", "bot serve-model"])
def test_every_front_end_fails_fast_offline_for_a_hub_bundle(front_end, offline_hub, inputs, tmp_path, capsys):
    code, err, elapsed = run_cli(front_ends(inputs, tmp_path, ["--model", ABSENT])[front_end], capsys)
    lines = err.strip().splitlines()
    assert code == 1 and elapsed < FAST_S and len(lines) == 1, err
    assert lines[0].startswith("error: model bundle hf-hub:geoloc-test/absent-bundle: not on this machine")
    assert "hf download geoloc-test/absent-bundle" in lines[0] and str(offline_hub) in lines[0]


@pytest.mark.parametrize("front_end", ["predict", "eval", "serve", "app", "bot play", "bot serve-model"])
def test_every_front_end_fails_fast_offline_for_zero_shot_weights(front_end, offline_hub, inputs, tmp_path, capsys):
    code, err, elapsed = run_cli(front_ends(inputs, tmp_path, ["--zero-shot", "ViT-B-32", "--pretrained",
                                                                "openai"])[front_end], capsys)
    lines = err.strip().splitlines()
    assert code == 1 and elapsed < FAST_S and len(lines) == 1, err
    assert "CLIP weights ViT-B-32 (pretrained 'openai')" in lines[0] and "cannot be reached" in lines[0]
    assert "hf download timm/" in lines[0]


def test_from_pretrained_fails_fast_offline(offline_hub):
    from geoloc.predict import Geolocator

    for spec in (ABSENT, "zero-shot:ViT-B-32@openai"):
        t0 = time.perf_counter()
        with pytest.raises(OfflineError) as ex:
            Geolocator.from_pretrained(spec)
        assert time.perf_counter() - t0 < FAST_S and "\n" not in str(ex.value)


def test_hub_offline_forced_needs_no_probe(offline_hub, monkeypatch):
    """HF_HUB_OFFLINE=1: not even a connection attempt."""
    import socket

    from huggingface_hub import constants

    from geoloc.sources import hub_bundle_path

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: pytest.fail("probed the network"))
    with pytest.raises(OfflineError, match="HF_HUB_OFFLINE is set"):
        hub_bundle_path(ABSENT)


# --------------------------------------------------------------------------- zero-shot through the front ends


def test_predict_and_eval_with_a_local_zero_shot_clip(inputs, tiny_bundle_dir, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("GEOLOC_CACHE", str(tmp_path / "cache"))
    zs = ["--zero-shot", "geoloc-tiny-vit", "--clip-checkpoint", str(inputs / "clip.safetensors"), "--cells",
          str(tiny_bundle_dir)]
    code, _, _ = run_cli(["predict", str(inputs / "img0.png"), *zs, "--json"], capsys)
    assert code == 0
    code, _, _ = run_cli(["eval", str(inputs / "m.csv"), *zs, "--out", str(tmp_path / "r")], capsys)
    assert code == 0 and (tmp_path / "r").is_dir()


def test_bot_predictor_takes_every_source(inputs, tiny_bundle_dir, tmp_path, monkeypatch):
    from bot.predictor import GeolocatorPredictor

    monkeypatch.setenv("GEOLOC_CACHE", str(tmp_path / "cache"))
    views = [Image.open(inputs / "img0.png").convert("RGB")]
    folder = GeolocatorPredictor(str(tiny_bundle_dir), device="cpu")
    zs = GeolocatorPredictor(ModelSource(kind="zero-shot", name="geoloc-tiny-vit",
                                         checkpoint=str(inputs / "clip.safetensors"), cells=str(tiny_bundle_dir)),
                             device="cpu")
    for p in (folder, zs):
        g = p.predict(views)
        assert -90 <= g.lat <= 90 and -180 <= g.lng <= 180
    assert zs.name == "geolocator:zero-shot CLIP geoloc-tiny-vit (clip.safetensors)"


def test_training_with_pretrained_weights_fails_fast_offline(offline_hub, inputs, tmp_path, capsys):
    """The recipe's `--set pretrained=openai` goes through the same fail-fast download as zero-shot."""
    code, err, elapsed = run_cli(["train", "pretrain", "--manifest", str(inputs / "m.csv"), "--out",
                                  str(tmp_path / "pre"), "--preset", "pigeotto", "--set", "tower=ViT-B-32",
                                  "--set", "image_size=224", "--set", "pretrained=openai", "--steps", "1",
                                  "--quiet"], capsys)
    lines = err.strip().splitlines()
    assert code == 1 and elapsed < 60 and len(lines) == 1, err
    assert "CLIP weights ViT-B-32 (pretrained 'openai')" in lines[0] and "cannot be reached" in lines[0]
