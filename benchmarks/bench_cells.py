"""Benchmark: semantic geocell build and lookup on realistic photo locations.

Points are drawn from the 100K Flickr photo prior with Gaussian jitter
(:func:`geoloc.geo.density.sample_photo_locations`). For each size the script builds
geocells, checks the invariants, and times ``GeocellSet.assign`` on ``--assign-points`` fresh
points. Run: ``.venv/bin/python benchmarks/bench_cells.py --sizes 100000 1000000``.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
from machine import cpu_model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--sizes", type=int, nargs="+", default=[100_000, 1_000_000], help="training point counts"
    )
    ap.add_argument(
        "--min-size", type=int, nargs="+", default=[30, 300], help="min cell size per --sizes entry"
    )
    ap.add_argument(
        "--max-size", type=int, nargs="+", default=[60, 600], help="max cell size per --sizes entry"
    )
    ap.add_argument(
        "--jitter-km", type=float, default=5.0, help="Gaussian jitter (km per axis) around prior photos"
    )
    ap.add_argument("--assign-points", type=int, default=1_000_000, help="points for the assign timing")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-admin2", action="store_true", help="admin-1 units only")
    ap.add_argument("--png-dir", default=None, help="write a map of each build here")
    args = ap.parse_args()

    from geoloc.cells.build import build_geocells
    from geoloc.geo.density import sample_photo_locations

    print(f"machine: {os.cpu_count()} CPUs, {cpu_model()}")
    rows = []
    for i, n in enumerate(args.sizes):
        lo = args.min_size[min(i, len(args.min_size) - 1)]
        hi = args.max_size[min(i, len(args.max_size) - 1)]
        lat, lon = sample_photo_locations(n, seed=args.seed, jitter_km=args.jitter_km, land_only=False)
        t0 = time.perf_counter()
        cells, rep = build_geocells(
            lat, lon, min_size=lo, max_size=hi, seed=args.seed, admin2=not args.no_admin2
        )
        build_s = time.perf_counter() - t0
        ok = bool(cells.sizes.sum() == n and rep.relabelled == 0)
        qlat, qlon = sample_photo_locations(
            args.assign_points, seed=args.seed + 1, jitter_km=args.jitter_km, land_only=False
        )
        cells.assign(qlat[:1000], qlon[:1000])  # build the STRtree outside the timing
        t0 = time.perf_counter()
        cells.assign(qlat, qlon)
        assign_s = time.perf_counter() - t0
        if args.png_dir:
            cells.plot(os.path.join(args.png_dir, f"cells_{n}.png"))
        sizes = cells.sizes
        rows.append(
            {
                "points": n,
                "min/max": f"{lo}/{hi}",
                "cells": len(cells),
                "build_s": round(build_s, 1),
                "size min/med/max": f"{sizes.min()}/{int(np.median(sizes))}/{sizes.max()}",
                "isolated": len(rep.isolated),
                "unsplittable": len(rep.unsplittable),
                "violations": len(rep.size_violations),
                "outside": rep.points_outside_polygons,
                "invariants": "ok" if ok else "FAIL",
                "assign_pts_per_s": int(args.assign_points / assign_s),
            }
        )
        print(rep)
        print("timings (s):", rep.timings_s)
    keys = list(rows[0])
    print("| " + " | ".join(keys) + " |")
    print("|" + "---|" * len(keys))
    for r in rows:
        print("| " + " | ".join(str(r[k]) for k in keys) + " |")


if __name__ == "__main__":
    main()
