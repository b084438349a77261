"""Bot benchmark: mean GeoGuessr score per game of the model player vs a random-guess player on
the local arena (hide-answer mode, SynthWorld map), per mode; seconds per round.

    .venv/bin/python benchmarks/bench_bot.py --games 20 --modes moving nm nmpz
    .venv/bin/python benchmarks/bench_bot.py --games 2 --modes nmpz --model /path/to/bundle   # quick

The model defaults to the embedded ``synthworld-tiny`` bundle (``default_model_path(build=False)``).
The random player guesses uniformly on the sphere; it captures one view per round (its guess
ignores pixels), so its seconds per round are not comparable and only the model's are reported.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import track
from rich.table import Table


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--games", type=int, default=20, help="games per mode and player")
    ap.add_argument("--modes", nargs="+", default=["moving", "nm", "nmpz"])
    ap.add_argument("--model", default=None, help="bundle folder (default: synthworld-tiny)")
    ap.add_argument("--locations", type=int, default=100, help="SynthWorld places on the arena map")
    ap.add_argument("--map-seed", type=int, default=2026)
    ap.add_argument("--seed", type=int, default=0, help="round draws and the random player")
    ap.add_argument("--log", type=Path, default=None, help="JSONL round log")
    ap.add_argument("--json", type=Path, default=None, help="write the summary here")
    ap.add_argument("--plot", type=Path, default=None, help="PNG: game-score distributions")
    ap.add_argument("--players", nargs="+", default=["model", "random"], choices=["model", "random"])
    ap.add_argument("--from-json", nargs="+", type=Path, default=None,
                    help="no games: merge these --json summaries (split runs), print, plot")
    args = ap.parse_args(argv)
    if args.from_json:
        results, meta = merge(args.from_json)
        report(Console(width=150), results, meta, args)
        return {"meta": meta, "results": results}

    from bot.arena import serve
    from bot.driver import DriverOptions, make_driver
    from bot.log import RoundLog, summarize
    from bot.player import GameSettings, Player
    from bot.predictor import GeolocatorPredictor, RandomPredictor
    from bot.sites import ARENA
    from geoloc.default_model import default_model_path

    model = (args.model or str(default_model_path(build=False))) if "model" in args.players else "none"
    console = Console(width=150)
    console.print(f"model {model}; arena: synthworld {args.locations} places (seed {args.map_seed}), hide-answer")
    srv = serve("synthworld", hide_answer=True, locations=args.locations, map_seed=args.map_seed, seed=args.seed)
    driver = make_driver(DriverOptions(headless=True, loopback_only=True, performance_log=False))
    log = RoundLog(args.log)
    model_pred = GeolocatorPredictor(model) if "model" in args.players else None
    results: dict = {}
    try:
        for mode in args.modes:
            players = [("model", model_pred, 4)] if model_pred is not None else []
            if "random" in args.players:
                players.append(("random", RandomPredictor(args.seed), 1))
            for name, pred, views in players:
                player = Player(driver, ARENA, srv.url + "/", pred, GameSettings(mode=mode, max_views=views),
                                log=log, timeout=30)
                t = time.perf_counter()
                games = [player.play_game(i + 1) for i in track(range(args.games), description=f"{mode} {name}")]
                s = summarize(games)
                scores = [g.score for g in games if g.error is None]
                s["sem_game_score"] = float(np.std(scores, ddof=1) / math.sqrt(len(scores))) if len(scores) > 1 else None
                s["game_scores"] = scores
                s["wall_s"] = time.perf_counter() - t
                s["errors"] = [g.error for g in games if g.error]
                results[f"{mode}/{name}"] = s
    finally:
        driver.quit()
        srv.stop()

    meta = {"model": model, "games": args.games, "locations": args.locations, "map_seed": args.map_seed,
            "seed": args.seed, "nproc": __import__("os").cpu_count(), "cpu": cpu_model()}
    report(console, results, meta, args)
    return {"meta": meta, "results": results}


def report(console, results: dict, meta: dict, args) -> None:
    """Print the table; write the JSON summary and the score plot when asked."""
    title = f"bot on the arena: {meta['games']} games per row (5 rounds), model {Path(meta['model']).name}"
    t = Table(title=title)
    for col in ("mode", "player", "games ok", "mean game score", "± s.e.", "mean round", "median km",
                "timeouts", "s/round", "capture s", "predict ms", "place s"):
        t.add_column(col, justify="left" if col in ("mode", "player") else "right")
    for key, s in results.items():
        mode, name = key.split("/")
        t.add_row(mode, name, f"{s['complete_games']}/{s['games']}",
                  f"{s['mean_game_score']:.0f}" if s["mean_game_score"] is not None else "-",
                  f"{s['sem_game_score']:.0f}" if s["sem_game_score"] is not None else "-",
                  f"{s['mean_round_score']:.0f}" if s["mean_round_score"] is not None else "-",
                  f"{s['median_km']:.0f}" if s["median_km"] is not None else "-", str(s["timeouts"]),
                  *(f"{s[k]:.2f}" if name == "model" and s.get(k) is not None else "-"
                    for k in ("seconds_per_round", "capture_s", "predict_ms", "place_s")))
    console.print(t)
    if args.json:
        args.json.write_text(json.dumps({"meta": meta, "results": results}, indent=1))
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(7.5, 3.8))
        keys = sorted(results, key=lambda k: (["moving", "nm", "nmpz"].index(k.split("/")[0])
                                              if k.split("/")[0] in ("moving", "nm", "nmpz") else 9, k))
        ax.boxplot([results[k]["game_scores"] or [0] for k in keys], showmeans=True)
        ax.set_xticks(range(1, len(keys) + 1), keys, rotation=20)
        ax.set_ylabel("game score (5 rounds, max 25000)")
        ax.set_title(title, fontsize=9)
        fig.tight_layout()
        fig.savefig(args.plot, dpi=120)
        console.print(f"plot -> {args.plot}")


def merge(paths: list[Path]) -> tuple[dict, dict]:
    """Combine the summaries of split runs (e.g. ``--players model`` and ``--players random``)."""
    results, meta = {}, {}
    for path in paths:
        d = json.loads(Path(path).read_text())
        results.update(d["results"])
        if d["meta"].get("model") not in (None, "none") or not meta:
            meta = d["meta"]
    return results, meta


if __name__ == "__main__":
    main()
