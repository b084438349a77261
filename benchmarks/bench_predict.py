"""Predict speed on CPU: latency per location, refinement over 1M prototypes, batch throughput.

Three measurements, one table (issue 5, "Speed on 2 CPU cores"):

1. **Latency per location** (batch 1) through ``Geolocator.predict`` with refinement, for the
   tiny preset (``geoloc-tiny-vit``, 64 px) and ViT-B/32 with random weights (open_clip
   ``ViT-B-32``, 224 px, built locally: nothing is downloaded), 1 and 4 views, split into the
   ``Prediction.timings_ms`` parts (decode = file read + JPEG decode + preprocessing, embed,
   classify, refine) plus the wall time of the whole call (which also includes the nearest
   gazetteer place lookup of every reported point). Median over ``--repeats`` calls.
   The models' prototypes are random (``bench_refine.synthetic_prototypes``): ``--prototypes``
   of them (default 22,000, PIGEON's count) in the geocells' cells.
2. **Refinement alone over 1M prototypes** (``bench_refine``'s generator and timer, faiss and
   torch backends, batch 1 and 256; target < 5 ms per query).
3. **Batch throughput**: images per second through ``predict`` at batch 1, 8 and 32 (one view
   per location, so images = locations).

Inputs are SynthWorld street scenes rendered at ``--image-size`` px and saved as JPEG files
(the decode time is that of real files).

Run:  .venv/bin/python benchmarks/bench_predict.py [--threads 2] [--repeats 20] [--out predict.md]
"""

from __future__ import annotations

import argparse
import gc
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from bench_refine import synthetic_prototypes, time_refine
from machine import machine_summary

PRESETS = {"tiny": "geoloc-tiny-vit", "vit-b-32": "ViT-B-32"}


def make_images(n_locations: int, size: int, out_dir: Path, seed: int = 0) -> list[list[str]]:
    """Render ``n_locations`` four-view SynthWorld scenes as JPEG files; returns the paths per location."""
    from geoloc.synth import generate_scene, sample_locations

    rows = sample_locations(n_locations, seed=seed)
    out = []
    for i, (_, row) in enumerate(rows.iterrows()):
        views = generate_scene(row.to_dict(), size=size, views=4)
        paths = []
        for v, im in enumerate(views):
            p = out_dir / f"loc{i:03d}_v{v}.jpg"
            im.save(p, quality=90)
            paths.append(str(p))
        out.append(paths)
    return out


def make_geolocator(preset: str, parts: dict, n_prototypes: int, seed: int):
    """A Geolocator over an in-memory bundle: random ``preset`` tower, the parts' geocells and
    ``n_prototypes`` random prototypes of the tower's embedding width."""
    from geoloc.bundle import bundle_in_memory
    from geoloc.model import GeoModel, GeoModelConfig
    from geoloc.predict import Geolocator

    cells = parts["geocells"]
    torch.manual_seed(seed)
    model = parts["model"] if preset == "tiny" else GeoModel(GeoModelConfig(num_cells=len(cells),
                                                                           tower=PRESETS[preset]))
    protos = synthetic_prototypes(n_prototypes, len(cells), model.embed_dim, 2, seed)
    bundle = bundle_in_memory(model=model.eval(), geocells=cells, prototypes=protos, views=1,
                              card={"data": "random weights (benchmark)", "training_command": "none"})
    return Geolocator(bundle, device="cpu", batch_size=1)


def bench_latency(geo, images: list[list[str]], views: int, repeats: int) -> dict[str, float]:
    """Median per-location ms of each timing part and of the whole ``predict`` call (batch 1)."""
    geo.batch_size = 1
    item = (lambda i: [images[i % len(images)]]) if views == 4 else (lambda i: images[i % len(images)][0])
    geo.predict(item(0), views=views)                       # warm-up (gazetteer, faiss, allocator)
    parts: dict[str, list[float]] = {k: [] for k in ("decode", "embed", "classify", "refine", "total", "wall",
                                                     "cpu")}
    for r in range(repeats):
        c, t = time.process_time(), time.perf_counter()
        (p,) = geo.predict(item(r + 1), views=views)
        parts["wall"].append((time.perf_counter() - t) * 1e3)
        parts["cpu"].append((time.process_time() - c) * 1e3)
        if not p.ok:
            raise RuntimeError(f"prediction failed: {p.error}")
        for k in ("decode", "embed", "classify", "refine", "total"):
            parts[k].append(p.timings_ms[k])
    return {k: float(np.median(v)) for k, v in parts.items()}


def bench_throughput(geo, images: list[list[str]], batch: int, min_images: int) -> tuple[float, float]:
    """(images/s wall, CPU s per image) of ``predict`` over at least ``min_images`` single-view
    locations in batches of ``batch`` (after one warm-up batch)."""
    geo.batch_size = batch
    n = max(min_images, batch) // batch * batch
    items = [images[i % len(images)][i % 4] for i in range(n)]
    geo.predict(items[:batch], views=1)
    c, t = time.process_time(), time.perf_counter()
    preds = geo.predict(items, views=1)
    wall, cpu = time.perf_counter() - t, time.process_time() - c
    if not all(p.ok for p in preds):
        raise RuntimeError("a prediction failed")
    return n / wall, cpu / n


def bench_refine_1m(args) -> list[list[str]]:
    from geoloc.refine import Refiner

    t = time.perf_counter()
    protos = synthetic_prototypes(args.refine_prototypes, args.refine_cells, args.refine_dim,
                                  args.refine_members_per, args.seed)
    print(f"synthetic prototypes: {protos.num_prototypes:,} in {protos.num_cells:,} cells, dim {protos.dim} "
          f"({time.perf_counter() - t:.1f} s)", flush=True)
    rng = np.random.default_rng(args.seed + 1)
    q = rng.standard_normal((512, args.refine_dim), dtype=np.float32)
    probs = rng.dirichlet(np.full(args.refine_cells, 0.05), size=512).astype(np.float32)
    rows = []
    for backend in ("faiss", "torch"):
        refiner = Refiner(protos, top_k=5, temperature=1.6, max_km=1000.0, backend=backend)
        for batch in (1, 256):
            reps = args.refine_repeats if batch == 1 else 5
            wall, cpu = time_refine(refiner, q, probs, batch, reps)
            rows.append(["refine alone", f"{backend}, {protos.num_prototypes:,} protos, D={protos.dim}, K=5",
                         str(args.refine_members_per), str(batch), f"{wall:.2f} ms/query", f"CPU {cpu:.2f} ms/query",
                         "target < 5 ms: " + ("met" if wall < 5 else "NOT met")])
            print(" | ".join(rows[-1]), flush=True)
        del refiner
        gc.collect()
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2, help="torch and faiss threads")
    ap.add_argument("--presets", nargs="+", default=list(PRESETS), choices=list(PRESETS))
    ap.add_argument("--repeats", type=int, default=20, help="batch-1 calls per latency row")
    ap.add_argument("--locations", type=int, default=8, help="distinct four-view scenes rendered")
    ap.add_argument("--image-size", type=int, default=512, help="side of the JPEG inputs (px)")
    ap.add_argument("--points", type=int, default=3000, help="prior photo locations the geocells are built from")
    ap.add_argument("--prototypes", type=int, default=22_000, help="prototypes of the predict models")
    ap.add_argument("--batches", nargs="+", type=int, default=[1, 8, 32])
    ap.add_argument("--throughput-images", type=int, default=64, help="images per throughput row (at least)")
    ap.add_argument("--refine-prototypes", type=int, default=1_000_000)
    ap.add_argument("--refine-cells", type=int, default=2203)
    ap.add_argument("--refine-dim", type=int, default=512)
    ap.add_argument("--refine-repeats", type=int, default=100)
    ap.add_argument("--refine-members-per", type=int, default=2,
                    help="members per prototype (peak memory ~ (4 + 6 x members) GB at 1M x 512)")
    ap.add_argument("--skip-refine", action="store_true")
    ap.add_argument("--refine-only", action="store_true", help="only the 1M-prototype refinement")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=None, help="write the results Markdown here")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    import faiss

    faiss.omp_set_num_threads(args.threads)
    from geoloc.testing import tiny_bundle_parts

    machine = machine_summary()
    print(f"machine: {machine}, torch threads {torch.get_num_threads()}", flush=True)
    if args.refine_only:
        rows = bench_refine_1m(args)
        md = render(args, machine, 0, [], [], rows)
        print("\n" + md)
        if args.out:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(md)
        return
    t0 = time.perf_counter()
    parts = tiny_bundle_parts(n_points=args.points, min_size=30, max_size=60)
    print(f"geocells: {len(parts['geocells'])} cells from {args.points} points "
          f"({time.perf_counter() - t0:.1f} s)", flush=True)
    latency, throughput, refine_rows = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        images = make_images(args.locations, args.image_size, Path(tmp))
        for preset in args.presets:
            geo = make_geolocator(preset, parts, args.prototypes, args.seed)
            for views in (1, 4):
                m = bench_latency(geo, images, views, args.repeats)
                keys = ("decode", "embed", "classify", "refine", "total", "wall", "cpu")
                latency.append([preset, str(views), *(f"{m[k]:.1f}" for k in keys)])
                print("latency | " + " | ".join(latency[-1]), flush=True)
            for b in args.batches:
                ips, cpu = bench_throughput(geo, images, b, args.throughput_images)
                throughput.append([preset, str(b), f"{ips:.1f}", f"{cpu * 1e3:.1f}"])
                print("throughput | " + " | ".join(throughput[-1]), flush=True)
            del geo
            gc.collect()
    if not args.skip_refine:
        refine_rows = bench_refine_1m(args)
    md = render(args, machine, len(parts["geocells"]), latency, throughput, refine_rows)
    print("\n" + md)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(md)
        print(f"wrote {args.out}")


def render(args, machine: str, n_cells: int, latency, throughput, refine_rows) -> str:
    lines = [
        f"machine: {machine}; nproc {os.cpu_count()}; torch/faiss threads {args.threads}",
        f"inputs: {args.image_size} px JPEG SynthWorld scenes; {n_cells} geocells, "
        f"{args.prototypes:,} random prototypes per model; random weights",
        "",
        "### Latency per location (batch 1, refinement on; median of "
        f"{args.repeats} calls, ms)",
        "",
        "| model | views | decode | embed | classify | refine | sum of parts | wall (incl. place lookup) "
        "| CPU (whole call, all threads) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        *("| " + " | ".join(r) + " |" for r in latency),
        "",
        "### Batch throughput (one view per location)",
        "",
        "| model | batch | images/s (wall) | CPU ms / image |",
        "|---|---:|---:|---:|",
        *("| " + " | ".join(r) + " |" for r in throughput),
    ]
    if refine_rows:
        lines += ["", "### Refinement alone (random prototypes, PIGEON street-view settings)", "",
                  "| step | setting | members / prototype | batch | wall | CPU | target |", "|---|---|---|---:|---:|---:|---|",
                  *("| " + " | ".join(r) + " |" for r in refine_rows)]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
