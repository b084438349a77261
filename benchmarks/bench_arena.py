"""Benchmark: the arena game server (bot/arena).

Measures (1) building a SynthWorld map (render + JPEG cache, then a cached restart),
(2) the outline file for the guess map, (3) HTTP latency and throughput of whole games
(create, GET, 4 view fetches and a guess per round) with ``--clients`` concurrent players,
and writes a latency histogram with ``--png``.
Run: ``.venv/bin/python benchmarks/bench_arena.py --locations 20 --size 256 --games 40 --clients 1 4 8``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from machine import machine_summary


def _call(base: str, method: str, path: str, body: object = None, timings: list | None = None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method)
    t0 = time.perf_counter()
    with urllib.request.urlopen(req, timeout=30) as resp:
        raw = resp.read()
    if timings is not None:
        timings.append((path.split("/")[1] if path.startswith("/pano") else f"{method} game", time.perf_counter() - t0))
    return raw


def _play(base: str, rounds: int, seed: int, timings: list) -> None:
    rng = np.random.default_rng(seed)
    game = json.loads(_call(base, "POST", "/api/v3/games", {"roundCount": rounds}, timings))
    token = game["token"]
    for _ in range(rounds):
        game = json.loads(_call(base, "GET", f"/api/v3/games/{token}", timings=timings))
        pano = game["rounds"][-1]["panoId"]
        for h in (0, 90, 180, 270):
            _call(base, "GET", f"/pano/{pano}/{h}.jpg", timings=timings)
        _call(base, "POST", f"/api/v3/games/{token}",
              {"lat": float(rng.uniform(-60, 60)), "lng": float(rng.uniform(-180, 180))}, timings)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--locations", type=int, default=20, help="SynthWorld places in the map")
    ap.add_argument("--size", type=int, default=256, help="view size (px)")
    ap.add_argument("--games", type=int, default=40, help="games per client count")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--clients", type=int, nargs="+", default=[1, 4, 8], help="concurrent players")
    ap.add_argument("--png", default=None, help="write a latency histogram here")
    args = ap.parse_args()

    from bot.arena import serve, synthworld_map
    from bot.arena.worldmap import world_outlines_json

    print(machine_summary())
    with tempfile.TemporaryDirectory() as cache:
        t0 = time.perf_counter()
        arena_map = synthworld_map(args.locations, size=args.size, cache_dir=cache, progress=False)
        t_build = time.perf_counter() - t0
        t0 = time.perf_counter()
        synthworld_map(args.locations, size=args.size, cache_dir=cache, progress=False)
        t_cached = time.perf_counter() - t0
    kb = np.mean([len(v) for loc in arena_map.locations for v in loc.views]) / 1024
    t0 = time.perf_counter()
    outlines = world_outlines_json.__wrapped__(0.25)
    t_outline = time.perf_counter() - t0

    print("\n| step | value |\n|---|---|")
    print(f"| SynthWorld map, {args.locations} places x 4 views at {args.size} px (first build, incl. imports) "
          f"| {t_build:.1f} s ({t_build / args.locations:.2f} s/place) |")
    print(f"| same map from the cache | {t_cached:.2f} s |")
    print(f"| mean view JPEG | {kb:.1f} kB |")
    print(f"| guess-map outlines (decode + thin 0.25 deg + JSON) | {t_outline:.2f} s, {len(outlines) / 1024:.0f} kB |")

    server = serve(arena_map, hide_answer=True)
    all_timings: dict[int, list] = {}
    print("\n| clients | games | requests | wall s | games/s | requests/s | p50 ms (game API) | p95 ms (game API) "
          "| p50 ms (view) | p95 ms (view) |\n|---|---|---|---|---|---|---|---|---|---|")
    try:
        for c in args.clients:
            timings: list = []
            lock = threading.Lock()

            def one(seed: int, timings=timings, lock=lock) -> None:
                local: list = []
                _play(server.url, args.rounds, seed, local)
                with lock:
                    timings.extend(local)

            t0 = time.perf_counter()
            with ThreadPoolExecutor(c) as pool:
                list(pool.map(one, range(args.games)))
            wall = time.perf_counter() - t0
            api = np.array([t for k, t in timings if k != "pano"]) * 1000
            view = np.array([t for k, t in timings if k == "pano"]) * 1000
            all_timings[c] = timings
            print(f"| {c} | {args.games} | {len(timings)} | {wall:.2f} | {args.games / wall:.1f} | "
                  f"{len(timings) / wall:.0f} | {np.percentile(api, 50):.1f} | {np.percentile(api, 95):.1f} | "
                  f"{np.percentile(view, 50):.1f} | {np.percentile(view, 95):.1f} |")
    finally:
        server.stop()

    if args.png:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(7, 4))
        for c, timings in all_timings.items():
            ms = np.array([t for _, t in timings]) * 1000
            ax.hist(ms, bins=np.logspace(-1, 3, 60), histtype="step", label=f"{c} client(s)")
        ax.set_xscale("log")
        ax.set_xlabel("request latency (ms)")
        ax.set_ylabel("requests")
        ax.set_title("arena: latency of game API and view requests")
        ax.legend()
        fig.tight_layout()
        fig.savefig(args.png, dpi=120)
        print(f"\nwrote {args.png}")


if __name__ == "__main__":
    main()
