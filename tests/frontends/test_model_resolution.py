"""One resolver for every front end: ``--model`` when given, else the default bundle."""

from __future__ import annotations

import pytest

from geoloc.default_model import resolve_model_path
from geoloc.errors import BundleError


def test_explicit_folder_wins_over_the_environment(tiny_bundle_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("GEOLOC_MODEL", str(tmp_path / "elsewhere"))
    assert resolve_model_path(str(tiny_bundle_dir)) == tiny_bundle_dir


def test_no_explicit_folder_uses_the_default_resolution(tiny_bundle_dir, monkeypatch):
    monkeypatch.setenv("GEOLOC_MODEL", str(tiny_bundle_dir))
    assert resolve_model_path(None) == tiny_bundle_dir


def test_missing_explicit_folder_is_one_line_error(tmp_path):
    with pytest.raises(BundleError, match="no such bundle folder"):
        resolve_model_path(str(tmp_path / "nope"))
