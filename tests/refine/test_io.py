"""Prototype save/load: exact round trip, refusal of altered/truncated/missing files."""

from __future__ import annotations

import json

import numpy as np
import pytest

from geoloc.errors import BundleError
from geoloc.refine import build_prototypes, load_prototypes, save_prototypes
from geoloc.refine.io import ARRAYS


@pytest.fixture
def protos():
    rng = np.random.default_rng(0)
    n = 200
    cell = rng.integers(0, 6, n)
    lat = cell * 5.0 + rng.normal(0, 0.2, n)
    lon = rng.normal(0, 0.2, n)
    return build_prototypes(cell, lat, lon, rng.normal(size=(n, 4)), 7, progress=False,
                            member_dtype=np.float16)


def test_round_trip(tmp_path, protos):
    js = save_prototypes(protos, tmp_path / "bundle")
    back = load_prototypes(tmp_path / "bundle")
    for k in ARRAYS:
        a, b = getattr(protos, k), getattr(back, k)
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    assert back.params == protos.params
    assert json.loads(js.read_text())["num_prototypes"] == protos.num_prototypes


def test_altered_truncated_missing(tmp_path, protos):
    save_prototypes(protos, tmp_path)
    st = tmp_path / "prototypes.safetensors"
    raw = bytearray(st.read_bytes())
    raw[-1] ^= 0xFF
    st.write_bytes(bytes(raw))
    with pytest.raises(BundleError, match="SHA-256"):
        load_prototypes(tmp_path)
    st.write_bytes(bytes(raw[: len(raw) // 2]))
    with pytest.raises(BundleError, match="could not be read"):
        load_prototypes(tmp_path, verify_hash=False)
    st.unlink()
    with pytest.raises(BundleError, match="missing"):
        load_prototypes(tmp_path)


def test_wrong_version(tmp_path, protos):
    js = save_prototypes(protos, tmp_path)
    meta = json.loads(js.read_text())
    meta["version"] = 99
    js.write_text(json.dumps(meta))
    with pytest.raises(BundleError, match="version"):
        load_prototypes(tmp_path)
