"""The wiring function for ``geoloc predict --zero-shot`` and the ``zeroshot`` typer app."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from geoloc.errors import GeolocError, InputFileError
from geoloc.zeroshot.cli import app, default_cache_dir, zero_shot_predict


@pytest.fixture(scope="module")
def files(tmp_path_factory, tiny_clip, toy_cells):
    from safetensors.torch import save_file

    d = tmp_path_factory.mktemp("zs-cli")
    rng = np.random.default_rng(0)
    for i in range(2):
        Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(d / f"img{i}.png")
    (d / "broken.jpg").write_bytes(b"no jpeg")
    save_file({k: v.contiguous() for k, v in tiny_clip.model.state_dict().items()}, str(d / "clip.safetensors"))
    toy_cells.save(d / "cells.parquet")
    return d


def test_zero_shot_predict_function(files, tmp_path, monkeypatch):
    monkeypatch.setenv("GEOLOC_CACHE", str(tmp_path / "cache"))
    assert default_cache_dir() == tmp_path / "cache" / "zeroshot"
    paths = [str(files / "img0.png"), str(files / "broken.jpg"), str(files / "img1.png")]
    preds = zero_shot_predict(paths, "geoloc-tiny-vit", clip_checkpoint=files / "clip.safetensors",
                              cells=files / "cells.parquet", top_k=2)
    assert [p.ok for p in preds] == [True, False, True]
    assert len(preds[0].top_k) == 2 and preds[0].countries_text
    assert len(list(default_cache_dir().glob("zeroshot-text-*.safetensors"))) == 1
    again = zero_shot_predict(paths[:1], "geoloc-tiny-vit", clip_checkpoint=files / "clip.safetensors",
                              cells=files / "cells.parquet", top_k=2, cache=False)
    assert [t.probability for t in again[0].top_k] == pytest.approx([t.probability for t in preds[0].top_k],
                                                                    abs=1e-7)
    with pytest.raises(InputFileError, match="does not exist"):
        zero_shot_predict(paths, "geoloc-tiny-vit", clip_checkpoint=files / "nope.pt", cells=files / "cells.parquet")
    with pytest.raises(GeolocError, match="unknown open_clip"):
        zero_shot_predict(paths, "not-a-clip", cells=files / "cells.parquet", cache=False)


def test_typer_app(files, tmp_path, monkeypatch):
    monkeypatch.setenv("GEOLOC_CACHE", str(tmp_path / "cache"))
    runner = CliRunner()
    base = ["predict", "--clip", "geoloc-tiny-vit", "--clip-checkpoint", str(files / "clip.safetensors"),
            "--cells", str(files / "cells.parquet"), "--no-cache"]
    res = runner.invoke(app, [*base, str(files / "img0.png"), "--json", "-k", "3"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert len(data) == 1 and len(data[0]["top_k"]) == 3 and data[0]["countries_text"]
    res = runner.invoke(app, [*base, str(files / "img0.png"), str(files / "broken.jpg")])
    assert res.exit_code == 1
    assert "country prompts:" in res.output and "broken.jpg: error:" in res.output
    assert not (tmp_path / "cache").exists()          # --no-cache wrote nothing
    res = runner.invoke(app, ["prompts", "--cells", str(files / "cells.parquet"), "--limit", "2", "--no-towns"])
    assert res.exit_code == 0, res.output
    assert "A street view photo in the region of Ile-de-France in France." in res.output
    assert "4 countries" in res.output
    assert runner.invoke(app, ["predict", "--help"]).exit_code == 0


def test_geoloc_predict_zero_shot_option(files, tmp_path, monkeypatch):
    """``geoloc predict --zero-shot`` gives the same top cells as the wiring function."""
    from geoloc.cli import app as geoloc_app

    monkeypatch.setenv("GEOLOC_CACHE", str(tmp_path / "cache"))
    args = ["predict", str(files / "img0.png"), "--zero-shot", "geoloc-tiny-vit", "--clip-checkpoint",
            str(files / "clip.safetensors"), "--cells", str(files / "cells.parquet"), "--json", "-k", "2"]
    res = CliRunner().invoke(geoloc_app, args)
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    ref = zero_shot_predict([str(files / "img0.png")], "geoloc-tiny-vit", clip_checkpoint=files / "clip.safetensors",
                            cells=files / "cells.parquet", top_k=2, cache=False)
    assert [t["cell"] for t in data[0]["top_k"]] == [t.cell for t in ref[0].top_k]
    assert data[0]["countries_text"]


def test_calibrate_command_writes_a_fusion_that_predict_uses(files, tmp_path, monkeypatch):
    """``geoloc zeroshot calibrate`` on a held-out manifest -> a fusion file; the weights equal a direct fit
    on the same embeddings; ``--calibration`` makes the predictor use them; other cells are refused."""
    import pandas as pd

    from geoloc.zeroshot.calibrate import calibrate_embeddings
    from geoloc.zeroshot.cli import build_zero_shot
    from geoloc.zeroshot.fusion import Fusion

    monkeypatch.setenv("GEOLOC_CACHE", str(tmp_path / "cache"))
    rng = np.random.default_rng(1)
    rows = []
    for i, (lat, lon) in enumerate([(48.86, 2.35), (35.68, 139.76), (-23.55, -46.63), (-1.29, 36.82), (43.3, 5.37),
                                    (34.69, 135.5)]):
        Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(tmp_path / f"v{i}.png")
        rows.append((f"v{i}.png", lat, lon))
    pd.DataFrame(rows, columns=["path", "lat", "lon"]).to_csv(tmp_path / "val.csv", index=False)
    out = tmp_path / "cal.json"
    clip = ["--clip", "geoloc-tiny-vit", "--clip-checkpoint", str(files / "clip.safetensors"), "--cells",
            str(files / "cells.parquet")]
    res = CliRunner().invoke(app, ["calibrate", str(tmp_path / "val.csv"), "--out", str(out), *clip,
                                   "--fit", "cell,prior"])
    assert res.exit_code == 0, res.output
    assert "0 location(s) skipped" in res.output
    fitted = Fusion.load(out)
    assert fitted.fitted["n"] == 6 and fitted.fitted["fit"] == ["cell", "prior"] and fitted.admin1 == fitted.country
    zs = build_zero_shot("geoloc-tiny-vit", clip_checkpoint=files / "clip.safetensors", cells=files / "cells.parquet",
                         cache=False, progress=False)
    emb, _ = zs.embed([str(tmp_path / f"v{i}.png") for i in range(6)])
    ref, _ = calibrate_embeddings(zs, emb, np.array([r[1] for r in rows]), np.array([r[2] for r in rows]),
                                  fit=("cell", "prior"))
    np.testing.assert_allclose(fitted.weights(), ref.weights(), rtol=1e-6, atol=1e-9)
    used = build_zero_shot("geoloc-tiny-vit", clip_checkpoint=files / "clip.safetensors", cells=files / "cells.parquet",
                           calibration=out, cache=False, progress=False)
    assert used.fusion == fitted and used.config["fusion"]["note"].startswith("fitted (cell, prior)")
    other = tmp_path / "other.parquet"
    from geoloc.zeroshot import load_geocells

    cells = load_geocells(files / "cells.parquet")
    type(cells)(cells.frame.iloc[:5].copy(), cells.meta).save(other)
    with pytest.raises(GeolocError, match="calibrate again with these cells"):
        build_zero_shot("geoloc-tiny-vit", clip_checkpoint=files / "clip.safetensors", cells=other, calibration=out,
                        cache=False, progress=False)
