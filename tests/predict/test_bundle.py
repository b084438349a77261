"""Bundle save/load: exact round trip, and a clear BundleError for every kind of damage."""

from __future__ import annotations

import json
import re
import shutil

import pytest
import torch

from geoloc.bundle import MANIFEST, SCHEMA, load_bundle, save_bundle, validate_config
from geoloc.errors import BundleError, GeolocError
from geoloc.integrity import sha256_file

from .conftest import CARD


@pytest.fixture
def copy(bundle_dir, tmp_path):
    dst = tmp_path / "b"
    shutil.copytree(bundle_dir, dst)
    return dst


def _resign(path, name):
    """Record a deliberately changed file in the manifest so that only the later checks can fail."""
    man = json.loads((path / MANIFEST).read_text())
    man["files"][name] = {"sha256": sha256_file(path / name), "bytes": (path / name).stat().st_size}
    (path / MANIFEST).write_text(json.dumps(man))


def _rewrite_config(path, edit):
    cfg = json.loads((path / "config.json").read_text())
    edit(cfg)
    (path / "config.json").write_text(json.dumps(cfg))
    _resign(path, "config.json")


def test_round_trip_weights_cells_prototypes(parts, bundle_dir):
    b = load_bundle(bundle_dir)
    src = parts["model"].state_dict()
    dst = b.model.state_dict()
    assert src.keys() == dst.keys()
    for k in src:
        assert torch.equal(src[k], dst[k]), k
    assert b.geocells.equals(parts["geocells"])
    for k in ("embeddings", "member_coords", "cell_offsets"):
        assert (getattr(b.prototypes, k) == getattr(parts["prototypes"], k)).all()
    assert b.config["schema"] == SCHEMA
    assert b.config["heads"] == {"geocell": len(parts["geocells"]), "climate": 5}
    assert b.content_hash == sha256_file(bundle_dir / MANIFEST)
    assert "pytest tests/predict" in b.card and CARD["data"] in b.card
    files = json.loads((bundle_dir / MANIFEST).read_text())["files"]
    assert set(files) == {"config.json", "model.safetensors", "geocells.parquet", "README.md",
                          "prototypes.safetensors", "prototypes.json"}
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(parts["model"](x)["geocell"], b.model(x)["geocell"])


def test_truncated_weights(copy):
    w = copy / "model.safetensors"
    w.write_bytes(w.read_bytes()[:-100])
    with pytest.raises(BundleError, match=r"model\.safetensors.*truncated"):
        load_bundle(copy)


@pytest.mark.parametrize("name", ["model.safetensors", "geocells.parquet", "prototypes.safetensors", "README.md"])
def test_altered_byte(copy, name):
    f = copy / name
    raw = bytearray(f.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    f.write_bytes(bytes(raw))
    with pytest.raises(BundleError, match=re.escape(name) + ".*SHA-256"):
        load_bundle(copy)


def test_missing_file_and_manifest(copy):
    (copy / "geocells.parquet").unlink()
    with pytest.raises(BundleError, match=r"geocells\.parquet is missing"):
        load_bundle(copy)
    (copy / MANIFEST).unlink()
    with pytest.raises(BundleError, match=r"manifest\.json is missing"):
        load_bundle(copy)
    with pytest.raises(BundleError, match="no model bundle"):
        load_bundle(copy / "nope")


def test_wrong_schema_version(copy):
    _rewrite_config(copy, lambda c: c.update(schema="geoloc-bundle/99"))
    with pytest.raises(BundleError, match=r"config\.json: unknown bundle schema 'geoloc-bundle/99'"):
        load_bundle(copy)


@pytest.mark.parametrize("edit, message", [
    (lambda c: c.pop("preprocessing"), "missing field 'preprocessing'"),
    (lambda c: c.update(image_size="64"), "'image_size' must be int, got str"),
    (lambda c: c["refine"].update(top_k=2.5), "'refine.top_k' must be int"),
    (lambda c: c["geocells"].pop("id"), "missing field 'geocells.id'"),
    (lambda c: c["heads"].update(geocell=3), "geocell head has 3 classes"),
    (lambda c: c["model"].update(bogus=1), "not a valid GeoModelConfig"),
    (lambda c: c.update(views=True), "'views' must be int, got bool"),
])
def test_bad_config_fields(copy, edit, message):
    _rewrite_config(copy, edit)
    with pytest.raises(BundleError, match=message):
        load_bundle(copy)


def test_config_not_json(copy):
    (copy / "config.json").write_text("{")
    with pytest.raises(BundleError, match=r"config\.json"):
        load_bundle(copy)


def test_validate_config_accepts_saved(bundle_dir):
    cfg = json.loads((bundle_dir / "config.json").read_text())
    assert validate_config(cfg) is cfg


def test_save_guards(parts, bundle_dir, tmp_path):
    kw = dict(model=parts["model"], geocells=parts["geocells"], card=CARD)
    with pytest.raises(GeolocError, match="already exists"):
        save_bundle(bundle_dir, **kw)
    with pytest.raises(GeolocError, match="training_command"):
        save_bundle(tmp_path / "x", model=parts["model"], geocells=parts["geocells"], card={"data": "d"})
    with pytest.raises(GeolocError, match="metrics_command"):
        save_bundle(tmp_path / "x", model=parts["model"], geocells=parts["geocells"],
                    card={"data": "d", "training_command": "t", "metrics": {"a": 1}})
    other = parts["config"].to_dict() | {"dropout": 0.5}
    with pytest.raises(GeolocError, match="does not match"):
        save_bundle(tmp_path / "x", config=other, **kw)
    assert not (tmp_path / "x").exists()
    # overwrite replaces the folder and gives the same content except the creation time
    h = save_bundle(tmp_path / "y", **kw)
    assert h == sha256_file(tmp_path / "y" / MANIFEST)
    save_bundle(tmp_path / "y", overwrite=True, **kw)
    assert load_bundle(tmp_path / "y").prototypes is None


def test_other_geocell_set_refused(parts, copy):
    from geoloc.cells.geocell_set import GeocellSet

    frame = parts["geocells"].frame.copy()
    frame.loc[0, "name"] = frame.loc[0, "name"] + " (renamed)"
    GeocellSet(frame, parts["geocells"].meta).save(copy / "geocells.parquet")
    _resign(copy, "geocells.parquet")
    with pytest.raises(BundleError, match=r"geocells\.parquet is not the geocell set"):
        load_bundle(copy)


def test_weights_that_do_not_fit_the_config(copy):
    def edit(c):
        c["model"]["aux_heads"] = {"climate": 7}
        c["heads"]["climate"] = 7

    _rewrite_config(copy, edit)
    with pytest.raises(BundleError, match=r"model\.safetensors could not be loaded"):
        load_bundle(copy)


def test_record_evaluation_keeps_the_bundle_verifiable(copy):
    from geoloc.bundle import record_evaluation, verify_bundle

    weights = sha256_file(copy / "model.safetensors")
    before = load_bundle(copy)
    h1 = record_evaluation(copy, "fresh seed", metrics={"locations": 10, "median_km": 123.45678},
                           command="geoloc eval m.csv --record 'fresh seed'", data="10 new locations")
    assert verify_bundle(copy)[1] == h1
    b = load_bundle(copy)
    ev = b.config["card"]["evaluations"]["fresh seed"]
    assert ev == {"data": "10 new locations", "metrics": {"locations": 10, "median_km": 123.4568},
                  "command": "geoloc eval m.csv --record 'fresh seed'"}
    assert "## Evaluation: fresh seed" in b.card and "| median_km | 123.4568 |" in b.card
    # weights, cells and the rest of the card are untouched; a second record is added, a rerun replaces
    assert sha256_file(copy / "model.safetensors") == weights
    assert b.config["card"]["training_command"] == before.config["card"]["training_command"]
    record_evaluation(copy, "other", metrics={"median_km": 1.0}, command="c", data="d")
    record_evaluation(copy, "fresh seed", metrics={"median_km": 2.0}, command="c2", data="d2")
    evs = load_bundle(copy).config["card"]["evaluations"]
    assert list(evs) == ["fresh seed", "other"] and evs["fresh seed"]["metrics"] == {"median_km": 2.0}
    # a damaged bundle is refused before anything is written; empty fields are refused
    with pytest.raises(GeolocError, match="command"):
        record_evaluation(copy, "x", metrics={}, command=" ", data="d")
    (copy / "prototypes.json").write_text("{}")
    with pytest.raises(BundleError, match=r"prototypes\.json"):
        record_evaluation(copy, "x", metrics={}, command="c", data="d")
