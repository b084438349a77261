"""Issue 18: `geoloc train run` end to end under torchrun with 2 gloo processes on the CPU.

The class of fault this catches: anything that works in one process and breaks (or silently changes)
with several: DDP unused parameters, ranks racing on shared files (the work stamp, clip.safetensors,
generated data, the work folder's removal), CPU/CUDA-only assumptions, per-rank nondeterminism.

* the whole pipeline (caption pretraining -> fine-tuning -> prototypes -> held-out evaluation -> bundle)
  runs under ``torchrun --nproc-per-node 2`` and its bundle equals the one-process run's within float
  tolerance (see ``test_two_processes_equal_one``);
* SIGKILL of the whole torchrun job during fine-tuning, then the same command again: it resumes from
  the last checkpoint and ends on exactly the uninterrupted run's weights;
* the non-default embedding / fusion choices and the default preset's own tower train for two DDP
  steps (a parameter without a gradient fails at the second).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from geoloc.bundle import load_bundle, verify_bundle

REPO = Path(__file__).resolve().parents[2]
SETTINGS = {"tower": "geoloc-tiny-vit", "embedding": "tokens_mean", "train_views": None, "cells": "grid",
            "grid_deg": 45.0, "pretrain_steps": 2, "pretrain_batch_size": 16, "finetune_steps": 6, "batch_size": 16,
            "warmup_steps": 1, "checkpoint_every": 2, "eval_batch_size": 32, "device": "cpu"}


SETTINGS_LR = 2e-3  # the preset's fine-tuning lr (checked in test_two_processes_equal_one)


def _sets() -> list[str]:
    import json

    return [a for k, v in SETTINGS.items() for a in ("--set", f"{k}={json.dumps(v)}")]


def _command(data: dict, out: Path, work: Path) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
            "-m", "geoloc.train.cli", "preset", "synthworld-tiny", "--manifest", str(data["train"]),
            "--eval-manifest", str(data["test"]), "--out", str(out), "--work-dir", str(work), "--quiet",
            *_sets()]


@pytest.fixture(scope="module")
def small_data(toy_data, tmp_path_factory) -> dict[str, Path]:
    """The first 48 toy training locations (absolute paths) and the 24 test locations: tiny on purpose."""
    import pandas as pd

    base = tmp_path_factory.mktemp("small")
    df = pd.read_csv(toy_data["train"])
    df = df[df["id"].isin(sorted(df["id"].unique())[:48])].copy()
    df["path"] = [str(toy_data["train"].parent / p) for p in df["path"]]
    df.to_csv(base / "train.csv", index=False)
    return {"train": base / "train.csv", "test": toy_data["test"]}


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "NO_COLOR": "1"}


@pytest.fixture(scope="module")
def two_process_run(small_data, tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("ddp-run")
    out, work = base / "bundle", base / "work"
    t0 = time.time()
    proc = subprocess.run(_command(small_data, out, work), env=_env(), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    return {"out": out, "work": work, "seconds": time.time() - t0}


def test_torchrun_pipeline_end_to_end(two_process_run):
    out = two_process_run["out"]
    verify_bundle(out)
    b = load_bundle(out)
    card = b.config["card"]
    assert card["training"]["processes"] == 2
    assert card["started_from"]["caption_pretraining_steps"] == 2
    assert card["metrics"]["held-out locations"] == 24
    assert b.prototypes is not None and b.prototypes.num_prototypes > 0
    assert not two_process_run["work"].exists(), "rank 0 removes the work folder after the last barrier"


def test_two_processes_equal_one(two_process_run, small_data, tmp_path):
    """The global batch (16) is split 8 + 8 over the ranks, in the same order as one process takes it
    (DistributedSampler over the same permutation); gradients are averaged, the geocell / auxiliary
    means are the cross-rank exact ones (rank_mean). The weights then agree up to float summation
    order (the all-reduce sums two halves where one process sums one batch): a mean difference of
    ~3e-8 (measured), where one step moves a weight by ~lr = 2e-3. AdamW divides by sqrt(v), so where
    a gradient entry is ~0 (dead GELU units) that rounding becomes a step of up to lr: a handful of
    entries differ by up to 3.5e-4 (measured), hence the max bound of lr. A real divergence (other
    labels, cells, batches or data on a rank) moves the mean by orders of magnitude more."""
    from geoloc.train.pipeline import train_preset
    from geoloc.train.presets import get_preset

    assert get_preset("synthworld-tiny").lr == SETTINGS_LR
    one = train_preset("synthworld-tiny", tmp_path / "one", manifest=small_data["train"],
                       eval_manifest=small_data["test"], progress=False, command="pytest", **SETTINGS)
    w1 = load_file(str(one / "model.safetensors"))
    w2 = load_file(str(two_process_run["out"] / "model.safetensors"))
    assert w1.keys() == w2.keys()
    diff = torch.cat([(w1[k].double() - w2[k].double()).abs().flatten() for k in w1])
    assert float(diff.mean()) < 1e-6 and float(diff.max()) < SETTINGS_LR, (float(diff.mean()), float(diff.max()))
    m1, m2 = load_bundle(one).config["card"]["metrics"], load_bundle(two_process_run["out"]).config["card"]["metrics"]
    assert m1.keys() == m2.keys()
    for k in m1:
        assert m1[k] == pytest.approx(m2[k], rel=1e-3, abs=1e-3), k


def test_sigkill_during_finetuning_then_resume_equals_uninterrupted(two_process_run, small_data, tmp_path):
    out, work = tmp_path / "bundle", tmp_path / "work"
    cmd = _command(small_data, out, work)
    proc = subprocess.Popen(cmd, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    first = work / "finetune" / "checkpoint-00000002"
    deadline = time.time() + 400
    while not (first / "weights.safetensors").exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)  # the agent and both ranks, at once
    proc.wait(30)
    assert first.exists(), "fine-tuning never reached its first checkpoint"
    assert not (out / "model.safetensors").exists(), "killed too late: the run had finished"
    again = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-5000:]
    resumed, ref = load_file(str(out / "model.safetensors")), load_file(str(two_process_run["out"] / "model.safetensors"))
    for k in ref:
        assert torch.equal(resumed[k], ref[k]), k
    assert load_bundle(out).config["card"]["metrics"] == load_bundle(two_process_run["out"]).config["card"]["metrics"]


# -- the embedding / fusion choices and the default tower under real DDP (spawned gloo workers) ---------------

CHOICES = [{"tower": "geoloc-tiny-vit", "embedding": "tokens_mean_pre_ln"},
           {"tower": "geoloc-tiny-vit", "embedding": "pooled", "fusion": "cross_frame"},
           {"tower": "geoloc-tiny-vit", "embedding": "tokens_mean_pre_ln", "fusion": "cross_frame",
            "freeze": "all_but_last"},
           {}]  # {} = the default preset as it is (its tower, embedding, fusion and train_views)


def _train_choices(rank: int, world: int, manifest: str, out: str) -> dict[str, float]:
    """Two DDP fine-tuning steps per choice (the second fails if a parameter got no gradient),
    then two pretraining steps of the default preset's CLIP."""
    from geoloc.model import GeoModel, GeoModelConfig
    from geoloc.train.data import LocationImages, load_locations
    from geoloc.train.embed import model_transform
    from geoloc.train.finetune import finetune
    from geoloc.train.presets import get_preset
    from geoloc.train.pretrain import pretrain

    torch.set_num_threads(1)
    moved = {}
    locs = load_locations(manifest, views=4)
    cells = np.array([[0.0, -90.0], [0.0, 90.0]])
    for i, choice in enumerate(CHOICES):
        p = get_preset("synthworld-tiny", finetune_steps=2, batch_size=8, warmup_steps=0, checkpoint_every=10,
                       device="cpu", **choice)
        cfg = GeoModelConfig(num_cells=2, tower=p.tower, image_size=64, embedding=p.embedding, fusion=p.fusion)
        labels = {"cell": (locs.lon > 0).astype(np.int64)}
        data = LocationImages(locs, model_transform(cfg), labels=labels, cache=True, progress=False)
        torch.manual_seed(0)
        net = GeoModel(cfg)
        before = {k: v.clone() for k, v in net.state_dict().items()}
        finetune(net, data, cells, p, f"{out}/ft{i}", progress=False)
        moved[f"choice{i}"] = max(float((net.state_dict()[k] - v).abs().max()) for k, v in before.items())
    p = get_preset("synthworld-tiny", pretrain_steps=2, pretrain_batch_size=8, warmup_steps=0, device="cpu")
    images = LocationImages(locs, model_transform(GeoModelConfig(num_cells=1, tower=p.tower, image_size=64)),
                            cache=True, progress=False)
    path = pretrain(images, p, f"{out}/pre", progress=False)
    moved["pretrain_file"] = float(Path(path).is_file())
    return moved


def test_embedding_and_fusion_choices_train_under_ddp(toy_data, tmp_path):
    from representation.testing.ddp import run_ddp

    results = run_ddp(_train_choices, world_size=2, args=(str(toy_data["test"]), str(tmp_path)), timeout_s=400)
    for r in results:
        assert all(r[f"choice{i}"] > 0 for i in range(len(CHOICES))), r
        assert r["pretrain_file"] == 1.0
