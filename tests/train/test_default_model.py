"""default_model_path: $GEOLOC_MODEL, shipped bundle, cache, else build (or a clear error)."""

from __future__ import annotations

import shutil

import pytest

import geoloc.default_model as dm
from geoloc.errors import BundleError


def test_resolution_order(tiny_bundle_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(dm, "SHIPPED_DIR", tmp_path / "shipped" / "synthworld-tiny")
    monkeypatch.setenv("GEOLOC_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("GEOLOC_MODEL", raising=False)
    with pytest.raises(BundleError, match="geoloc train preset synthworld-tiny"):
        dm.default_model_path(build=False)
    cached = tmp_path / "cache" / "models" / "synthworld-tiny"
    shutil.copytree(tiny_bundle_dir, cached)
    assert dm.default_model_path(build=False) == cached
    shutil.copytree(tiny_bundle_dir, dm.SHIPPED_DIR)
    assert dm.default_model_path(build=False) == dm.SHIPPED_DIR
    monkeypatch.setenv("GEOLOC_MODEL", str(tiny_bundle_dir))
    assert dm.default_model_path(build=False) == tiny_bundle_dir
    monkeypatch.setenv("GEOLOC_MODEL", str(tmp_path))
    with pytest.raises(BundleError, match="not a model bundle"):
        dm.default_model_path()


def test_builds_into_the_cache_with_the_preset(tmp_path, monkeypatch):
    calls = []

    def fake_train_preset(name, out_dir, *, progress=True, **kw):
        calls.append((name, out_dir, progress))
        return out_dir

    import geoloc.train.pipeline as pipeline

    monkeypatch.setattr(dm, "SHIPPED_DIR", tmp_path / "none")
    monkeypatch.setenv("GEOLOC_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("GEOLOC_MODEL", raising=False)
    monkeypatch.setattr(pipeline, "train_preset", fake_train_preset)
    path = dm.default_model_path(progress=False)
    assert calls == [("synthworld-tiny", tmp_path / "cache" / "models" / "synthworld-tiny", False)]
    assert path == calls[0][1]
