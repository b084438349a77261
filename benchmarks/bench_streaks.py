"""Benchmark: country streaks on SynthWorld, played in-process through the arena's streak API
(GameStore.create_streak / guess; views through GameStore.view). Players: the default model (the most
probable country of ``Prediction.countries`` summed per alpha-2, as ``geoloc bot play --mode streak``
picks), a random country, and always the most common country of SynthWorld's location prior (drawn
with another seed than the arena's places). Reports mean (95 % interval) and median streak length,
the share of right picks, and seconds per round. ``--browser-games N`` also times the real bot
(headless Chromium, StreakPlayer) for N streaks.

Run: ``.venv/bin/python benchmarks/bench_streaks.py --games 300 --locations 500 --browser-games 10``.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from pathlib import Path

import numpy as np
from gamestats import Memo, mean_ci, round_views
from machine import machine_summary
from rich.console import Console
from rich.table import Table


def play_streak(store, pick, all_headings: bool, max_rounds: int) -> tuple[int, int, float]:
    """One streak: (final streak, rounds played, seconds spent in rounds)."""
    game = store.create_streak({"forbidRotating": not all_headings})
    token = game["token"]
    t = time.perf_counter()
    while game["state"] != "finished" and game["round"] <= max_rounds:
        rnd = game["rounds"][game["round"] - 1]
        code = pick(round_views(store, rnd, all_headings))
        game = store.guess(token, {"token": token, "streakLocationCode": code, "roundNumber": game["round"]})
    return game["player"]["totalStreak"], len(game["player"]["guesses"]), time.perf_counter() - t


def most_common_country(n: int, seed: int) -> tuple[str, float]:
    """The most common country (alpha-2) of ``n`` SynthWorld prior draws, and its share."""
    from geoloc.geo.countries import country_codes
    from geoloc.synth import sample_locations

    locs = sample_locations(n, seed=seed)
    counts = Counter(c for c in country_codes(locs["lat"].to_numpy(), locs["lon"].to_numpy()) if c)
    code, k = counts.most_common(1)[0]
    return code, k / n


def browser_rounds(url: str, model: str, games: int) -> dict:
    """The real bot (StreakPlayer, UI picks, 4 views) on a live arena: seconds per round."""
    from bot.driver import DriverOptions, make_driver
    from bot.player import GameSettings
    from bot.predictor import GeolocatorPredictor
    from bot.sites import ARENA
    from bot.streak import StreakPlayer

    driver = make_driver(DriverOptions(headless=True, loopback_only=True, performance_log=False))
    try:
        player = StreakPlayer(driver, ARENA, url + "/", GeolocatorPredictor(model), GameSettings(game="streak"),
                              timeout=30)
        records = [player.play_game(i + 1) for i in range(games)]
    finally:
        driver.quit()
    rounds = [r for g in records for r in g.rounds]
    return {"games": games, "errors": [g.error for g in records if g.error], "rounds": len(rounds),
            "streaks": [g.total_score for g in records],
            "seconds_per_round": float(np.mean([r.seconds for r in rounds])) if rounds else None,
            "capture_s": float(np.mean([r.capture_s for r in rounds])) if rounds else None,
            "predict_ms": float(np.mean([r.predict_ms for r in rounds if r.predict_ms])) if rounds else None}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--games", type=int, default=300, help="streaks per player")
    ap.add_argument("--locations", type=int, default=500, help="SynthWorld places of the arena map")
    ap.add_argument("--map-seed", type=int, default=2026, help="SynthWorld seed of the places (not a training seed)")
    ap.add_argument("--prior-seed", type=int, default=1, help="seed of the prior draws for the most common country")
    ap.add_argument("--prior-n", type=int, default=5000, help="prior draws for the most common country")
    ap.add_argument("--size", type=int, default=128, help="view size (px)")
    ap.add_argument("--seed", type=int, default=0, help="round draws and the random player")
    ap.add_argument("--max-rounds", type=int, default=1000, help="stop a streak after this many rounds")
    ap.add_argument("--browser-games", type=int, default=0, help="also time the real bot for N streaks")
    ap.add_argument("--model", default=None, help="bundle (default: the shipped synthworld-tiny)")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()

    from bot.arena import GameStore, serve, synthworld_map
    from bot.predictor import ConstantCountryPredictor, GeolocatorPredictor, RandomPredictor
    from geoloc.default_model import default_model_path

    console = Console(width=150)
    console.print(f"machine: {machine_summary()}")
    model_path = args.model or str(default_model_path(build=False))
    arena_map = synthworld_map(args.locations, seed=args.map_seed, size=args.size, progress=False)
    store = GameStore(arena_map, hide_answer=True, seed=args.seed)
    codes = store.location_countries()
    common, share = most_common_country(args.prior_n, args.prior_seed)
    model = GeolocatorPredictor(model_path)
    players = {
        "model (4 views)": (Memo(lambda views: model.predict_country(views).code), True),
        "model (1 view, NMPZ)": (Memo(lambda views: model.predict_country(views).code), False),
        "random country": ((lambda p: lambda views: p.predict_country([]).code)(RandomPredictor(args.seed)), False),
        f"always {common}": ((lambda p: lambda views: p.predict_country([]).code)(ConstantCountryPredictor(common)),
                             False),
    }
    in_map = Counter(c for c in codes if c)
    console.print(f"model {model_path}; map synthworld-s{args.map_seed}: {args.locations} places, "
                  f"{sum(in_map.values())} inside a country ({len(in_map)} countries; {common}: "
                  f"{in_map.get(common, 0)}); most common country of {args.prior_n} prior draws "
                  f"(seed {args.prior_seed}): {common} ({share:.1%}); {args.games} streaks per player")
    results = {}
    for name, (pick, all_heads) in players.items():
        runs = [play_streak(store, pick, all_heads, args.max_rounds) for _ in range(args.games)]
        streaks = [s for s, _, _ in runs]
        rounds = sum(n for _, n, _ in runs)
        results[name] = {"streak": mean_ci(streaks), "median": float(np.median(streaks)), "max": max(streaks),
                         "right_share": sum(streaks) / rounds, "rounds": rounds,
                         "seconds_per_round": sum(t for _, _, t in runs) / rounds, "streaks": streaks}
    table = Table(title=f"country streaks on SynthWorld ({args.games} streaks per player, in-process API)")
    for col in ("player", "mean streak [95 % CI]", "median", "max", "right picks", "rounds", "s/round"):
        table.add_column(col, justify="left" if col == "player" else "right")
    for name, r in results.items():
        m, lo, hi = r["streak"]
        table.add_row(name, f"{m:.2f} [{lo:.2f}, {hi:.2f}]", f"{r['median']:.0f}", str(r["max"]),
                      f"{r['right_share']:.1%}", str(r["rounds"]), f"{r['seconds_per_round'] * 1e3:.1f} ms")
    console.print(table)
    if args.browser_games:
        with serve(arena_map, hide_answer=True, seed=args.seed) as srv:
            b = browser_rounds(srv.url, model_path, args.browser_games)
        results["browser bot"] = b
        console.print(f"real bot (headless Chromium, UI picks, 4 views): {b['games']} streaks, {b['rounds']} rounds, "
                      f"{b['seconds_per_round']:.2f} s/round (capture {b['capture_s']:.2f} s, model "
                      f"{b['predict_ms']:.0f} ms); streaks {b['streaks']}; errors {b['errors']}")
    console.print(f"machine after: {machine_summary()}")
    if args.json:
        args.json.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "results": results},
                                        indent=1, default=str))


if __name__ == "__main__":
    main()
