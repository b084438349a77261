"""Benchmark of PIGEON retrieval refinement (geoloc.refine).

Two measurements (PIGEON.md §6 gives the reference code's numbers on the same kind of machine):

1. refinement alone over a large synthetic prototype set (default 1M prototypes in 2,203 cells,
   as PIGEON's street-view geocells): ms per query at batch 1 and batch 256, torch and faiss
   backends;
2. building location-cluster prototypes with OPTICS for N training rows (default 100k).

Run:  .venv/bin/python benchmarks/bench_refine.py [--prototypes 1000000] [--dim 512] [--rows 100000]
"""

from __future__ import annotations

import argparse
import gc
import time

import numpy as np
import torch
from machine import machine_summary

from geoloc.refine import LocationPrototypes, Refiner, build_prototypes


def synthetic_prototypes(n_protos: int, n_cells: int, dim: int, members_per: int, seed: int) -> LocationPrototypes:
    """Random prototypes spread over cells (multinomial sizes), ``members_per`` members each (float16)."""
    rng = np.random.default_rng(seed)
    per_cell = rng.multinomial(n_protos, rng.dirichlet(np.full(n_cells, 5.0)))
    cell_offsets = np.r_[0, np.cumsum(per_cell)].astype(np.int64)
    cell = np.repeat(np.arange(n_cells), per_cell).astype(np.int64)
    emb = rng.standard_normal((n_protos, dim), dtype=np.float32)
    m = n_protos * members_per
    members = (np.repeat(emb, members_per, axis=0)
               + 0.3 * rng.standard_normal((m, dim), dtype=np.float32)).astype(np.float16)
    centroid = np.c_[rng.uniform(-60, 70, n_protos), rng.uniform(-180, 180, n_protos)]
    coords = np.repeat(centroid, members_per, axis=0) + rng.normal(0, 0.05, (m, 2))
    coords[:, 0] = np.clip(coords[:, 0], -90, 90)
    coords[:, 1] = np.clip(coords[:, 1], -180, 180)
    cents = np.c_[rng.uniform(-60, 70, n_cells), rng.uniform(-180, 180, n_cells)]
    return LocationPrototypes(
        embeddings=emb, cell=cell, centroid=centroid, cell_offsets=cell_offsets,
        member_offsets=np.arange(0, m + 1, members_per, dtype=np.int64), member_coords=coords,
        member_embeddings=members, member_rows=np.arange(m, dtype=np.int64), cell_centroids=cents,
        params={"normalize": False},
    )


def time_refine(refiner: Refiner, q: np.ndarray, probs: np.ndarray, batch: int, repeats: int) -> tuple[float, float]:
    """Median over ``repeats`` of (wall ms, process CPU ms) per query for batches of ``batch``.

    CPU time is reported next to wall time because the benchmark machine is shared: wall time
    includes waiting for a core, CPU time is the work done.
    """
    refiner.refine(q[:batch], probs[:batch])  # warm-up
    wall, cpu = [], []
    for r in range(repeats):
        a = (r * batch) % max(1, q.shape[0] - batch)
        c, t = time.process_time(), time.perf_counter()
        refiner.refine(q[a: a + batch], probs[a: a + batch])
        wall.append((time.perf_counter() - t) * 1e3 / batch)
        cpu.append((time.process_time() - c) * 1e3 / batch)
    return float(np.median(wall)), float(np.median(cpu))


def bench_refinement(args) -> list[tuple[str, ...]]:
    t = time.perf_counter()
    protos = synthetic_prototypes(args.prototypes, args.cells, args.dim, args.members_per, args.seed)
    print(f"synthetic prototypes: {protos.num_prototypes:,} in {protos.num_cells:,} cells, "
          f"{protos.member_rows.size:,} members, dim {protos.dim} ({time.perf_counter() - t:.1f} s)")
    rng = np.random.default_rng(args.seed + 1)
    n_q = max(512, 2 * 256)
    q = rng.standard_normal((n_q, args.dim), dtype=np.float32)
    probs = rng.dirichlet(np.full(args.cells, 0.05), size=n_q).astype(np.float32)
    rows = []
    for backend in args.backends:
        t = time.perf_counter()
        refiner = Refiner(protos, top_k=args.top_k, temperature=1.6, max_km=1000.0, backend=backend)
        setup = time.perf_counter() - t
        for batch in (1, 256):
            reps = args.repeats if batch == 1 else max(3, args.repeats // 20)
            wall, cpu = time_refine(refiner, q, probs, batch, reps)
            rows.append((f"refine {backend}", f"{protos.num_prototypes:,} protos, K={args.top_k}, D={args.dim}",
                         str(batch), f"{wall:.2f}", f"{cpu:.2f}", f"index setup {setup:.1f} s"))
            print(" | ".join(rows[-1]))
        del refiner
        gc.collect()
    return rows


def bench_build(args) -> list[tuple[str, ...]]:
    rng = np.random.default_rng(args.seed)
    n, c = args.rows, args.cells
    centers = np.c_[rng.uniform(-55, 65, c), rng.uniform(-175, 175, c)]
    cell = rng.integers(0, c, n)
    # points in a few towns per cell (PIGEON's training images cluster along roads / in towns)
    towns = rng.normal(0, 0.5, (c, 6, 2))
    town = rng.integers(0, 6, n)
    lat = np.clip(centers[cell, 0] + towns[cell, town, 0] + rng.normal(0, 0.03, n), -90, 90)
    lon = np.clip(centers[cell, 1] + towns[cell, town, 1] + rng.normal(0, 0.03, n), -180, 180)
    emb = rng.standard_normal((n, args.build_dim), dtype=np.float32)
    rows = []
    for ms, xi in ((3, 0.15),):
        t, c0 = time.perf_counter(), time.process_time()
        p = build_prototypes(cell, lat, lon, emb, c, min_samples=ms, xi=xi, progress=not args.no_progress)
        dt, dc = time.perf_counter() - t, time.process_time() - c0
        rows.append((f"build OPTICS ({ms}, {xi})", f"{n:,} rows, {c:,} cells, D={args.build_dim}", "-",
                     f"{dt:.1f} s total", f"{dc:.1f} s total",
                     f"{p.num_prototypes:,} prototypes, {p.params['n_noise_dropped']:,} noise points"))
        print(" | ".join(rows[-1]))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--prototypes", type=int, default=1_000_000)
    ap.add_argument("--cells", type=int, default=2203)
    ap.add_argument("--dim", type=int, default=512, help="embedding width for the refinement benchmark")
    ap.add_argument("--members-per", type=int, default=2, help="members per prototype (float16)")
    ap.add_argument("--top-k", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=200)
    ap.add_argument("--backends", nargs="+", default=["torch", "faiss"])
    ap.add_argument("--rows", type=int, default=100_000, help="training rows for the OPTICS build")
    ap.add_argument("--build-dim", type=int, default=1024)
    ap.add_argument("--skip-refine", action="store_true")
    ap.add_argument("--skip-build", action="store_true")
    ap.add_argument("--no-progress", action="store_true")
    ap.add_argument("--threads", type=int, default=1, help="torch and faiss (OpenMP) threads")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    import faiss

    faiss.omp_set_num_threads(args.threads)
    print(f"machine: {machine_summary()}, torch threads {torch.get_num_threads()}")
    rows = []
    if not args.skip_refine:
        rows += bench_refinement(args)
    if not args.skip_build:
        rows += bench_build(args)
    print("\n| step | size | batch | wall ms / query | CPU ms / query | notes |\n|---|---|---:|---:|---:|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")


if __name__ == "__main__":
    main()
