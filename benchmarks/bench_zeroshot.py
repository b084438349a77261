"""Benchmark of zero-shot geolocation with CLIP text prompts (geoloc.zeroshot).

Sections (pick with --sections, default all but synthworld):

* ``synthetic``: the colour task of :mod:`geoloc.zeroshot.synthetic` (K countries, two cells each):
  zero-shot country accuracy (from the cells, from the country prompts) of a random tiny CLIP and of
  the same CLIP after ``--steps`` contrastive steps, on held-out images; chance = 1/K.
* ``speed``: prompt encoding (prompts/s) and per-image predict latency (batch 1) and throughput
  (batch 32) for ``geoloc-tiny-vit`` and ``ViT-B-32`` with random weights, over ``--cells`` geocells
  (names from the gazetteer; ~4.5 prompts per cell).
* ``pretrain``: caption-pretrain a tiny CLIP on the train split (val is kept for calibration) of a SynthWorld manifest with
  ``geoloc.train.pretrain`` (PIGEON captions, InfoNCE); its ``clip.safetensors`` feeds ``synthworld``.
* ``synthworld``: a SynthWorld-pretrained CLIP (``--clip-checkpoint``, a full CLIP state dict such as
  ``geoloc.train.pretrain``'s ``clip.safetensors``) zero-shot on the held-out test split of a SynthWorld
  manifest (``--manifest``), geocells built from its train split (or ``--cells``): country accuracy and
  median km of prior-free zero-shot (plain cell prompts; all prompt levels calibrated without a prior),
  prior-fused zero-shot (default weights; weights fitted on the val split by maximum likelihood), the
  prior alone, and the majority country / cell of the train split.

Run:  .venv/bin/python benchmarks/bench_zeroshot.py [--sections synthetic,speed] [--cells 2000]
      .venv/bin/python benchmarks/bench_zeroshot.py --sections pretrain,synthworld --manifest DIR/manifest.csv \
          --pretrain-out RUN --pretrain-steps 600 --tower geoloc-tiny-vit
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

import numpy as np
import torch
from machine import machine_summary

from geoloc.predict import region_index
from geoloc.zeroshot import ZeroShotGeolocator, load_clip
from geoloc.zeroshot.prompts import cell_prompts, country_prompts
from geoloc.zeroshot.synthetic import colour_images, fit_clip


def gazetteer_cells(n: int, seed: int = 0):
    """A GeocellSet of ``n`` 0.5-degree boxes around random gazetteer places (timing only)."""
    import geopandas as gpd
    from shapely.geometry import box

    from geoloc.cells.geocell_set import GeocellSet
    from geoloc.geo.gazetteer import load_places

    df = load_places().sample(n, random_state=seed).reset_index(drop=True)
    frame = gpd.GeoDataFrame(
        {"name": df["name"], "country": df["cc"], "country_name": df["cc"], "adm1_code": df["cc"] + "-" + df["admin1"],
         "admin1": df["admin1"], "size": np.ones(n, dtype=np.int64), "lat": df["lat"], "lon": df["lon"]},
        geometry=[box(x - 0.25, y - 0.25, x + 0.25, y + 0.25) for x, y in zip(df["lon"], df["lat"], strict=True)],
        crs="EPSG:4326")
    return GeocellSet(frame, {"kind": "benchmark"}), df["name"].astype(str).tolist()


def toy_cells(k: int):
    import geopandas as gpd
    from shapely.geometry import box

    from geoloc.cells.geocell_set import GeocellSet

    names = ["France", "Japan", "Brazil", "Kenya", "Canada", "India", "Chile", "Norway"][:k]
    rows = [(f"{c} {j}", c[:3].upper(), c, f"{c[:3].upper()}-{j}", f"{c} region {j}") for c in names for j in (1, 2)]
    return GeocellSet(gpd.GeoDataFrame(
        {"name": [r[0] for r in rows], "country": [r[1] for r in rows], "country_name": [r[2] for r in rows],
         "adm1_code": [r[3] for r in rows], "admin1": [r[4] for r in rows], "size": np.ones(len(rows), dtype=np.int64),
         "lat": np.linspace(-40, 60, len(rows)), "lon": np.linspace(-150, 150, len(rows))},
        geometry=[box(x - 1, y - 1, x + 1, y + 1) for x, y in zip(np.linspace(-150, 150, len(rows)),
                                                                  np.linspace(-40, 60, len(rows)), strict=True)],
        crs="EPSG:4326"), {"kind": "toy"})


def accuracy(zs, imgs, truth_codes):
    preds = zs.predict(imgs, places=False, top_k=1)
    cells = np.mean([p.countries[0].code == t for p, t in zip(preds, truth_codes, strict=True)])
    text = np.mean([p.countries_text[0].code == t for p, t in zip(preds, truth_codes, strict=True)])
    return float(cells), float(text)


def section_synthetic(args) -> None:
    cells = toy_cells(args.countries)
    f = cells.frame
    keys, col = region_index(f["country"].astype(str).tolist())
    names = dict(zip(f["country"], f["country_name"], strict=True))
    towns = [""] * len(cells)
    cp, kp = cell_prompts(cells, towns=towns), country_prompts([names[k] for k in keys])
    rng = np.random.default_rng(args.seed)
    cell_of = rng.integers(0, len(cells), size=args.train_images)
    labels = col[cell_of]
    torch.manual_seed(args.seed)
    clip = load_clip("geoloc-tiny-vit")
    test_labels = rng.integers(0, len(keys), size=args.test_images)
    test_imgs = colour_images(test_labels, len(keys), seed=args.seed + 2)
    truth = [keys[k] for k in test_labels]
    before = accuracy(ZeroShotGeolocator(clip, cells, towns=towns, progress=False), test_imgs, truth)
    fitted = copy.deepcopy(clip)
    pixels = torch.stack([fitted.transform(im) for im in colour_images(labels, len(keys), seed=args.seed + 1)])
    t0 = time.perf_counter()
    losses = fit_clip(fitted.model, fitted.tokenizer, pixels, [cp[c] + kp[col[c]] for c in cell_of], labels,
                      steps=args.steps, progress=True)
    fit_s = time.perf_counter() - t0
    after = accuracy(ZeroShotGeolocator(fitted, cells, towns=towns, progress=False), test_imgs, truth)
    print(f"\n## synthetic colour task: {len(keys)} countries x 2 cells, {args.train_images} training images, "
          f"{args.test_images} held-out images, chance {1 / len(keys):.3f}\n")
    print("| model | steps | country acc (cells) | country acc (country prompts) | fit s | loss first -> last |")
    print("|---|---|---|---|---|---|")
    print(f"| tiny CLIP, random weights | 0 | {before[0]:.3f} | {before[1]:.3f} | - | - |")
    print(f"| tiny CLIP, fitted | {args.steps} | {after[0]:.3f} | {after[1]:.3f} | {fit_s:.1f} | "
          f"{losses[0]:.3f} -> {losses[-1]:.3f} |")


def section_speed(args) -> None:
    from PIL import Image

    cells, _ = gazetteer_cells(args.cells, args.seed)
    rng = np.random.default_rng(args.seed)
    imgs = [Image.fromarray(rng.integers(0, 255, (256, 256, 3), dtype=np.uint8)) for _ in range(32)]
    print(f"\n## speed ({args.cells} geocells, random weights, {torch.get_num_threads()} torch threads)\n")
    print("| model | prompts | encode prompts s | prompts/s | predict ms/image (batch 1) | "
          "images/s (batch 32) | classify ms/image |")
    print("|---|---|---|---|---|---|---|")
    for name in args.models.split(","):
        torch.manual_seed(0)
        clip = load_clip(name)
        t0 = time.perf_counter()
        zs = ZeroShotGeolocator(clip, cells, towns=True, progress=False, text_batch_size=256)
        enc_s = time.perf_counter() - t0
        n_prompts = sum(len(g) for g in zs.cell_prompts) + sum(len(g) for g in zs.country_prompts)
        zs.predict(imgs[:2], places=False)  # warm-up
        lat = []
        for im in imgs[: args.latency_images]:
            t = time.perf_counter()
            zs.predict(im, places=False)
            lat.append((time.perf_counter() - t) * 1e3)
        t = time.perf_counter()
        preds = zs.predict(imgs, places=False)
        thr = len(imgs) / (time.perf_counter() - t)
        cls_ms = float(np.mean([p.timings_ms["classify"] for p in preds]))
        print(f"| {name} | {n_prompts} | {enc_s:.1f} | {n_prompts / enc_s:.0f} | {np.median(lat):.1f} | "
              f"{thr:.1f} | {cls_ms:.3f} |")


def _country_and_km(zs, probs, test_lat, test_lon):
    """Country code [N] (cell probabilities summed per country) and km [N] from the top cell's point (the
    photo-density mode the predictor returns) for cell probabilities [N, C]."""
    from geoloc.geo.distance import haversine_km

    col = np.asarray(zs.country_col)
    per_country = np.zeros((len(probs), len(zs.country_keys)))
    for k in range(len(zs.country_keys)):
        per_country[:, k] = probs[:, col == k].sum(1)
    country = np.array(zs.country_keys)[per_country.argmax(1)]
    top = probs.argmax(1)
    lat, lon = (zs.refiner.lat[top], zs.refiner.lon[top]) if zs.refiner is not None else zs.centroids[top].T
    return country, haversine_km(lat, lon, test_lat, test_lon)


def section_synthworld(args) -> None:
    """Prior-fused zero-shot vs prior-free zero-shot vs the majority class, on the held-out test split; the
    fusion weights are fitted on the val split (never seen by the CLIP nor used for the cells)."""
    from geoloc.data.manifest import read_manifest
    from geoloc.zeroshot import load_geocells
    from geoloc.zeroshot.calibrate import calibrate_embeddings
    from geoloc.zeroshot.fusion import Fusion

    if not args.manifest or not args.clip_checkpoint:
        sys.exit("synthworld needs --manifest and --clip-checkpoint")
    root = Path(args.manifest).parent
    df = read_manifest(args.manifest, root=root)
    if "view" in df.columns:
        df = df[df["view"] == df["view"].min()]
    split = df["split"].astype(str)
    test = df[split == "test"].reset_index(drop=True)
    val = df[split == "val"].reset_index(drop=True)
    train = df[split == "train"].reset_index(drop=True)
    if args.test_limit:
        test = test.iloc[: args.test_limit]
    if args.cells_file:
        cells = load_geocells(args.cells_file)
    else:
        from geoloc.cells import build_geocells

        t0 = time.perf_counter()
        cells, _ = build_geocells(train["lat"].to_numpy(), train["lon"].to_numpy(), min_size=args.cell_min,
                                  max_size=args.cell_max, progress=True)
        print(f"built {len(cells)} geocells from {len(train)} train locations in {time.perf_counter() - t0:.0f} s")
    zs = ZeroShotGeolocator.from_clip(args.tower, checkpoint=args.clip_checkpoint, cells=cells, progress=True)
    zs_cells = ZeroShotGeolocator(zs.clip, cells, prior="cells", progress=False)

    def embed(frame):
        paths = [str(Path(p) if Path(p).is_absolute() else root / p) for p in frame["path"]]
        emb, errors = zs.embed(paths, views=1, progress=True)
        ok = np.array([e is None for e in errors])
        return emb[ok], frame[ok].reset_index(drop=True)

    t0 = time.perf_counter()
    emb_val, val = embed(val)
    emb_test, test = embed(test)
    embed_s = time.perf_counter() - t0
    truth = test["adm0_a3"].astype(str).to_numpy()
    t_lat, t_lon = test["lat"].to_numpy(), test["lon"].to_numpy()
    v_lat, v_lon = val["lat"].to_numpy(), val["lon"].to_numpy()

    prompts_only = Fusion.prompts_only(zs.logit_scale)
    free_cal, _ = calibrate_embeddings(zs, emb_val, v_lat, v_lon, fit=("cell", "admin1", "country"),
                                       start=Fusion(prompts_only.cell, prior_source="density"))
    free_cal = Fusion(free_cal.cell, free_cal.admin1, free_cal.country, 0.0, "density", free_cal.note)
    fused_cal, _ = calibrate_embeddings(zs, emb_val, v_lat, v_lon)
    fused_cells, _ = calibrate_embeddings(zs_cells, emb_val, v_lat, v_lon)
    rows = [
        ("zero-shot, prior-free: cell prompts, softmax at the CLIP's logit scale (the old predictor)", zs,
         prompts_only),
        ("zero-shot, prior-free: cell + admin-1 + country prompts, weights fitted on val", zs, free_cal),
        ("zero-shot + density prior, default weights (no calibration)", zs, zs.fusion),
        ("**zero-shot + density prior, weights fitted on val** (`geoloc zeroshot calibrate`)", zs, fused_cal),
        ("zero-shot + training-count prior (`--prior cells`), weights fitted on val", zs_cells, fused_cells),
        ("prior alone (density), no image", zs, Fusion(0.0, prior=1.0, prior_source="density")),
    ]
    majority = train["adm0_a3"].astype(str).value_counts().index[0]
    train_cells = cells.assign(train["lat"].to_numpy(), train["lon"].to_numpy())
    maj_cell = int(np.bincount(train_cells, minlength=len(cells)).argmax())
    maj_probs = np.zeros((len(test), len(cells)))
    maj_probs[:, maj_cell] = 1.0
    _, maj_km = _country_and_km(zs, maj_probs, t_lat, t_lon)
    print(f"\n## SynthWorld zero-shot: {len(test)} held-out test locations (1 view), fusion fitted on {len(val)} "
          f"val locations, {len(cells)} geocells from {len(train)} train locations, {len(zs.country_keys)} countries; "
          f"checkpoint {args.clip_checkpoint}; embedding val + test {embed_s:.0f} s\n")
    print("| predictor | country acc | median km | weights (cell, admin-1, country, prior) |")
    print("|---|---|---|---|")
    print(f"| majority country of the train split ({majority}) | {np.mean(truth == majority):.3f} | - | - |")
    print(f"| majority cell of the train split (cell {maj_cell}, its photo-density point) | "
          f"{np.mean(truth == zs.cell_country[maj_cell]):.3f} | {np.median(maj_km):.0f} | - |")
    for label, pred, fusion in rows:
        probs = pred.cell_probabilities(emb_test, fusion)
        country, km = _country_and_km(pred, probs, t_lat, t_lon)
        w = ", ".join(f"{x:.2f}" for x in fusion.weights())
        print(f"| {label} | {np.mean(country == truth):.3f} | {np.median(km):.0f} | {w} |")
    print(f"| (random: 1 / countries) | {1 / max(len(zs.country_keys), 1):.3f} | - | - |")
    from geoloc.eval.run import evaluate_manifest

    best = ZeroShotGeolocator(zs.clip, cells, fusion=fused_cal, progress=False)
    res = evaluate_manifest(best, test, root=root, views=1, name="zero-shot + density prior, calibrated",
                            progress=False)
    print(f"\ngeoloc.eval.run.evaluate_manifest with the calibrated predictor on the same {res.n_locations} "
          f"locations (country / admin-1 from Natural Earth lookups of both points):\n")
    print(res.report.markdown)


def section_pretrain(args) -> None:
    """Caption-pretrain a tiny CLIP on the train + val split with geoloc.train.pretrain (PIGEON captions)."""
    from geoloc.data.datasets import open_clip_transform
    from geoloc.data.manifest import read_manifest
    from geoloc.model.tower import register_model_configs
    from geoloc.train.data import LocationImages, load_locations
    from geoloc.train.presets import get_preset
    from geoloc.train.pretrain import pretrain

    if not args.manifest or not args.pretrain_out:
        sys.exit("pretrain needs --manifest and --pretrain-out")
    root = Path(args.manifest).parent
    df = read_manifest(args.manifest, root=root)
    # the train split only: val stays held out for the fusion calibration, test for the evaluation
    train = df[df["split"].astype(str) == "train"].reset_index(drop=True)
    register_model_configs()
    preset = get_preset("synthworld-tiny", views=1, pretrain_steps=args.pretrain_steps,
                        pretrain_batch_size=args.pretrain_batch, pretrain_lr=args.pretrain_lr,
                        warmup_steps=min(50, args.pretrain_steps // 10), checkpoint_every=250, tower=args.tower)
    locs = load_locations(train, root=root, views=1)
    images = LocationImages(locs, open_clip_transform(args.tower, preset.image_size), cache=True, progress=True)
    t0 = time.perf_counter()
    path = pretrain(images, preset, args.pretrain_out, progress=True)
    print(f"\npretrained {args.tower} for {args.pretrain_steps} steps (batch {args.pretrain_batch}, lr "
          f"{args.pretrain_lr}) on {len(locs)} SynthWorld train locations in {time.perf_counter() - t0:.0f} s "
          f"-> {path}")
    args.clip_checkpoint = args.clip_checkpoint or str(path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sections", default="synthetic,speed", help="comma list of synthetic, speed, synthworld")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads (1: the 2 cores are shared by several jobs; more oversubscribes)")
    ap.add_argument("--countries", type=int, default=4, help="synthetic: countries (<= 8)")
    ap.add_argument("--steps", type=int, default=40, help="synthetic: contrastive steps")
    ap.add_argument("--train-images", type=int, default=256)
    ap.add_argument("--test-images", type=int, default=200)
    ap.add_argument("--cells", type=int, default=100, help="speed: number of geocells")
    ap.add_argument("--models", default="geoloc-tiny-vit,ViT-B-32", help="speed: open_clip architectures")
    ap.add_argument("--latency-images", type=int, default=16)
    ap.add_argument("--manifest", help="synthworld: SynthWorld manifest.csv (with a split column)")
    ap.add_argument("--clip-checkpoint", help="synthworld: full CLIP checkpoint")
    ap.add_argument("--tower", default="geoloc-tiny-vit", help="synthworld: architecture of the checkpoint")
    ap.add_argument("--cells-file", help="synthworld: geocell file or bundle (default: built from the train split)")
    ap.add_argument("--cell-min", type=int, default=30)
    ap.add_argument("--cell-max", type=int, default=60)
    ap.add_argument("--test-limit", type=int, default=0, help="synthworld: evaluate only the first N test rows")
    ap.add_argument("--pretrain-out", help="pretrain: output folder (clip.safetensors)")
    ap.add_argument("--pretrain-steps", type=int, default=600)
    ap.add_argument("--pretrain-batch", type=int, default=64)
    ap.add_argument("--pretrain-lr", type=float, default=5e-4)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"machine: {machine_summary()}; torch threads {args.threads}")
    for s in args.sections.split(","):
        {"synthetic": section_synthetic, "speed": section_speed, "pretrain": section_pretrain,
         "synthworld": section_synthworld}[s.strip()](args)


if __name__ == "__main__":
    main()
