"""Caption and label facts for plain ``path,lat,lon`` manifests (issue: captions were one constant
string), PIGEOTTO's own OPTICS parameters, and the caption-diversity guard."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from geoloc.errors import GeolocError
from geoloc.train.metadata import caption_diversity, derive_metadata, months_from_dates

PLACES = pd.DataFrame({"lat": [48.8566, -33.8688, 35.6762, -1.2921], "lon": [2.3522, 151.2093, 139.6503, 36.8219]})


def test_facts_come_from_the_projects_geography():
    out, report = derive_metadata(PLACES.copy(), read_exif=False)
    assert out["country"].tolist() == ["France", "Australia", "Japan", "Kenya"]
    assert out["adm0_a3"].tolist() == ["FRA", "AUS", "JPN", "KEN"]
    assert out["admin1"][1] == "New South Wales" and out["town"][0] == "Paris"
    assert out["drives_left"].tolist() == [False, True, True, True]
    assert set(out["continent"]) >= {"Europe", "Oceania", "Asia", "Africa"}
    assert out["climate"].notna().all() and set(report.derived) >= {"country", "town", "climate"}
    assert "month" not in out.columns and report.month_source is None


def test_existing_columns_are_kept_and_blanks_filled():
    frame = PLACES.copy()
    frame["country"] = ["Frankreich", "", None, "Kenia"]
    out, _ = derive_metadata(frame, read_exif=False)
    assert out["country"].tolist() == ["Frankreich", "Australia", "Japan", "Kenia"]


def test_month_from_a_date_column_in_several_formats():
    assert months_from_dates(pd.Series(["2021-07-04", "2019:12:31 23:59:00", "bad", None])).tolist()[:2] == [7, 12]
    assert np.isnan(months_from_dates(pd.Series(["bad"]))[0])
    assert months_from_dates(pd.Series([0, 86400 * 40])).tolist() == [1, 2]  # Unix seconds
    frame = PLACES.copy()
    frame["date_taken"] = ["2020-03-01", "2020-11-30", "garbage", "2020-06-15T10:00:00"]
    out, report = derive_metadata(frame, read_exif=False)
    assert report.month_source == "date column 'date_taken'" and report.months_found == 3
    assert out["month"].tolist()[:2] == [3, 11] and np.isnan(out["month"][2])


def test_month_from_exif_date_time_original(tmp_path):
    paths = []
    for i, stamp in enumerate(["2018:05:02 10:00:00", None]):
        img = Image.new("RGB", (8, 8))
        exif = Image.Exif()
        if stamp:
            exif.get_ifd(0x8769)[36867] = stamp
        p = tmp_path / f"{i}.jpg"
        img.save(p, exif=exif)
        paths.append((str(p),))
    frame = PLACES.iloc[:2].copy()
    frame["paths"] = paths
    out, report = derive_metadata(frame)
    assert report.month_source == "exif" and report.months_found == 1
    assert out["month"][0] == 5 and np.isnan(out["month"][1])


def test_plain_manifest_gives_informative_captions_and_aux_labels(tmp_path):
    """A path,lat,lon manifest: captions differ by place, and the aux heads get labels."""
    from geoloc.geo import sample_photo_locations
    from geoloc.train.captions import location_captions
    from geoloc.train.data import build_vocab, encode_labels

    lat, lon = sample_photo_locations(200, seed=3)
    frame, _ = derive_metadata(pd.DataFrame({"lat": lat, "lon": lon}), read_exif=False)
    caps = [location_captions(row, 1, seed=0, index=i)[0] for i, row in enumerate(frame.to_dict("records"))]
    assert caption_diversity(caps) > 0.8
    assert "A street view photo close to the town of" in caps[0]
    for task in ("country", "admin1", "climate"):
        vocab = build_vocab(frame, task)
        assert vocab and len(vocab) > 3 and (encode_labels(frame, task, vocab) >= 0).mean() > 0.95


def test_constant_captions_warn_and_strict_refuses():
    from geoloc.train.pretrain import check_caption_diversity

    same = ["A street view photo."] * 50
    with pytest.warns(UserWarning, match="distinct"):
        assert check_caption_diversity(same) == pytest.approx(1 / 50)
    with pytest.raises(GeolocError, match="distinct"):
        check_caption_diversity(same, strict=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_caption_diversity([f"caption {i}" for i in range(50)], strict=True)


def test_pigeotto_builds_cells_with_its_own_optics_parameters(monkeypatch):
    import geoloc.cells
    from geoloc.cells.partition import OPTICS_PARAMS_PIGEON, OPTICS_PARAMS_YFCC
    from geoloc.train.pipeline import build_cells
    from geoloc.train.presets import get_preset

    seen = []

    def fake_build(lat, lon, **kw):
        seen.append(kw["optics_params"])
        raise RuntimeError("stop")

    monkeypatch.setattr(geoloc.cells, "build_geocells", fake_build)
    for name in ("pigeotto", "pigeon"):
        with pytest.raises(RuntimeError, match="stop"):
            build_cells(get_preset(name), np.zeros(3), np.zeros(3), progress=False)
    assert seen == [OPTICS_PARAMS_YFCC, OPTICS_PARAMS_PIGEON]


def test_pretraining_a_plain_manifest_uses_derived_captions(tmp_path):
    """End to end through the CLI's loading path: a manifest with only path, lat, lon."""
    from geoloc.model import GeoModel, GeoModelConfig
    from geoloc.train.data import LocationImages, load_locations
    from geoloc.train.embed import model_transform
    from geoloc.train.pretrain import CaptionedViews

    rows = []
    for i, (la, lo) in enumerate(PLACES.itertuples(index=False)):
        Image.new("RGB", (32, 32), (i * 50, 80, 120)).save(tmp_path / f"{i}.png")
        rows.append({"path": f"{i}.png", "lat": la, "lon": lo})
    pd.DataFrame(rows).to_csv(tmp_path / "m.csv", index=False)
    locs = load_locations(tmp_path / "m.csv")
    locs.frame, _ = derive_metadata(locs.frame)
    images = LocationImages(locs, model_transform(GeoModel(GeoModelConfig(num_cells=1))), progress=False)
    ds = CaptionedViews(images, lambda texts: torch.zeros(len(texts), 4, dtype=torch.long))
    caps = [c[0] for c in ds.captions]
    assert caption_diversity(caps) == 1.0
    assert any("Paris" in c and "France" in c for c in caps) and any("Kenya" in c for c in caps)


def test_a_manifests_own_country_labels_are_not_mixed_with_derived_codes():
    frame = PLACES.copy()
    frame["country"] = ["EAST", None, "EAST", "WEST"]
    out, _ = derive_metadata(frame, read_exif=False)
    # the manifest's column is completed, no competing adm0_a3 column appears
    assert out["country"].tolist() == ["EAST", "Australia", "EAST", "WEST"]
    assert "adm0_a3" not in out.columns and out["admin1"][1] == "New South Wales"


def test_caption_diversity_counts_places_not_images():
    """Four views (and several captions) of one place count once: 100 places in 25 towns, 4 views each,
    is 25 % distinct per place, not 6 % per image; one sentence for everything stays 1/N."""
    from geoloc.train.pretrain import check_caption_diversity

    caps = [f"close to town {i // 4}" for i in range(100) for _view in range(4)]
    assert caption_diversity(caps) == pytest.approx(25 / 400)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert check_caption_diversity(caps, places=100, strict=True) == pytest.approx(0.25)
    with pytest.raises(GeolocError, match="1 distinct pretraining captions for 100 places"):
        check_caption_diversity(["A street view photo."] * 400, places=100, strict=True)
    assert caption_diversity(["a", "b"], places=1) == 1.0
