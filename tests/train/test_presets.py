"""Presets: JSON round trip, overrides validated, the PIGEON / PIGEOTTO numbers."""

from __future__ import annotations

import json

import pytest

from geoloc.errors import GeolocError
from geoloc.train.presets import PRESET_NAMES, TrainPreset, get_preset, preset_fields


@pytest.mark.parametrize("name", PRESET_NAMES)
def test_round_trip_json(name, tmp_path):
    p = get_preset(name)
    assert p.name == name
    p.to_json(tmp_path / "p.json")
    q = TrainPreset.from_json(tmp_path / "p.json")
    assert q == p
    assert json.loads(p.to_json()) == p.to_dict()


def test_reference_numbers():
    pigeon, pigeotto, tiny = get_preset("pigeon"), get_preset("pigeotto"), get_preset("synthworld-tiny")
    assert (pigeon.views, pigeon.tau_km, pigeon.cell_min_size, pigeon.cell_max_size) == (4, 75.0, 30, 60)
    assert (pigeon.refine_min_samples, pigeon.refine_xi, pigeon.refine_top_k, pigeon.refine_temperature,
            pigeon.refine_max_km) == (3, 0.15, 5, 1.6, 1000.0)
    assert pigeon.tower == "ViT-L-14-336" and pigeon.freeze == "all_but_last"
    assert (pigeotto.views, pigeotto.tau_km, pigeotto.cell_min_size, pigeotto.cell_max_size) == (1, 65.0, 1000, 2000)
    assert (pigeotto.refine_min_samples, pigeotto.refine_xi, pigeotto.refine_top_k, pigeotto.refine_temperature,
            pigeotto.refine_max_km) == (100, 0.1, 40, 0.6, None)
    assert tiny.tower == "geoloc-tiny-rn" and tiny.image_size == 64 and tiny.synth_scenes > 0
    assert tiny.views == 4 and tiny.train_views == 2 and tiny.target_form == "softmax"


def test_overrides_apply_and_validate():
    p = get_preset("synthworld-tiny", cells="grid", loss="onehot", views=1, pretrain_steps=0)
    assert (p.cells, p.loss, p.views, p.pretrain_steps) == ("grid", "onehot", 1, 0)
    assert p.replace(tau_km=10.0).tau_km == 10.0
    with pytest.raises(GeolocError, match=r"unknown preset field.*'tua_km'"):
        get_preset("pigeon", tua_km=10)
    with pytest.raises(GeolocError, match="cells='hex'"):
        get_preset("pigeon", cells="hex")
    with pytest.raises(GeolocError, match="tau_km"):
        get_preset("pigeon", tau_km=-1)
    with pytest.raises(GeolocError, match="views"):
        get_preset("pigeon", views=0)
    with pytest.raises(GeolocError, match="aux_heads"):
        get_preset("pigeon", aux_heads=["weather"])
    with pytest.raises(GeolocError, match="cell_min_size"):
        get_preset("pigeon", cell_min_size=100, cell_max_size=50)
    with pytest.raises(GeolocError, match="unknown preset 'pigeon2'"):
        get_preset("pigeon2")
    with pytest.raises(GeolocError, match="dreamlip"):
        get_preset("synthworld-tiny", pretrain_steps=5, pretrain_loss="dreamlip", captions_per_location=1)
    with pytest.raises(GeolocError, match="unknown preset field"):
        TrainPreset.from_dict({**get_preset("pigeon").to_dict(), "extra": 1})


def test_every_field_documented():
    doc = TrainPreset.__doc__ or ""
    missing = [f for f in preset_fields() if f not in ("name", "description") and f not in doc]
    assert not missing, missing


def test_every_preset_uses_the_normalised_log_space_targets_and_old_presets_load():
    from geoloc.train.presets import PRESET_NAMES, TrainPreset, get_preset

    assert all(get_preset(n).target_form == "softmax" for n in PRESET_NAMES)
    old = get_preset("pigeon").to_dict()
    old.pop("target_form")
    assert TrainPreset.from_dict({**old, "normalize_targets": True}).target_form == "softmax"
    assert TrainPreset.from_dict({**old, "normalize_targets": False}).target_form == "paper"
    with pytest.raises(GeolocError, match="target_form"):
        get_preset("pigeon", target_form="exp")


def test_global_batch_is_split_over_ranks():
    """Issue 18: presets state the global batch; each rank holds its share, so the recipe (and its lr)
    does not change with the GPU count."""
    import warnings

    from geoloc.train.presets import describe_batch, rank_batch

    assert rank_batch(256, 1_000_000, 8) == 32 and rank_batch(256, 1_000_000, 1) == 256
    assert rank_batch(64, 30, 1) == 30 and rank_batch(64, 30, 2) == 15      # a small data set caps it
    with pytest.warns(UserWarning, match="not a multiple of 3 ranks; using 21 per rank"):
        assert rank_batch(64, 1000, 3) == 21
    with pytest.raises(GeolocError, match="cannot fill a batch"):
        rank_batch(64, 3, 4)
    with pytest.raises(GeolocError, match="cannot fill a batch of 2"):
        rank_batch(64, 3, 2, minimum=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rank_batch(256, 10_000, 4)
    assert describe_batch(32, 8, 8) == "global batch 256 = 8 rank(s) x 32 (GradCache micro-batches of 8)"
    p = get_preset("pigeon")
    assert p.batch_size == 256 and p.pretrain_batch_size == 256 and p.pretrain_micro_batch_size == 64
    with pytest.raises(GeolocError, match="pretrain_micro_batch_size"):
        get_preset("pigeon", pretrain_micro_batch_size=512)
