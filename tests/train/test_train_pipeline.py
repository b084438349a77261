"""train_bundle end to end on a toy manifest: loss falls, bundle verifies, Geolocator predicts."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from geoloc.bundle import load_bundle, verify_bundle
from geoloc.errors import GeolocError, InputFileError
from geoloc.predict import Geolocator
from geoloc.train.pipeline import train_bundle

FAST = dict(cells="grid", grid_deg=45.0, finetune_steps=30, batch_size=16, warmup_steps=2, lr=2e-3,
            checkpoint_every=1000, eval_batch_size=64)


def _losses(work):
    rows = [json.loads(line) for line in (work / "finetune" / "metrics.jsonl").read_text().splitlines()]
    return [r["loss"] for r in rows]


def test_train_bundle_end_to_end(toy_data, tmp_path):
    out = tmp_path / "bundle"
    path = train_bundle(toy_data["train"], out, "synthworld-tiny", progress=False, eval_manifest=toy_data["test"],
                        work_dir=tmp_path / "work", keep_work=True, command="pytest toy", **FAST)
    assert path == out
    verify_bundle(out)
    b = load_bundle(out)
    card = b.config["card"]
    assert card["training_command"] == "pytest toy"
    assert card["preset"]["cells"] == "grid" and b.config["views"] == 4
    assert set(card["aux_labels"]) == {"country", "climate"}
    assert card["aux_labels"]["country"] == ["EAST", "WEST"]
    assert b.prototypes is not None and b.prototypes.num_prototypes > 0
    assert card["metrics"]["held-out locations"] == 24
    losses = _losses(tmp_path / "work")
    assert np.mean(losses[-2:]) < losses[0]
    geo = Geolocator.from_pretrained(out, device="cpu")
    test = pd.read_csv(toy_data["test"])
    views = [str(toy_data["test"].parent / p) for p in test[test["id"] == "loc0000"].sort_values("view")["path"]]
    pred = geo.predict([views], places=False)[0]
    assert pred.ok and np.isfinite(pred.lat) and pred.refined is not None


def test_bad_rows_are_counted_and_empty_manifest_refused(toy_data, tmp_path):
    df = pd.read_csv(toy_data["train"])
    df["path"] = [str(toy_data["train"].parent / p) for p in df["path"]]
    df.loc[df["id"] == "loc0003", "lat"] = np.nan          # 4 rows with NaN coordinates
    out = train_bundle(df, tmp_path / "b", "synthworld-tiny", progress=False, refine=False,
                       command="pytest", **{**FAST, "finetune_steps": 2})
    card = load_bundle(out).config["card"]
    assert "4 invalid row(s)" in card["data"] and "119 training locations" in card["data"]
    with pytest.raises(InputFileError, match="no rows"):
        train_bundle(df.iloc[:0], tmp_path / "c", "synthworld-tiny", progress=False, **FAST)
    with pytest.raises(GeolocError, match="unknown preset field"):
        train_bundle(df, tmp_path / "d", "synthworld-tiny", progress=False, celss="grid")


@pytest.mark.slow
def test_pretraining_feeds_finetuning(toy_data, tmp_path):
    from safetensors.torch import load_file

    out = train_bundle(toy_data["train"], tmp_path / "b", "synthworld-tiny", progress=False, refine=False,
                       work_dir=tmp_path / "w", keep_work=True, command="pytest",
                       **{**FAST, "finetune_steps": 1, "lr": 1e-9, "pretrain_steps": 3, "pretrain_batch_size": 16,
                          "freeze": "all"})
    clip = load_file(str(tmp_path / "w" / "pretrain" / "clip.safetensors"))
    b = load_bundle(out)
    # tower frozen during fine-tuning: the bundle's vision weights are the pretrained CLIP's
    assert np.array_equal(b.model.tower.visual.conv1.weight.detach().numpy(), clip["visual.conv1.weight"].numpy())


def test_refinement_is_tuned_on_held_out_validation_locations(toy_data, tmp_path):
    """Fault 4 of the PIGEON issue: T and top-k are chosen on validation locations that are in
    neither the fine-tuning data nor the prototypes, and stored in the bundle."""
    out = train_bundle(toy_data["train"], tmp_path / "b", "synthworld-tiny", progress=False, command="pytest",
                       **{**FAST, "finetune_steps": 4, "val_fraction": 0.45})
    b = load_bundle(out)
    card = b.config["card"]
    tune = card["refinement_tuning"]
    assert card["validation"] == {"locations": 54, "source": "random"} and tune["n_validation"] == 54
    assert b.config["refine"]["temperature"] == tune["temperature"]
    assert b.config["refine"]["top_k"] == tune["top_k"]
    for key in ("refined", "unrefined"):
        assert {"acc@1km", "acc@25km", "geoguessr_score"} <= set(tune[key])
    assert tune["refined"]["geoguessr_score"] >= tune["unrefined"]["geoguessr_score"] - 1e-9 or tune["top_k"] >= 1
    # no validation location is a prototype member
    from geoloc.train.data import load_locations
    from geoloc.train.pipeline import validation_mask
    from geoloc.train.presets import get_preset

    locs = load_locations(toy_data["train"], views=4)
    val = validation_mask(locs.frame, get_preset("synthworld-tiny", val_fraction=0.45))
    members = {tuple(np.round(c, 6)) for c in b.prototypes.member_coords}
    held = {tuple(np.round((la, lo), 6)) for la, lo in zip(locs.lat[val], locs.lon[val])}
    assert members and not (members & held)
    assert b.prototypes.params["n_rows"] == int((~val).sum())  # built from the training rows only


def test_head_refit_on_cached_view_embeddings(toy_data, tmp_path):
    """head_epochs: after fine-tuning, the heads train further on the frozen tower's cached views; the
    tower is unchanged by that stage, the heads are not."""
    import torch

    out = train_bundle(toy_data["train"], tmp_path / "b", "synthworld-tiny", progress=False, command="pytest",
                       work_dir=tmp_path / "w", keep_work=True, refine=False,
                       **{**FAST, "finetune_steps": 3, "head_epochs": 3})
    b = load_bundle(out)
    assert b.config["card"]["head_refit"]["steps"] >= 3
    from safetensors.torch import load_file

    ck = sorted((tmp_path / "w" / "finetune").glob("**/*.safetensors"))
    assert ck, "the fine-tuning checkpoint is kept"
    state = load_file(str(ck[-1]))
    tower = {k.split("net.", 1)[-1]: v for k, v in state.items() if ".tower." in f".{k}" or k.startswith("net.tower")}
    model = b.model.state_dict()
    moved_heads = [k for k, v in state.items() if "heads.heads.geocell.weight" in k
                   and not torch.equal(v, model["heads.heads.geocell.weight"])]
    assert moved_heads, "the refit changed the geocell head"
    shared = [k for k in tower if k in model]
    assert len(shared) > 10
    for k in shared:
        assert torch.equal(tower[k], model[k]), k
