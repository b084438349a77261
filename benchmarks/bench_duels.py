"""Benchmark: duels of the default model against a random player and against itself restricted to
one view, played in-process through the arena's duel API (GameStore.create_duel / join_duel /
get_duel / guess_duel; views through GameStore.view, as the browser would load them), so hundreds of
rounds take seconds. Reports the model's win rate (95 % Wilson interval), mean rounds per duel (95 %
interval), mean points per round of each side and seconds per duel.

Run: ``.venv/bin/python benchmarks/bench_duels.py --duels 60 --locations 200``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from gamestats import Memo, mean_ci, round_views, wilson
from machine import machine_summary
from rich.console import Console
from rich.table import Table

A, B = "bench-player-a", "bench-player-b"


def play_duel(store, players, health: int, max_rounds: int) -> dict:
    """One duel between players[0] (seat 0) and players[1]; each is (guess_fn, all_headings)."""
    gid = store.create_duel({"initialHealth": health, "maxRounds": max_rounds, "roundCountdownDelay": 0}, A)["gameId"]
    duel = store.join_duel(gid, {}, B)
    while duel["status"] != "Finished":
        n = duel["currentRoundNumber"]
        pano = duel["rounds"][n - 1]["panorama"]
        for (guess, all_heads), who in zip(players, (A, B), strict=True):
            lat, lng = guess(round_views(store, pano, all_heads))
            duel = store.guess_duel(gid, {"lat": float(lat), "lng": float(lng), "roundNumber": n}, who)
    teams = duel["teams"]
    return {"rounds": duel["currentRoundNumber"], "winner": None if duel["result"]["isDraw"] else
            (0 if duel["result"]["winningTeamId"] == teams[0]["id"] else 1),
            "scores": [[r["score"] for r in t["roundResults"]] for t in teams],
            "health": [t["health"] for t in teams]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duels", type=int, default=60, help="duels per matchup (>= 50 for the record)")
    ap.add_argument("--locations", type=int, default=200, help="SynthWorld places of the arena map")
    ap.add_argument("--map-seed", type=int, default=2026, help="SynthWorld seed of the places (not a training seed)")
    ap.add_argument("--size", type=int, default=128, help="view size (px)")
    ap.add_argument("--seed", type=int, default=0, help="round draws and the random player")
    ap.add_argument("--health", type=int, default=6000)
    ap.add_argument("--max-rounds", type=int, default=100, help="safety cap (ties forever); 0 = none")
    ap.add_argument("--model", default=None, help="bundle (default: the shipped synthworld-tiny)")
    ap.add_argument("--json", type=Path, default=None, help="write the per-duel results here")
    args = ap.parse_args()

    from bot.arena import GameStore, synthworld_map
    from bot.predictor import GeolocatorPredictor, RandomPredictor
    from geoloc.default_model import default_model_path

    console = Console(width=150)
    console.print(f"machine: {machine_summary()}")
    model_path = args.model or str(default_model_path(build=False))
    arena_map = synthworld_map(args.locations, seed=args.map_seed, size=args.size, progress=False)
    store = GameStore(arena_map, hide_answer=True, seed=args.seed, duel_delay_s=0.0)
    store.location_countries()
    model = GeolocatorPredictor(model_path)
    rnd = RandomPredictor(args.seed)
    model_guess = Memo(lambda views: (lambda g: (g.lat, g.lng))(model.predict(views)))

    def random_guess(_views):
        g = rnd.predict([])
        return g.lat, g.lng

    matchups = {"model vs random": ((model_guess, True), (random_guess, False)),
                "model vs model (1 view)": ((model_guess, True), (model_guess, False))}
    console.print(f"model {model_path}; map synthworld-s{args.map_seed} ({args.locations} places, {args.size} px); "
                  f"{args.duels} duels per matchup, {args.health} HP, hide-answer, in-process duel API")
    results = {}
    for name, players in matchups.items():
        t = time.perf_counter()
        duels = [play_duel(store, players, args.health, args.max_rounds) for _ in range(args.duels)]
        secs = time.perf_counter() - t
        wins = sum(d["winner"] == 0 for d in duels)
        capped = sum(d["rounds"] >= args.max_rounds > 0 and min(d["health"]) > 0 for d in duels)
        rounds = [d["rounds"] for d in duels]
        results[name] = {
            "duels": len(duels), "wins": wins, "draws": sum(d["winner"] is None for d in duels),
            "win_rate": wins / len(duels), "win_ci": wilson(wins, len(duels)),
            "rounds": mean_ci(rounds), "median_rounds": float(np.median(rounds)), "capped": capped,
            "points_model": float(np.mean([s for d in duels for s in d["scores"][0]])),
            "points_opponent": float(np.mean([s for d in duels for s in d["scores"][1]])),
            "seconds_per_duel": secs / len(duels), "per_duel": duels}
    table = Table(title=f"duels: the default model against two opponents ({args.duels} duels each)")
    for col in ("matchup", "model wins", "win rate [95 % CI]", "rounds/duel [95 % CI]", "median rounds",
                "points/round model", "points/round opp.", "s/duel"):
        table.add_column(col, justify="left" if col == "matchup" else "right")
    for name, r in results.items():
        lo, hi = r["win_ci"]
        m, rlo, rhi = r["rounds"]
        table.add_row(name, f"{r['wins']}/{r['duels']}" + (f" ({r['draws']} draws)" if r["draws"] else ""),
                      f"{r['win_rate']:.1%} [{lo:.1%}, {hi:.1%}]", f"{m:.2f} [{rlo:.2f}, {rhi:.2f}]",
                      f"{r['median_rounds']:.0f}", f"{r['points_model']:.0f}", f"{r['points_opponent']:.0f}",
                      f"{r['seconds_per_duel']:.2f}")
    console.print(table)
    console.print(f"model calls {model_guess.calls}, of which {model_guess.hits} memoised (same place and views); "
                  f"duels capped at {args.max_rounds} rounds: {sum(r['capped'] for r in results.values())}")
    console.print(f"machine after: {machine_summary()}")
    if args.json:
        args.json.write_text(json.dumps({"args": vars(args) | {"json": str(args.json)}, "results": results},
                                        indent=1, default=str))


if __name__ == "__main__":
    main()
