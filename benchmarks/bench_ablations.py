"""PIGEON's ablations on a SynthWorld held-out set, in one table (issue 5, "Benchmarks").

Rows (PIGEON CVPR'24 Table 2 style; shared/design/PIGEON.md §2):

* **full system**: semantic geocells, haversine-smoothed loss, four views (mean fusion),
  contrastive caption pretraining, retrieval refinement (the ``synthworld-tiny`` preset with
  ``--pretrain-steps`` of pretraining);
* (a) one-hot cross-entropy instead of haversine smoothing;
* (b) no retrieval refinement (the full model, top-1 cell centroid);
* (c) grid cells and (c') quadtree cells instead of semantic cells, each sized to about the
  same number of cells as the semantic set (fewer or more cells alone changes accuracy);
* (d) one view (heading 0) instead of four, in training and at test time;
* (e) no contrastive pretraining;
* baselines: kNN retrieval over the full model's training embeddings (GeoCLIP / Img2Loc style:
  nearest neighbour, and a geographic vote of the k nearest) and the majority cell (always the
  centroid of the most frequent training cell).

Every variant trains through ``geoloc.train.pipeline.train_bundle`` on the same SynthWorld
train + val locations (generated once; split by location via SynthWorld's ``split`` column),
with the same seed and step budget, and is evaluated on the same held-out test locations.
Several ``--seeds`` give mean +- standard deviation. Finished runs are kept in ``--work``
(``<variant>-s<seed>.json``), so a rerun resumes.

Run:  nice -n 5 .venv/bin/python benchmarks/bench_ablations.py [--scenes 3000] [--finetune-steps 600]
      [--pretrain-steps 200] [--seeds 0 1] [--out ablations.md]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from machine import machine_summary

METRIC_KEYS = ("acc@1km", "acc@25km", "acc@200km", "acc@750km", "acc@2500km", "median_km", "geoguessr_score",
               "country_acc")
LOWER_IS_BETTER = {"median_km"}

ROWS: dict[str, str] = {
    "full": "full system",
    "onehot": "(a) one-hot loss",
    "norefine": "(b) no refinement",
    "grid": "(c) grid cells",
    "quadtree": "(c') quadtree cells",
    "oneview": "(d) one view",
    "nopretrain": "(e) no contrastive pretraining",
    "knn1": "kNN retrieval, k=1",
    "knnvote": "kNN retrieval, k={k} vote",
    "majority": "majority cell",
}
TRAINED = ("full", "onehot", "grid", "quadtree", "oneview", "nopretrain")


# --------------------------------------------------------------------------- data


def synth_data(args) -> tuple[pd.DataFrame, pd.DataFrame, Path]:
    """Generate (or reuse) the SynthWorld scenes; (train + val rows, test rows, image root)."""
    from geoloc.synth import generate_dataset

    root = args.work / f"synth-{args.scenes}-{args.size}px-seed{args.data_seed}"
    t = time.perf_counter()
    m = generate_dataset(args.scenes, root, size=args.size, views=4, seed=args.data_seed, progress=args.progress)
    if args.use_scenes:
        keep = sorted(m["id"].unique())[: args.use_scenes]
        m = m[m["id"].isin(set(keep))]
    test = m["split"].astype(str) == "test"
    train, held = m[~test].reset_index(drop=True), m[test].reset_index(drop=True)
    overlap = set(train["id"]) & set(held["id"])
    if overlap:
        raise RuntimeError(f"{len(overlap)} locations are in both splits")
    print(f"[data] {train['id'].nunique()} training and {held['id'].nunique()} held-out locations x 4 views "
          f"({args.size} px) in {root} ({time.perf_counter() - t:.0f} s)", flush=True)
    return train, held, root


# --------------------------------------------------------------------------- cell sizing


def grid_count(lat: np.ndarray, lon: np.ndarray, deg: float) -> int:
    """Number of occupied ``deg``-degree grid boxes (as :func:`geoloc.cells.baselines.grid_cells`)."""
    nx, ny = math.ceil(360.0 / deg), math.ceil(180.0 / deg)
    ix = np.clip(((lon + 180.0) // deg).astype(np.int64), 0, nx - 1)
    iy = np.clip(((lat + 90.0) // deg).astype(np.int64), 0, ny - 1)
    return int(np.unique(iy * nx + ix).size)


def matched_grid_deg(lat, lon, target: int) -> float:
    """Grid side (degrees, 0.5-degree steps) whose occupied-box count is closest to ``target``."""
    cands = np.arange(1.0, 45.01, 0.5)
    counts = np.array([grid_count(lat, lon, d) for d in cands])
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


# --------------------------------------------------------------------------- runs


def settings_key(args: dict[str, Any], overrides: dict[str, Any], seed: int) -> dict[str, Any]:
    return {"scenes": args["scenes"], "use_scenes": args["use_scenes"], "size": args["size"], "data_seed": args["data_seed"], "seed": seed,
            "finetune_steps": args["finetune_steps"], "batch_size": args["batch_size"],
            "warmup_steps": args["warmup_steps"], **overrides}


def _worker_init(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def run_variant(name: str, overrides: dict[str, Any], seed: int, args: dict[str, Any]) -> dict[str, Any]:
    """Train one variant (or load its finished result) and return its evaluation dict.

    Runs in a worker process; ``args`` is a plain dict (work folder, data, budget)."""
    from geoloc.train.pipeline import train_bundle

    work = Path(args["work"])
    out_json = work / f"{name}-s{seed}.json"
    key = settings_key(args, overrides, seed)
    if out_json.is_file():
        res = json.loads(out_json.read_text())
        if res.get("settings") == key:
            print(f"[{name} seed {seed}] reusing {out_json}", flush=True)
            return res
    train = pd.read_parquet(args["train"])
    held = pd.read_parquet(args["held"])
    bundle = work / f"bundle-{name}-s{seed}"
    t, c = time.time(), time.process_time()
    print(f"[{name} seed {seed}] training with {overrides} ({time.strftime('%H:%M:%S')})", flush=True)
    pretrain_only = name == "pretrain"
    extra = {"refine": False} if pretrain_only else {}
    train_bundle(train, bundle, "synthworld-tiny", root=args["root"], progress=args["progress"], seed=seed,
                 eval_manifest=None if pretrain_only else held, eval_root=args["root"],
                 work_dir=work / f"work-{name}-s{seed}", keep_work=pretrain_only,
                 finetune_steps=0 if pretrain_only else args["finetune_steps"], batch_size=args["batch_size"],
                 warmup_steps=args["warmup_steps"], command=args["command"], **extra, **overrides)
    cfg = json.loads((bundle / "config.json").read_text())
    ev = cfg["card"].get("evaluation") or {}
    res = {"settings": key, "num_cells": cfg["geocells"]["num_cells"],
           "num_prototypes": (cfg["prototypes"] or {}).get("num_prototypes", 0),
           "wall_s": round(time.time() - t, 1), "cpu_s": round(time.process_time() - c, 1),
           "training": cfg["card"].get("training", {}),
           "refined": ev.get("refined"), "no_refinement": ev.get("no_refinement"),
           "majority_cell": ev.get("majority_cell"), "bundle": str(bundle)}
    if pretrain_only:
        res["checkpoint"] = str(work / f"work-{name}-s{seed}" / "pretrain" / "clip.safetensors")
    out_json.write_text(json.dumps(res, indent=1))
    med = (res["refined"] or {}).get("median_km", float("nan"))
    print(f"[{name} seed {seed}] {res['num_cells']} cells, {res['wall_s']:.0f} s wall, {res['cpu_s']:.0f} s CPU, "
          f"median {med:.0f} km ({time.strftime('%H:%M:%S')})", flush=True)
    return res


def baselines(full: dict[str, Any], train, held, root: Path, args) -> dict[str, dict[str, Any]]:
    """kNN retrieval (k = 1 and a k-vote) over the full model's training embeddings, and the
    majority cell, on the held-out locations; metrics as the pipeline's evaluation."""
    from geoloc.bundle import load_bundle
    from geoloc.eval import report
    from geoloc.eval.baselines import KnnRetrieval, majority_cell_baseline
    from geoloc.train.embed import embed_manifest

    bundle = load_bundle(full["bundle"])
    tr_emb, tr_lat, tr_lon, tr_ok = embed_manifest(bundle, train, root=root, views=4, cache=False,
                                                   progress=args.progress)
    te_emb, te_lat, te_lon, te_ok = embed_manifest(bundle, held, root=root, views=4, cache=False,
                                                   progress=args.progress)
    knn = KnnRetrieval(tr_emb[tr_ok], tr_lat[tr_ok], tr_lon[tr_ok], metric="l2")
    q = te_emb[te_ok]
    tl, tn = te_lat[te_ok], te_lon[te_ok]
    out = {}
    for key, (k, agg) in {"knn1": (1, "nearest"), "knnvote": (args.knn_k, "vote")}.items():
        plat, plon = knn.predict(q, k=k, aggregate=agg, vote_km=args.vote_km)
        out[key] = report(plat, plon, tl, tn, admin_from_coordinates=True).metrics
    cells = bundle.geocells.assign(tr_lat[tr_ok], tr_lon[tr_ok])
    mlat, mlon = majority_cell_baseline(cells, bundle.geocells.centroids, int(te_ok.sum()))
    out["majority"] = report(mlat, mlon, tl, tn, admin_from_coordinates=True).metrics
    return out


def label_space(geocells, lat: np.ndarray, lon: np.ndarray) -> dict[str, float]:
    """How hard a cell set makes the classification of training locations (degrees): perplexity
    (exp entropy) of their cell labels, the largest cell's share, and the median / 90th-percentile
    km from a location to its own cell's centroid (the error of a perfect classifier)."""
    from geoloc.geo.distance import haversine_km

    c = np.asarray(geocells.assign(lat, lon))
    ok = c >= 0
    cent = geocells.centroids
    p = np.bincount(c[ok], minlength=len(cent)) / max(1, int(ok.sum()))
    nz = p[p > 0]
    d = haversine_km(lat[ok], lon[ok], cent[c[ok], 0], cent[c[ok], 1])
    return {"label_perplexity": float(np.exp(-(nz * np.log(nz)).sum())), "largest_cell_share": float(p.max()),
            "median_km_to_own_centroid": float(np.median(d)), "p90_km_to_own_centroid": float(np.percentile(d, 90))}


def diagnose(res: dict[str, Any], held, root: Path, progress: bool = False, train=None) -> dict[str, Any]:
    """Why a variant scores what it scores: on the held-out locations, top-1 geocell accuracy (true
    cell = the cell the location falls in), how many distinct cells the classifier predicts, the
    share of its most predicted cell, its mean top-1 probability, and how often refinement moves the
    guess to another cell; with ``train`` rows, also :func:`label_space` of the training locations."""
    import torch

    from geoloc.bundle import load_bundle
    from geoloc.predict import Geolocator
    from geoloc.train.data import LocationImages, collate_locations, load_locations
    from geoloc.train.embed import model_transform

    bundle = load_bundle(res["bundle"])
    views = int(bundle.config["views"])
    locs = load_locations(held, root=root, views=views, what="held-out manifest")
    ds = LocationImages(locs, model_transform(bundle.model), cache=False, progress=progress)
    geo = Geolocator(bundle, device="cpu", batch_size=64)
    top, ref_cell, conf = [], [], []
    with torch.no_grad():
        for s in range(0, len(ds), 64):
            b = collate_locations([ds[i] for i in range(s, min(len(ds), s + 64))])
            emb, probs, _, _ = geo.forward(b["images"])
            top.append(probs.argmax(1))
            conf.append(probs.max(1))
            if geo.refiner is not None:
                ref_cell.append(geo.refiner.refine(emb, probs).cell)
    top_c = np.concatenate(top)
    true_c = np.asarray(bundle.geocells.assign(locs.lat, locs.lon))
    counts = np.bincount(top_c, minlength=len(bundle.geocells))
    out = {"cells": len(bundle.geocells), "cell_acc": float(np.mean(top_c == true_c)),
           "distinct_predicted_cells": int((counts > 0).sum()), "top_cell_share": float(counts.max() / top_c.size),
           "mean_top1_prob": float(np.mean(np.concatenate(conf)))}
    if ref_cell:
        rc = np.concatenate(ref_cell)
        out["refine_changes_cell"] = float(np.mean(rc != top_c))
        out["refined_cell_acc"] = float(np.mean(rc == true_c))
    if train is not None:
        first = train.groupby("id").head(1)
        out.update(label_space(bundle.geocells, first["lat"].to_numpy(np.float64), first["lon"].to_numpy(np.float64)))
    return out


def run_all(args, train, held, root: Path) -> tuple[dict[str, list[dict[str, Any]]], dict[str, Any]]:
    """Every variant for every seed on ``args.workers`` processes; returns ({row: [metrics per
    seed]}, info). The shared pretraining runs first; variants that start from it wait for it."""
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    tr_path, te_path = args.work / "train.parquet", args.work / "held.parquet"
    train.to_parquet(tr_path)
    held.to_parquet(te_path)
    plain = {"work": str(args.work), "train": str(tr_path), "held": str(te_path), "root": str(root),
             "scenes": args.scenes, "use_scenes": args.use_scenes, "size": args.size, "data_seed": args.data_seed,
             "finetune_steps": args.finetune_steps, "batch_size": args.batch_size, "progress": args.progress,
             "warmup_steps": args.warmup_steps,
             "command": " ".join(sys.argv)}
    tr_loc = train.groupby("id").head(1)
    lat, lon = tr_loc["lat"].to_numpy(), tr_loc["lon"].to_numpy()
    results: dict[tuple[str, int], dict[str, Any]] = {}
    info: dict[str, Any] = {"cells": {}, "overrides": {}, "wall_s": {}, "cpu_s": {}}
    with ProcessPoolExecutor(args.workers, mp_context=mp.get_context("spawn"), initializer=_worker_init,
                             initargs=(args.threads,)) as pool:
        pending = {}

        def submit(name: str, ov: dict[str, Any], seed: int) -> None:
            if name in args.variants or name == "pretrain":
                info["overrides"][name] = ov
                pending[pool.submit(run_variant, name, ov, seed, plain)] = (name, seed)

        for seed in args.seeds:
            if args.pretrain_steps > 0:
                submit("pretrain", {"pretrain_steps": args.pretrain_steps,
                                    "pretrain_batch_size": args.pretrain_batch_size}, seed)
            submit("nopretrain", {"pretrain_steps": 0}, seed)
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for f in done:
                name, seed = pending.pop(f)
                try:
                    res = f.result()
                except Exception as exc:  # report and go on with the other variants
                    print(f"[{name} seed {seed}] FAILED: {type(exc).__name__}: {exc}", flush=True)
                    info.setdefault("failed", {})[f"{name}-s{seed}"] = f"{type(exc).__name__}: {exc}"
                    continue
                results[(name, seed)] = res
                info["wall_s"][f"{name}-s{seed}"] = res["wall_s"]
                info["cpu_s"][f"{name}-s{seed}"] = res["cpu_s"]
                base = {"pretrain_steps": 0, "checkpoint": res.get("checkpoint")}
                if name == "pretrain":
                    submit("full", base, seed)
                    submit("onehot", {**base, "loss": "onehot"}, seed)
                    submit("oneview", {**base, "views": 1}, seed)
                if name == "full" or (name == "nopretrain" and "full" not in args.variants):
                    n = res["num_cells"]
                    ckpt = results.get(("pretrain", seed), {}).get("checkpoint")
                    base = {"pretrain_steps": 0, "checkpoint": ckpt}
                    submit("grid", {**base, "cells": "grid", "grid_deg": matched_grid_deg(lat, lon, n)}, seed)
                    submit("quadtree", {**base, "cells": "quadtree", "cell_min_size": 1,
                                        "cell_max_size": matched_quadtree_capacity(lat, lon, n)}, seed)
    runs: dict[str, list[dict[str, Any]]] = {}
    for seed in args.seeds:
        for name in TRAINED:
            res = results.get((name, seed))
            if res is None:
                continue
            info["cells"][name] = res["num_cells"]
            runs.setdefault(name, []).append(res["refined"])
            if name == "full":
                runs.setdefault("norefine", []).append(res["no_refinement"])
        full = results.get(("full", seed))
        if full is None:
            continue
        bl_json = args.work / f"baselines-s{seed}.json"
        key = [full["settings"], args.knn_k, args.vote_km]
        if bl_json.is_file() and json.loads(bl_json.read_text()).get("settings") == key:
            bl = json.loads(bl_json.read_text())["metrics"]
        else:
            bl = baselines(full, train, held, root, args)
            bl_json.write_text(json.dumps({"settings": key, "metrics": bl}))
        for k, m in bl.items():
            runs.setdefault(k, []).append(m)
    if args.diagnose:
        for (name, seed), res in sorted(results.items()):
            if name == "pretrain":
                continue
            d_json = args.work / f"diagnose-{name}-s{seed}.json"
            if d_json.is_file() and json.loads(d_json.read_text()).get("settings") == res["settings"] and \
                    "label_perplexity" in json.loads(d_json.read_text())["diagnosis"]:
                d = json.loads(d_json.read_text())["diagnosis"]
            else:
                d = diagnose(res, held, root, args.progress, train=train)
                d_json.write_text(json.dumps({"settings": res["settings"], "diagnosis": d}))
            info.setdefault("diagnosis", {})[f"{name}-s{seed}"] = d
    return runs, info


# --------------------------------------------------------------------------- table and plot


def summarise(runs: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, tuple[float, float]]]:
    """{row: {metric: (mean, std over seeds)}}"""
    out = {}
    for row, ms in runs.items():
        out[row] = {}
        for k in (*METRIC_KEYS, "n"):
            v = np.array([float(m[k]) for m in ms if m.get(k) is not None], dtype=np.float64)
            out[row][k] = (float(v.mean()) if v.size else math.nan, float(v.std(ddof=1)) if v.size > 1 else math.nan)
    return out


def fmt(key: str, mean: float, std: float) -> str:
    if math.isnan(mean):
        return "–"
    if key.startswith("acc@") or key.endswith("_acc"):
        s, sd = f"{100 * mean:.1f}", f"{100 * std:.1f}"
    elif key == "median_km":
        s, sd = f"{mean:.0f}", f"{std:.0f}"
    else:
        s, sd = f"{mean:.0f}", f"{std:.0f}"
    return s if math.isnan(std) else f"{s} ± {sd}"


def markdown(summary, labels: dict[str, str]) -> str:
    head = ["variant", "1 km %", "25 km %", "200 km %", "750 km %", "2500 km %", "median km", "GeoGuessr",
            "country %"]
    lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    full = summary.get("full")
    for row, s in summary.items():
        cells = []
        for k in METRIC_KEYS:
            txt = fmt(k, *s[k])
            if full is not None and row != "full" and not math.isnan(s[k][0]):
                beats = s[k][0] < full[k][0] if k in LOWER_IS_BETTER else s[k][0] > full[k][0]
                if beats:
                    txt = f"**{txt}**"
            cells.append(txt)
        lines.append("| " + " | ".join([labels[row], *cells]) + " |")
    return "\n".join(lines) + "\n"


def not_won(summary) -> list[str]:
    """'row: metric' pairs where a row beats the full system (mean over seeds)."""
    full = summary["full"]
    out = []
    for row, s in summary.items():
        if row == "full":
            continue
        for k in METRIC_KEYS:
            a, b = s[k][0], full[k][0]
            if not (math.isnan(a) or math.isnan(b)) and (a < b if k in LOWER_IS_BETTER else a > b):
                out.append(f"{row}: {k}")
    return out


def plot(summary, labels: dict[str, str], path: Path, title: str) -> Path:
    from matplotlib.figure import Figure

    rows = list(summary)
    fig = Figure(figsize=(12, 5.5), dpi=120)
    ax, ax2 = fig.subplots(1, 2, gridspec_kw={"width_ratios": [3, 1.2]})
    keys = ["acc@25km", "acc@200km", "acc@750km", "acc@2500km", "country_acc"]
    width = 0.8 / len(rows)
    x = np.arange(len(keys))
    colors = [f"C{i % 10}" for i in range(len(rows))]
    for i, r in enumerate(rows):
        m = np.array([summary[r][k][0] for k in keys]) * 100
        e = np.array([summary[r][k][1] for k in keys]) * 100
        ax.bar(x + (i - len(rows) / 2 + 0.5) * width, m, width, yerr=None if np.isnan(e).all() else e,
               label=labels[r], color=colors[i], edgecolor="black" if r == "full" else "none", capsize=2)
    ax.set_xticks(x, ["acc@25 km", "acc@200 km", "acc@750 km", "acc@2500 km", "country"])
    ax.set_ylabel("% of held-out locations")
    ax.legend(fontsize=7, ncol=2)
    ax.grid(axis="y", alpha=0.3)
    med = np.array([summary[r]["median_km"][0] for r in rows])
    sd = np.array([summary[r]["median_km"][1] for r in rows])
    ax2.barh(np.arange(len(rows)), med, xerr=None if np.isnan(sd).all() else sd, color=colors, capsize=2)
    ax2.set_yticks(np.arange(len(rows)), [labels[r] for r in rows], fontsize=7)
    ax2.invert_yaxis()
    ax2.set_xlabel("median error km (lower is better)")
    ax2.grid(axis="x", alpha=0.3)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path


# --------------------------------------------------------------------------- main


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenes", type=int, default=3000, help="SynthWorld locations generated (80/10/10 split)")
    ap.add_argument("--use-scenes", type=int, default=0,
                    help="use only the first N generated locations (0 = all); lets a smaller run reuse the data")
    ap.add_argument("--size", type=int, default=64, help="rendered side in pixels")
    ap.add_argument("--data-seed", type=int, default=0)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0], help="training seeds (mean ± std over them)")
    ap.add_argument("--finetune-steps", type=int, default=300)
    ap.add_argument("--pretrain-steps", type=int, default=60, help="contrastive pretraining steps (full system)")
    ap.add_argument("--batch-size", type=int, default=16, help="fine-tuning locations per step")
    ap.add_argument("--pretrain-batch-size", type=int, default=32, help="pretraining images per step")
    ap.add_argument("--warmup-steps", type=int, default=20, help="fine-tuning learning-rate warm-up steps")
    ap.add_argument("--knn-k", type=int, default=16)
    ap.add_argument("--vote-km", type=float, default=200.0, help="vote radius of the kNN vote baseline (km)")
    ap.add_argument("--variants", nargs="+", default=list(TRAINED), choices=list(TRAINED))
    ap.add_argument("--workers", type=int, default=2, help="variants trained at once (processes)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads per worker")
    ap.add_argument("--work", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "geoloc-ablations")
    ap.add_argument("--out", type=Path, default=None, help="write the Markdown table here")
    ap.add_argument("--plot", type=Path, default=None, help="write the bar chart PNG here")
    ap.add_argument("--progress", action="store_true", help="progress bars of every stage")
    ap.add_argument("--no-diagnose", dest="diagnose", action="store_false",
                    help="skip the per-variant diagnosis (cell accuracy, predicted-cell spread)")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(max(1, args.threads))
    args.work.mkdir(parents=True, exist_ok=True)
    machine = machine_summary()
    print(f"machine: {machine}", flush=True)
    t0 = time.time()
    train, held, root = synth_data(args)
    tr_loc = train.groupby("id").head(1)
    runs, info = run_all(args, train, held, root)
    order = [r for r in ROWS if r in runs]
    summary = {r: summarise({r: runs[r]})[r] for r in order}
    labels = {k: v.format(k=args.knn_k) for k, v in ROWS.items()}
    table = markdown(summary, labels)
    total = time.time() - t0
    n_held = int(summary["full"]["n"][0])
    header = (f"machine: {machine}; nproc {os.cpu_count()}\n"
              f"command: `{' '.join(sys.argv)}`\n"
              f"data: {args.use_scenes or args.scenes} SynthWorld locations x 4 views at {args.size} px (seed {args.data_seed}); "
              f"{tr_loc.shape[0]} train + val locations, {n_held} held-out test locations\n"
              f"seeds: {args.seeds}; fine-tuning {args.finetune_steps} steps x batch {args.batch_size} "
              f"(warm-up {args.warmup_steps}); "
              f"pretraining {args.pretrain_steps} steps x {args.pretrain_batch_size} images, once, shared by all but (e); "
              f"total wall {total / 60:.1f} min\n"
              f"cells: {info['cells']}; variant settings: {json.dumps(info['overrides'])}\n"
              f"wall s per run: {info['wall_s']}; CPU s per run (worker process): {info['cpu_s']}\n"
              + (f"failed runs: {info['failed']}\n" if info.get("failed") else ""))
    beaten = not_won(summary)
    if info.get("diagnosis"):
        dk = ["cells", "cell_acc", "distinct_predicted_cells", "top_cell_share", "mean_top1_prob",
              "refine_changes_cell", "refined_cell_acc", "label_perplexity", "largest_cell_share",
              "median_km_to_own_centroid", "p90_km_to_own_centroid"]
        rows = ["| run | " + " | ".join(dk) + " |", "|---|" + "---:|" * len(dk)]
        for run, d in info["diagnosis"].items():
            rows.append(f"| {run} | " + " | ".join(
                "–" if d.get(k) is None else (f"{d[k]:.3f}" if isinstance(d[k], float) else str(d[k])) for k in dk)
                + " |")
        header += "\nDiagnosis on the held-out locations (top-1 geocell of the classifier):\n\n" + "\n".join(rows) + "\n"
    text = header + "\n" + table + "\nBold: better than the full system (mean over seeds). " + (
        f"Full system not best in: {', '.join(beaten)}\n" if beaten else "The full system wins every column.\n")
    print("\n" + text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
        (args.work / "ablations.json").write_text(json.dumps({"runs": runs, "info": info}, indent=1, default=str))
        print(f"wrote {args.out}")
    if args.plot:
        plot(summary, labels, args.plot, f"PIGEON ablations on SynthWorld ({n_held} held-out locations, "
                                         f"seeds {args.seeds})")
        print(f"wrote {args.plot}")


if __name__ == "__main__":
    main()
