"""Benchmarks of the geography core (not timed tests).

Run: ``.venv/bin/python benchmarks/bench_geo.py`` (defaults: pairwise 1,000 x 100,000; 1M points).
Prints a table of wall-clock and CPU seconds (CPU = all threads of this process) and throughput.
On a shared machine the wall clock depends on the load; the CPU time is the steadier number.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable

import numpy as np
from machine import cpu_model


def _timed(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Best-of-``repeat`` (wall s, CPU s) of ``fn()``."""
    best_wall, best_cpu = float("inf"), float("inf")
    for _ in range(repeat):
        c0, t0 = time.process_time(), time.perf_counter()
        fn()
        best_wall = min(best_wall, time.perf_counter() - t0)
        best_cpu = min(best_cpu, time.process_time() - c0)
    return best_wall, best_cpu


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pairwise-n", type=int, default=1000, help="rows of the pairwise matrix")
    p.add_argument("--pairwise-m", type=int, default=100_000, help="columns of the pairwise matrix")
    p.add_argument("--points", type=int, default=1_000_000, help="points for the lookup benchmarks")
    p.add_argument("--repeat", type=int, default=3, help="repetitions (best is reported)")
    p.add_argument("--workers", type=int, default=None, help="threads for the pairwise matrix")
    p.add_argument("--markdown", type=str, default=None, help="also write the table to this Markdown file")
    p.add_argument("--plots", type=str, default=None, help="write accuracy plots (PNG) into this folder")
    args = p.parse_args(argv)
    if args.plots:
        for path in write_plots(args.plots):
            print(f"wrote {path}")

    from tqdm.auto import tqdm

    from geoloc.geo.boundaries import lookup_admin
    from geoloc.geo.density import sample_photo_locations
    from geoloc.geo.distance import haversine_km, pairwise_haversine_km
    from geoloc.geo.gazetteer import nearest_place
    from geoloc.geo.landsea import is_land

    rows: list[tuple[str, str, float, float, str]] = []
    rng = np.random.default_rng(0)
    n, m = args.pairwise_n, args.pairwise_m
    la, lo = rng.uniform(-90, 90, n), rng.uniform(-180, 180, n)
    lb, lob = rng.uniform(-90, 90, m), rng.uniform(-180, 180, m)

    steps = tqdm(total=9, desc="bench_geo", unit="step")

    def record(name: str, size: str, count: int, fn: Callable[[], object], repeat: int | None = None) -> None:
        wall, cpu = _timed(fn, repeat or args.repeat)
        rows.append((name, size, wall, cpu, f"{count / wall:,.0f} /s"))
        steps.update()

    record(
        "pairwise_haversine_km float32",
        f"{n:,} x {m:,}",
        n * m,
        lambda: pairwise_haversine_km(la, lo, lb, lob, workers=args.workers),
    )
    record(
        "pairwise_haversine_km float64",
        f"{n:,} x {m:,}",
        n * m,
        lambda: pairwise_haversine_km(la, lo, lb, lob, dtype=np.float64, workers=args.workers),
    )
    record(
        "pairwise float32, 1 worker",
        f"{n:,} x {m:,}",
        n * m,
        lambda: pairwise_haversine_km(la, lo, lb, lob, workers=1),
    )

    k = args.points
    holder: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def sample() -> None:
        holder["pts"] = sample_photo_locations(k, seed=0, jitter_km=5.0)

    record("sample_photo_locations (land, 5 km jitter; first call loads mask)", f"{k:,}", k, sample, repeat=1)
    lat, lon = holder["pts"]
    record("haversine_km vectorised", f"{k:,}", k, lambda: haversine_km(lat, lon, lat[::-1], lon[::-1]))
    record("is_land", f"{k:,}", k, lambda: is_land(lat, lon))
    record(
        "lookup_admin first call (loads + repairs admin-1)",
        "1",
        1,
        lambda: lookup_admin([0.0], [0.0]),
        repeat=1,
    )
    record("lookup_admin (max_km=25)", f"{k:,}", k, lambda: lookup_admin(lat, lon), repeat=1)
    nearest_place([0.0], [0.0])  # load the gazetteer and build the tree outside the timing
    record("nearest_place", f"{k:,}", k, lambda: nearest_place(lat, lon), repeat=1)
    steps.close()

    header = ("benchmark", "size", "wall s", "CPU s", "throughput (wall)")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, size, wall, cpu, thr in rows:
        lines.append(f"| {name} | {size} | {wall:.3f} | {cpu:.3f} | {thr} |")
    machine = (
        f"{os.cpu_count()} CPUs ({cpu_model()}), Python {platform.python_version()}, numpy {np.__version__}"
    )
    table = "\n".join(lines)
    print(table)
    print(f"\nmachine: {machine}")
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(f"{table}\n\nmachine: {machine}\n")


def write_plots(folder: str) -> list[str]:
    """Two PNGs: the two GeoGuessr score forms and their gap; haversine vs WGS84 geodesic error."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from geopy.distance import geodesic

    from geoloc.geo.distance import haversine_km
    from geoloc.geo.score import geoguessr_score, geoguessr_score_mapsize

    os.makedirs(folder, exist_ok=True)
    paths = []
    d = np.linspace(0, 20_000, 200_001)
    a, b = geoguessr_score(d), geoguessr_score_mapsize(d)
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(8, 6), sharex=True, height_ratios=[2, 1])
    ax1.plot(d, a, label="PIGEON / OSV-5M: round(5000 exp(-d / 1492.7))")
    ax1.plot(d, b, "--", label="map size: round(5000 exp(-10 d / 14916.862))")
    ax1.set_ylabel("points")
    ax1.legend()
    ax2.plot(d, a - b, lw=0.6, label="rounded gap")
    ax2.plot(d, 5000 * np.exp(-d / 1492.7) - geoguessr_score_mapsize(d, rounded=False), label="unrounded gap")
    ax2.set_xlabel("great-circle error (km)")
    ax2.set_ylabel("PIGEON - map size")
    ax2.legend()
    fig.tight_layout()
    paths.append(os.path.join(folder, "geo_scores.png"))
    fig.savefig(paths[-1], dpi=120)
    plt.close(fig)

    rng = np.random.default_rng(10)
    n = 3000
    lat1, lat2 = (np.degrees(np.arcsin(rng.uniform(-1, 1, n))) for _ in range(2))
    lon1, lon2 = (rng.uniform(-180, 180, n) for _ in range(2))
    h = haversine_km(lat1, lon1, lat2, lon2)
    g = np.array([geodesic((p, q), (r, s)).km for p, q, r, s in zip(lat1, lon1, lat2, lon2, strict=True)])
    fig, ax = plt.subplots(figsize=(8, 4))
    sc = ax.scatter(g, 100 * (h - g) / g, s=3, c=np.abs(lat1 + lat2) / 2, cmap="viridis")
    ax.axhline(0.5, color="r", lw=0.8)
    ax.axhline(-0.5, color="r", lw=0.8)
    ax.set_xlabel("WGS84 geodesic (km)")
    ax.set_ylabel("haversine error (%)")
    ax.set_title("Haversine (R = 6371.0088 km) vs geopy geodesic, 3,000 uniform random pairs")
    fig.colorbar(sc, label="mean |latitude| of the pair")
    fig.tight_layout()
    paths.append(os.path.join(folder, "geo_haversine_vs_geodesic.png"))
    fig.savefig(paths[-1], dpi=120)
    plt.close(fig)
    return paths


if __name__ == "__main__":
    main()
