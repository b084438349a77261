"""SynthWorld speed: four-view scenes per second (render only, and render + PNG files).

Prints a table: size, workers, scenes, wall seconds, scenes/s (wall), CPU ms per scene
(process time of one worker), and the scenes/s two fully available cores would give
(2 / CPU seconds per scene), which is the fair number on a shared machine.

Run:  .venv/bin/python benchmarks/bench_synth.py [--n 200 --sizes 64 128 256 --workers 1 2]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import tempfile
import time

from machine import machine_summary

from geoloc.synth.generate import generate_dataset
from geoloc.synth.locations import sample_locations
from geoloc.synth.render import HEADINGS, render_view
from geoloc.synth.scene import build_scene


def _render_chunk(task) -> float:
    rows, size = task
    c0 = time.process_time()
    for r in rows:
        scene = build_scene(r)
        for h in HEADINGS:
            render_view(scene, h, size)
    return time.process_time() - c0


def bench_render(rows: list[dict], size: int, workers: int) -> tuple[float, float]:
    """(wall seconds, total CPU seconds of the workers) to render all rows' four views."""
    chunks = [(rows[i::workers], size) for i in range(workers)]
    t0 = time.perf_counter()
    if workers == 1:
        cpu = _render_chunk(chunks[0])
    else:
        with mp.get_context("fork").Pool(workers) as pool:
            cpu = sum(pool.map(_render_chunk, chunks))
    return time.perf_counter() - t0, cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=200, help="scenes per measurement")
    ap.add_argument("--sizes", type=int, nargs="+", default=[64, 128, 256])
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--files", action="store_true", help="also time generate_dataset (PNG files + manifest)")
    args = ap.parse_args()
    print(f"machine: {machine_summary()}")
    t0 = time.perf_counter()
    locs = sample_locations(args.n, args.seed)
    print(f"sample_locations({args.n}): {time.perf_counter() - t0:.1f}s (first call loads the land mask)")
    rows = locs.to_dict("records")
    _render_chunk((rows[:5], 64))  # warm caches (styles, glyphs, rays)
    print(f"{'size':>5s} {'workers':>7s} {'scenes':>6s} {'wall s':>7s} {'scenes/s':>9s} {'CPU ms/scene':>12s} "
          f"{'2-core est. scenes/s':>20s}")
    for size in args.sizes:
        for w in args.workers:
            wall, cpu = bench_render(rows, size, w)
            per = cpu / len(rows)
            print(f"{size:5d} {w:7d} {len(rows):6d} {wall:7.2f} {len(rows) / wall:9.1f} {per * 1000:12.1f} "
                  f"{2 / per:20.1f}")
    if args.files:
        for w in args.workers:
            with tempfile.TemporaryDirectory() as tmp:
                t0 = time.perf_counter()
                generate_dataset(len(rows), tmp, size=128, seed=args.seed, workers=w, progress=False,
                                 locations=locs)
                wall = time.perf_counter() - t0
            print(f"generate_dataset 128px PNG, {w} workers: {len(rows) / wall:.1f} scenes/s (wall)")


if __name__ == "__main__":
    main()
