"""PIGEON's ablations on SynthWorld, decisively: cached towers, several seeds, bootstrap intervals.

Protocol (PIGEON fine-tunes its heads on a mostly frozen, pretrained tower):

1. **Data.** A SynthWorld training pool (``--train-scenes`` locations, seed ``--data-seed``; its
   ``train`` split trains, its ``val`` split tunes refinement) and a held-out set generated with a
   NEW seed (``--data-seed + 1``, ``--test-scenes`` locations): no held-out scene shares a seed,
   a sample or a render with training. Four views per location at the preset's size.
2. **Towers**, one per pretraining variant, trained once and frozen:
   ``generic``: contrastive pretraining on *content* captions (what the scene shows, no place:
   :mod:`geoloc.synth.content`), the stand-in for CLIP's web pretraining that PIGEON starts from;
   ``location``: the generic tower continued with PIGEON's location captions
   (:mod:`geoloc.train.captions`, facts from :mod:`geoloc.geo.facts`). Every view's embedding of
   every location is computed once per tower ([N, 4, D]).
3. **Head variants** trained on the caches (:func:`geoloc.train.heads.fit_heads`), ``--seeds``
   each: the full system (location tower, semantic cells, normalised haversine targets, country +
   climate auxiliary heads on a shared trainable block over the frozen tower (``--head-hidden``,
   PIGEON's unfrozen last layer: without a shared trainable part, heads on a frozen embedding are
   independent and auxiliary tasks could not matter), four views fused by the mean, refinement
   tuned on the validation split) and one change per row: one-hot loss, the paper's un-normalised targets, the reference
   code's targets, no refinement, grid cells, quadtree cells (both sized to the semantic cell
   count), one view (heading 0 only, in training and test), no contrastive pretraining (generic
   tower), no auxiliary heads. Baselines: kNN over the location tower's training embeddings (k = 1,
   and a k = 16 geographic vote), the majority cell.
4. **Statistics.** Every number is the mean over seeds with a 95 % bootstrap interval over the
   held-out locations (``--boot`` resamples, the same resamples for every row: paired), and each
   row's paired difference to the full system with its interval. "beyond the interval" = the
   difference's interval excludes 0.
5. **End to end** (``--e2e``): one row per variant family (loss, cells, views, pretraining) trained
   through ``geoloc.train.pipeline.train_bundle`` with the tower unfrozen, to check that the cached
   protocol ranks the variants the same way.

Everything is cached in ``--work`` (data, towers, embeddings, per-seed predictions), so a rerun
resumes. Run:

    nice .venv/bin/python benchmarks/bench_ablations.py --work /tmp/geoloc-abl [--train-scenes 12000]
        [--test-scenes 1500] [--seeds 0 1 2] [--e2e] [--out abl.md] [--plot benchmarks/img/ablations.png]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from machine import machine_summary

METRICS = ("acc@1km", "acc@25km", "acc@200km", "acc@750km", "acc@2500km", "median_km", "geoguessr_score",
           "country_acc")
LOWER_IS_BETTER = {"median_km"}
ROWS: dict[str, str] = {
    "full": "full system",
    "onehot": "one-hot loss",
    "paper": "paper-form targets (un-normalised)",
    "nearest": "reference-code targets (un-normalised)",
    "norefine": "no refinement",
    "grid": "grid cells",
    "quadtree": "quadtree cells",
    "oneview": "one view",
    "nopretrain": "no contrastive pretraining",
    "noaux": "no auxiliary heads",
    "knn1": "kNN, k = 1",
    "knn16": "kNN, k = 16 vote",
    "majority": "majority cell",
}
HEAD_VARIANTS = ("full", "onehot", "paper", "nearest", "grid", "quadtree", "oneview", "nopretrain", "noaux")
PIGEON_DIRECTION = {
    "onehot": "worse (haversine smoothing helps)",
    "norefine": "worse at 1 km (5.36 -> 1.32 %)",
    "grid": "worse (semantic cells: median 55.5 vs 60.6 km)",
    "quadtree": "worse (semantic cells)",
    "oneview": "worse (median 44 -> 131 km)",
    "nopretrain": "worse (-1.7 country points)",
    "noaux": "worse (multi-task helps)",
}


# --------------------------------------------------------------------------- stage 1: data


def data(args, preset) -> dict[str, Any]:
    """Training pool and fresh-seed held-out set as LocationImages (uint8 caches) + metadata."""
    from geoloc.model import GeoModelConfig
    from geoloc.synth import generate_dataset
    from geoloc.synth.locations import sample_locations
    from geoloc.train.data import LocationImages, load_locations
    from geoloc.train.embed import model_transform
    from geoloc.train.metadata import derive_metadata

    out: dict[str, Any] = {}
    cfg = GeoModelConfig(num_cells=1, tower=preset.tower, image_size=preset.image_size)
    for part, n, seed in (("pool", args.train_scenes, args.data_seed), ("test", args.test_scenes, args.data_seed + 1)):
        root = args.work / f"synth-{part}-{n}-{args.size}px-s{seed}"
        t = time.perf_counter()
        m = generate_dataset(n, root, size=args.size, views=4, seed=seed, progress=args.progress)
        locs = load_locations(m, root=root, views=4, what=part)
        locs.frame, _ = derive_metadata(locs.frame, read_exif=False)
        attrs = sample_locations(n, seed=seed).set_index("id")  # the scene attributes (content captions)
        images = LocationImages(locs, model_transform(cfg), progress=args.progress)
        out[part] = {"locs": locs, "images": images, "attrs": attrs}
        print(f"[data] {part}: {len(locs)} locations ({time.perf_counter() - t:.0f} s) in {root}", flush=True)
    split = out["pool"]["locs"].frame["split"].astype(str).to_numpy()
    out["train_rows"] = np.flatnonzero(split == "train")
    out["val_rows"] = np.flatnonzero(split == "val")
    return out


# --------------------------------------------------------------------------- stage 2: towers


def tower_key(kind: str, args) -> str:
    """Cache name of a tower: its kind and the pretraining steps it was made with (the location tower
    continues the generic one, so it carries both)."""
    return (f"generic-{args.generic_steps}" if kind == "generic"
            else f"location-{args.generic_steps}-{args.location_steps}")


def tower(kind: str, args, preset, d: dict[str, Any]) -> Path:
    """Train (or reuse) the ``generic`` or ``location`` tower; returns its CLIP checkpoint."""
    from geoloc.synth.content import content_caption
    from geoloc.train.pretrain import CLIP_FILE, pretrain

    out = args.work / f"tower-{tower_key(kind, args)}"
    if (out / CLIP_FILE).is_file():
        return out / CLIP_FILE
    attrs = d["pool"]["attrs"]
    images = _subset_images(d["pool"]["images"], d["train_rows"])
    if kind == "generic":
        ids = images.locations.frame["id"].tolist()
        caption_of = {i: content_caption(attrs.loc[i].to_dict()) for i in ids}  # one per location, all views

        def fn(meta: dict, k: int, seed: int, index: int, heading: Any) -> list[str]:
            return [caption_of[meta["id"]]] * k

        p = preset.replace(pretrain_steps=args.generic_steps, checkpoint=None, pretrained=None)
        t = time.perf_counter()
        path = pretrain(images, p, out, progress=args.progress, caption_fn=fn)
    else:
        generic = tower("generic", args, preset, d)
        p = preset.replace(pretrain_steps=args.location_steps, checkpoint=str(generic), pretrained=None)
        t = time.perf_counter()
        path = pretrain(images, p, out, progress=args.progress)
    print(f"[tower] {kind}: {time.perf_counter() - t:.0f} s", flush=True)
    return path


def _subset_images(images, rows: np.ndarray):
    """A LocationImages view of ``rows`` sharing the decoded cache (no second decode)."""
    import copy

    sub = copy.copy(images)
    mask = np.zeros(len(images), dtype=bool)
    mask[rows] = True
    sub.locations = images.locations.subset(mask)
    sub.paths = [images.paths[i] for i in rows]
    sub.lat, sub.lon = images.lat[rows], images.lon[rows]
    sub.ok = images.ok[rows]
    sub.labels = {k: v[rows] for k, v in images.labels.items()}
    sub.cache = images.cache[rows] if images.cache is not None else None
    return sub


def embeddings(kind: str, args, preset, d: dict[str, Any]) -> dict[str, np.ndarray]:
    """Per-view embeddings ``{"pool": [N, 4, D], "test": [M, 4, D]}`` of a tower (cached)."""
    f = args.work / f"emb-{tower_key(kind, args)}.npz"
    if f.is_file():
        z = np.load(f)
        return {"pool": z["pool"], "test": z["test"]}
    from geoloc.model import GeoModel, GeoModelConfig
    from geoloc.train.embed import embed_dataset

    ckpt = tower(kind, args, preset, d)
    net = GeoModel(GeoModelConfig(num_cells=1, tower=preset.tower, image_size=preset.image_size,
                                  embedding=preset.embedding), checkpoint=str(ckpt))
    out = {}
    for part in ("pool", "test"):
        e, _ = embed_dataset(net, d[part]["images"], batch_size=128, device="cpu", progress=args.progress,
                             per_view=True)
        out[part] = e
    np.savez(f, **out)
    return out


# --------------------------------------------------------------------------- stage 3: cells and heads


def grid_count(lat: np.ndarray, lon: np.ndarray, deg: float) -> int:
    """Number of occupied ``deg``-degree grid boxes (as :func:`geoloc.cells.baselines.grid_cells`)."""
    nx, ny = math.ceil(360.0 / deg), math.ceil(180.0 / deg)
    ix = np.clip(((lon + 180.0) // deg).astype(np.int64), 0, nx - 1)
    iy = np.clip(((lat + 90.0) // deg).astype(np.int64), 0, ny - 1)
    return int(np.unique(iy * nx + ix).size)


def matched_grid_deg(lat, lon, target: int) -> float:
    """Grid side (degrees, 0.25-degree steps) whose occupied-box count is closest to ``target``."""
    cands = np.arange(0.5, 45.01, 0.25)
    counts = np.array([grid_count(lat, lon, dg) for dg in cands])
    return float(cands[int(np.argmin(np.abs(counts - target)))])


def matched_quadtree_capacity(lat, lon, target: int) -> int:
    """Quadtree leaf capacity whose leaf count is closest to ``target`` (bisection on capacity)."""
    from geoloc.cells.baselines import quadtree_cells

    best, best_gap = 1, None
    lo, hi = 1, max(2, lat.size)
    while lo <= hi:
        mid = (lo + hi) // 2
        n = len(quadtree_cells(lat, lon, mid))
        if best_gap is None or abs(n - target) < best_gap:
            best, best_gap = mid, abs(n - target)
        if n > target:
            lo = mid + 1
        else:
            hi = mid - 1
    return best


def cell_sets(args, preset, d: dict[str, Any]) -> dict[str, Any]:
    """Semantic cells of the training rows, and grid / quadtree cells sized to the same count."""
    from geoloc.cells import GeocellSet
    from geoloc.cells.baselines import grid_cells, quadtree_cells
    from geoloc.train.pipeline import build_cells

    locs = d["pool"]["locs"]
    tr = d["train_rows"]
    lat, lon = locs.lat[tr], locs.lon[tr]
    out = {}
    f = args.work / "cells-semantic.parquet"
    if f.is_file():
        out["semantic"] = GeocellSet.load(f)
    else:
        out["semantic"], _ = build_cells(preset.replace(cells="semantic"), lat, lon, progress=args.progress)
        out["semantic"].save(f)
    n = len(out["semantic"])
    out["grid"] = grid_cells(matched_grid_deg(lat, lon, n), lat, lon)
    out["quadtree"] = quadtree_cells(lat, lon, max_points=matched_quadtree_capacity(lat, lon, n))
    print(f"[cells] semantic {n}, grid {len(out['grid'])}, quadtree {len(out['quadtree'])}", flush=True)
    return out


def pred_dir(args, preset) -> Path:
    """Cache folder of the head predictions, keyed by every setting they depend on besides the towers
    (a rerun with other head settings must not reuse them)."""
    return args.work / "pred" / (f"g{args.generic_steps}-l{args.location_steps}-e{args.head_epochs}-lr{args.head_lr:g}-h{args.head_hidden}-tau{preset.tau_km:g}"
                                 f"-T{preset.refine_min_samples}-{preset.refine_xi:g}")


def head_predictions(variant: str, seed: int, args, preset, d, embs, cells) -> dict[str, np.ndarray]:
    """Held-out predictions (degrees) of one head variant and seed: ``{"refined": [M, 2], "top1": [M, 2]}``."""
    f = pred_dir(args, preset) / f"{variant}-s{seed}.npz"
    if f.is_file():
        z = np.load(f)
        return {k: z[k] for k in z.files}
    import torch

    from geoloc.model import GEOCELL
    from geoloc.model.heads import ClassificationHeads
    from geoloc.refine import Refiner, build_prototypes
    from geoloc.refine.tune import tune_refinement
    from geoloc.train.data import build_vocab, encode_labels
    from geoloc.train.heads import fit_heads

    kind = "generic" if variant == "nopretrain" else "location"
    cs = cells["grid" if variant == "grid" else "quadtree" if variant == "quadtree" else "semantic"]
    pool, test = embs[kind]["pool"], embs[kind]["test"]
    if variant == "oneview":
        pool, test = pool[:, :1], test[:, :1]
    locs = d["pool"]["locs"]
    lat, lon = locs.lat, locs.lon
    tr, va = d["train_rows"], d["val_rows"]
    labels = {GEOCELL: np.asarray(cs.assign(lat, lon), dtype=np.int64)}
    aux = [] if variant == "noaux" else [t for t in preset.aux_heads if build_vocab(locs.frame.iloc[tr], t)]
    sizes = {GEOCELL: len(cs)}
    for t in aux:
        vocab = build_vocab(locs.frame.iloc[tr], t)
        labels[t] = encode_labels(locs.frame, t, vocab)
        sizes[t] = len(vocab)
    torch.manual_seed(seed)
    heads = ClassificationHeads(pool.shape[-1], sizes, hidden=args.head_hidden)
    fit_heads(heads, pool[tr], lat[tr], lon[tr], {k: v[tr] for k, v in labels.items()}, cs.centroids,
              epochs=args.head_epochs, lr=args.head_lr, tau_km=preset.tau_km, smooth=variant != "onehot",
              target_form={"paper": "paper", "nearest": "nearest"}.get(variant, "softmax"),
              weights={k: v for k, v in preset.loss_weights.items() if k in sizes}, seed=seed)

    def probs(e: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return torch.softmax(heads(torch.from_numpy(e.mean(1)).float())[GEOCELL].double(), 1).numpy()

    p_test, p_val = probs(test), probs(pool[va])
    top = cs.centroids[p_test.argmax(1)]
    fused = pool.mean(1)
    protos = build_prototypes(labels[GEOCELL][tr], lat[tr], lon[tr], fused[tr], len(cs),
                              min_samples=preset.refine_min_samples, xi=preset.refine_xi, progress=False)
    refiner = Refiner(protos, cell_centroids=cs.centroids, within=preset.refine_within, max_km=preset.refine_max_km)
    tune = tune_refinement(refiner, fused[va], p_val, lat[va], lon[va])
    res = refiner.refine(test.mean(1), p_test)
    out = {"refined": np.c_[res.lat, res.lon], "top1": top, "T": np.array([tune.temperature, tune.top_k])}
    f.parent.mkdir(parents=True, exist_ok=True)
    np.savez(f, **out)
    return out


def baseline_predictions(args, d, embs, cells) -> dict[str, np.ndarray]:
    """kNN (k = 1, k = 16 vote) over the location tower's training embeddings; the majority cell."""
    from geoloc.eval.baselines import KnnRetrieval, majority_cell_baseline

    locs = d["pool"]["locs"]
    tr = d["train_rows"]
    knn = KnnRetrieval(embs["location"]["pool"][tr].mean(1), locs.lat[tr], locs.lon[tr], metric="l2")
    q = embs["location"]["test"].mean(1)
    out = {}
    for key, k in (("knn1", 1), ("knn16", 16)):
        out[key] = np.c_[knn.predict(q, k=k, vote_km=args.vote_km)]
    cs = cells["semantic"]
    out["majority"] = np.c_[majority_cell_baseline(cs.assign(locs.lat[tr], locs.lon[tr]), cs.centroids, len(q))]
    return out


# --------------------------------------------------------------------------- stage 4: statistics


def per_location(pred: np.ndarray, d) -> tuple[np.ndarray, np.ndarray]:
    """(error km [M], right country [M] bool) of predictions [M, 2] on the held-out set."""
    from geoloc.geo.boundaries import lookup_admin
    from geoloc.geo.distance import haversine_km

    t = d["test"]["locs"]
    err = np.asarray(haversine_km(pred[:, 0], pred[:, 1], t.lat, t.lon), dtype=np.float64)
    if "true_country" not in d:
        d["true_country"] = lookup_admin(t.lat, t.lon)["adm0_a3"].to_numpy()
    pc = lookup_admin(pred[:, 0], pred[:, 1], invalid="none")["adm0_a3"].to_numpy()
    return err, (pc == d["true_country"]) & (d["true_country"] != "none")


def metric_values(err: np.ndarray, hit: np.ndarray) -> dict[str, float]:
    """The table's metrics from per-location errors and country hits (also on bootstrap resamples)."""
    from geoloc.geo.score import geoguessr_score

    out = {f"acc@{km:g}km": float(np.mean(err <= km)) for km in (1, 25, 200, 750, 2500)}
    out["median_km"] = float(np.median(err))
    out["geoguessr_score"] = float(np.mean(geoguessr_score(err)))
    out["country_acc"] = float(np.mean(hit))
    return out


def bootstrap(runs: dict[str, list[tuple[np.ndarray, np.ndarray]]], n_boot: int, seed: int = 0
              ) -> dict[str, dict[str, Any]]:
    """Per row and metric: mean over seeds, 95 % percentile interval over location resamples, and the
    paired difference to ``full`` (same resamples) with its interval."""
    m = len(next(iter(runs.values()))[0][0])
    g = np.random.default_rng(seed)
    idx = g.integers(0, m, size=(n_boot, m))

    def stat(rows: list[tuple[np.ndarray, np.ndarray]], sel: np.ndarray | None) -> dict[str, float]:
        vals = [metric_values(e if sel is None else e[sel], h if sel is None else h[sel]) for e, h in rows]
        return {k: float(np.mean([v[k] for v in vals])) for k in METRICS}

    point = {name: stat(rows, None) for name, rows in runs.items()}
    boots = {name: [stat(rows, s) for s in idx] for name, rows in runs.items()}
    out = {}
    for name in runs:
        row = {}
        for k in METRICS:
            b = np.array([x[k] for x in boots[name]])
            diff = b - np.array([x[k] for x in boots["full"]])
            row[k] = {"value": point[name][k], "lo": float(np.percentile(b, 2.5)), "hi": float(np.percentile(b, 97.5)),
                      "diff": point[name][k] - point["full"][k], "diff_lo": float(np.percentile(diff, 2.5)),
                      "diff_hi": float(np.percentile(diff, 97.5))}
        out[name] = row
    return out


def fmt(k: str, v: float) -> str:
    if k == "median_km":
        return f"{v:,.0f}"
    if k == "geoguessr_score":
        return f"{v:,.0f}"
    return f"{100 * v:.1f}"


def markdown(stats: dict[str, dict[str, Any]]) -> str:
    """Value [interval] per cell; a row's cell is bold where it beats the full system beyond the
    interval of the paired difference, and marked (worse) where the full system is ahead beyond it."""
    head = ["variant", "1 km %", "25 km %", "200 km %", "750 km %", "2500 km %", "median km", "GeoGuessr",
            "country %"]
    lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    for name, row in stats.items():
        cells = []
        for k in METRICS:
            c = row[k]
            txt = f"{fmt(k, c['value'])} [{fmt(k, c['lo'])}, {fmt(k, c['hi'])}]"
            if name != "full":
                better = c["diff_hi"] < 0 if k in LOWER_IS_BETTER else c["diff_lo"] > 0
                worse = c["diff_lo"] > 0 if k in LOWER_IS_BETTER else c["diff_hi"] < 0
                txt = f"**{txt}**" if better else (txt + " ↓" if worse else txt)
            cells.append(txt)
        lines.append(f"| {ROWS.get(name, name)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def paired_table(stats: dict[str, dict[str, Any]]) -> str:
    """Paired differences (row - full) on median km and GeoGuessr score, with intervals and verdicts."""
    lines = ["| variant | median km, row - full [95 %] | GeoGuessr, row - full [95 %] | full ahead on both beyond the "
             "interval | PIGEON's direction |", "|---|---:|---:|---|---|"]
    for name, row in stats.items():
        if name == "full":
            continue
        md, gs = row["median_km"], row["geoguessr_score"]
        ahead = md["diff_lo"] > 0 and gs["diff_hi"] < 0
        lines.append(f"| {ROWS.get(name, name)} | {md['diff']:+,.0f} [{md['diff_lo']:+,.0f}, {md['diff_hi']:+,.0f}] | "
                     f"{gs['diff']:+,.0f} [{gs['diff_lo']:+,.0f}, {gs['diff_hi']:+,.0f}] | {'yes' if ahead else 'NO'} | "
                     f"{PIGEON_DIRECTION.get(name, '')} |")
    return "\n".join(lines)


def plot(stats: dict[str, dict[str, Any]], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(stats)
    fig, axes = plt.subplots(1, 3, figsize=(15, 0.42 * len(names) + 1.5), sharey=True)
    for ax, k, label in zip(axes, ("median_km", "geoguessr_score", "country_acc"),
                            ("median error (km, lower is better)", "GeoGuessr score", "country accuracy (%)"),
                            strict=True):
        scale = 100.0 if k == "country_acc" else 1.0
        v = np.array([stats[n][k]["value"] for n in names]) * scale
        lo = np.array([stats[n][k]["lo"] for n in names]) * scale
        hi = np.array([stats[n][k]["hi"] for n in names]) * scale
        y = np.arange(len(names))[::-1]
        ax.barh(y, v, color=["#2b6cb0" if n == "full" else "#a0aec0" for n in names])
        ax.errorbar(v, y, xerr=[v - lo, hi - v], fmt="none", ecolor="black", capsize=3)
        ax.set_title(label)
        ax.set_yticks(y, [ROWS.get(n, n) for n in names])
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


# --------------------------------------------------------------------------- stage 5: end to end


E2E = {"full": {}, "onehot": {"loss": "onehot"}, "grid": {"cells": "grid"}, "oneview": {"views": 1},
       "nopretrain": {"pretrain_steps": 0}}


def end_to_end(args, preset, d, cells) -> dict[str, list[tuple[np.ndarray, np.ndarray]]]:
    """One end-to-end run (tower unfrozen, train_bundle) per variant family; held-out predictions."""
    import pandas as pd

    from geoloc.bundle import load_bundle
    from geoloc.train.data import Locations
    from geoloc.train.pipeline import evaluate_locations, train_bundle

    pool = d["pool"]["locs"].frame
    keep = ("country", "adm0_a3", "climate", "admin1", "adm1_code", "town", "drives_left", "split")
    rows = pd.DataFrame([{"id": r.id, "view": v, "path": p, "lat": r.lat, "lon": r.lon,
                          **{c: getattr(r, c) for c in keep}}
                         for r in pool.itertuples() for v, p in enumerate(r.paths)])
    train = pool[pool["split"].astype(str) == "train"]
    e2e_dir = args.work / f"e2e-ft{args.e2e_steps}-pt{args.e2e_pretrain_steps}"  # a cache per budget
    out = {}
    for name, over in E2E.items():
        f = e2e_dir / f"{name}.npz"
        if not f.is_file():
            over = {**over, "finetune_steps": args.e2e_steps,
                    "pretrain_steps": 0 if name == "nopretrain" else args.e2e_pretrain_steps}
            if name == "grid":
                over["grid_deg"] = matched_grid_deg(train["lat"].to_numpy(), train["lon"].to_numpy(),
                                                    len(cells["semantic"]))
            views = over.get("views", 4)
            bundle = train_bundle(rows, e2e_dir / f"bundle-{name}", preset.replace(**over),
                                  progress=args.progress, work_dir=e2e_dir / f"work-{name}",
                                  command="bench_ablations --e2e")
            t = d["test"]["locs"]
            test = t if views == 4 else Locations(t.frame.assign(paths=[p[:1] for p in t.frame["paths"]]), 1)
            ev = evaluate_locations(load_bundle(bundle), test, progress=args.progress, return_predictions=True)
            f.parent.mkdir(parents=True, exist_ok=True)
            np.savez(f, refined=ev["predictions"])
        out[name] = [per_location(np.load(f)["refined"], d)]
    return out


# --------------------------------------------------------------------------- main


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--preset", default="synthworld-tiny")
    ap.add_argument("--train-scenes", type=int, default=12_000)
    ap.add_argument("--test-scenes", type=int, default=1_500)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--data-seed", type=int, default=0)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--generic-steps", type=int, default=1500)
    ap.add_argument("--location-steps", type=int, default=1500)
    ap.add_argument("--head-epochs", type=int, default=30)
    ap.add_argument("--head-lr", type=float, default=3e-3)
    ap.add_argument("--head-hidden", type=int, default=256, help="shared trainable block over the frozen tower")
    ap.add_argument("--tau-km", type=float, default=None, help="haversine smoothing scale (default: the preset's)")
    ap.add_argument("--variants", nargs="+", default=list(HEAD_VARIANTS), choices=HEAD_VARIANTS,
                    help="head variants to train (the full system is always included; the table lists only these)")
    ap.add_argument("--vote-km", type=float, default=200.0)
    ap.add_argument("--boot", type=int, default=1000)
    ap.add_argument("--e2e", action="store_true", help="also train one end-to-end row per variant family")
    ap.add_argument("--e2e-steps", type=int, default=1500)
    ap.add_argument("--e2e-pretrain-steps", type=int, default=1500)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path)
    ap.add_argument("--plot", type=Path)
    ap.add_argument("--progress", action="store_true")
    args = ap.parse_args()

    import torch

    from geoloc.train.presets import get_preset

    torch.set_num_threads(args.threads)
    args.work.mkdir(parents=True, exist_ok=True)
    t0, c0 = time.time(), time.process_time()
    print(f"[machine] {machine_summary()}", flush=True)
    preset = get_preset(args.preset, image_size=args.size, **({"tau_km": args.tau_km} if args.tau_km else {}))
    d = data(args, preset)
    embs = {k: embeddings(k, args, preset, d) for k in ("generic", "location")}
    cells = cell_sets(args, preset, d)
    runs: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
    temps: dict[str, list[list[float]]] = {}
    variants = ["full", *[v for v in args.variants if v != "full"]]
    for variant in variants:
        runs[variant] = []
        for seed in args.seeds:
            pred = head_predictions(variant, seed, args, preset, d, embs, cells)
            runs[variant].append(per_location(pred["refined"], d))
            temps.setdefault(variant, []).append(pred["T"].tolist())
            if variant == "full":
                runs.setdefault("norefine", []).append(per_location(pred["top1"], d))
        print(f"[heads] {variant}: refinement (T, top-k) per seed {temps[variant]}", flush=True)
    for name, pred in baseline_predictions(args, d, embs, cells).items():
        runs[name] = [per_location(pred, d)]
    order = [k for k in ROWS if k in runs]
    stats = bootstrap({k: runs[k] for k in order}, args.boot)
    n_test = len(d["test"]["locs"])
    header = (f"{len(d['train_rows'])} training / {len(d['val_rows'])} validation locations (seed {args.data_seed}), "
              f"{n_test} held-out locations (new seed {args.data_seed + 1}), 4 views at {args.size} px; "
              f"{len(cells['semantic'])} semantic cells; towers: generic {args.generic_steps} + location "
              f"{args.location_steps} pretraining steps; heads {args.head_epochs} epochs x seeds {args.seeds}, "
              f"tau {preset.tau_km:g} km; "
              f"{args.boot} bootstrap resamples")
    text = [f"Setup: {header}.", "", markdown(stats), "", paired_table(stats)]
    if args.e2e:
        e2e = end_to_end(args, preset, d, cells)
        e2e_stats = bootstrap(e2e, args.boot)
        text += ["", "End to end (tower unfrozen, one seed):", "", markdown(e2e_stats), "", paired_table(e2e_stats)]
    text += ["", f"Machine: {machine_summary()}; {time.time() - t0:.0f} s wall, {time.process_time() - c0:.0f} s CPU "
                 f"(main process)."]
    out = "\n".join(text)
    print(out)
    if args.out:
        args.out.write_text(out + "\n")
    if args.plot:
        plot(stats, args.plot, f"PIGEON ablations on SynthWorld ({n_test} held-out locations, 95 % intervals)")
    (args.work / "stats.json").write_text(json.dumps(stats, indent=1))


if __name__ == "__main__":
    sys.exit(main())
