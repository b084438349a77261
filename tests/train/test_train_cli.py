"""`geoloc train` commands through typer's CliRunner."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from geoloc.bundle import load_bundle
from geoloc.errors import GeolocError
from geoloc.train.cli import app, parse_sets


def test_parse_sets():
    assert parse_sets(["cells=grid", "views=1", "refine_max_km=null", "aux_heads=[\"country\"]", "tau_km=65"]) == {
        "cells": "grid", "views": 1, "refine_max_km": None, "aux_heads": ["country"], "tau_km": 65}
    with pytest.raises(GeolocError, match="FIELD=VALUE"):
        parse_sets(["cells"])


def test_presets_listing_and_json():
    r = CliRunner().invoke(app, ["presets"])
    assert r.exit_code == 0 and "pigeon:" in r.output and "synthworld-tiny:" in r.output
    r = CliRunner().invoke(app, ["presets", "pigeotto"])
    assert r.exit_code == 0 and json.loads(r.output)["tau_km"] == 65.0


def test_run_and_errors(toy_data, tmp_path):
    out = tmp_path / "b"
    r = CliRunner().invoke(app, ["run", "--manifest", str(toy_data["train"]), "--out", str(out), "--quiet",
                                 "--set", "cells=grid", "--set", "grid_deg=60", "--set", "finetune_steps=2",
                                 "--set", "batch_size=8", "--set", "refine=false", "--set", "warmup_steps=0"])
    assert r.exit_code == 0, r.output
    card = load_bundle(out).config["card"]
    assert card["preset"]["finetune_steps"] == 2 and card["training_command"].startswith("geoloc train")
    r = CliRunner().invoke(app, ["run", "--manifest", str(toy_data["train"]), "--out", str(out), "--set", "celss=1"])
    assert r.exit_code != 0 and "unknown preset field" in str(r.exception)
    r = CliRunner().invoke(app, ["preset", "pigeon", "--out", str(tmp_path / "p")])
    assert r.exit_code != 0 and "pass a training manifest" in str(r.exception)


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="checks the machine without usable CUDA")
def test_device_cuda_without_cuda_is_one_line(toy_data, tmp_path, monkeypatch, capsys):
    """Issue 18: `--device cuda` where CUDA is not usable exits 1 with one line, before any work
    (the entry point torchrun runs: python -m geoloc.train.cli)."""
    import sys

    from geoloc.train.cli import main

    monkeypatch.setattr(sys, "argv", ["geoloc.train.cli", "run", "--manifest", str(toy_data["train"]),
                                      "--out", str(tmp_path / "b"), "--device", "cuda", "--quiet"])
    with pytest.raises(SystemExit) as info:
        main()
    assert info.value.code == 1
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and "CUDA is not usable" in lines[0], lines
    assert not (tmp_path / "b").exists()


def test_tower_and_pretrained_flags_reach_the_preset(toy_data, tmp_path, monkeypatch):
    """Issue 13's recipe spelling: `--tower` / `--pretrained` are the preset fields, and win over --set."""
    import geoloc.train.pipeline as pipeline

    seen = {}

    def fake_train_bundle(manifest, out, preset, **kw):
        seen["preset"] = preset
        return out

    monkeypatch.setattr(pipeline, "train_bundle", fake_train_bundle)
    r = CliRunner().invoke(app, ["run", "--preset", "pigeotto", "--manifest", str(toy_data["train"]), "--out",
                                 str(tmp_path / "b"), "--tower", "ViT-L-14", "--pretrained", "openai",
                                 "--set", "tower=RN50", "--quiet"])
    assert r.exit_code == 0, r.output
    p = seen["preset"]
    assert (p.name, p.tower, p.pretrained, p.tau_km) == ("pigeotto", "ViT-L-14", "openai", 65.0)
    r = CliRunner().invoke(app, ["run", "--preset", "pigeotto", "--manifest", str(toy_data["train"]), "--out",
                                 str(tmp_path / "b"), "--quiet"])
    assert r.exit_code == 0 and seen["preset"].tower == "ViT-L-14-336" and seen["preset"].pretrained is None
