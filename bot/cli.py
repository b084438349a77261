"""``geoloc bot play``: play games on the local arena or GeoGuessr from pixels alone."""

from __future__ import annotations

from pathlib import Path

import typer

from geoloc.errors import GeolocError
from geoloc.frontend import (
    CALIBRATION_OPT,
    CELLS_OPT,
    CLIP_CHECKPOINT_OPT,
    MODEL_OPT,
    PRETRAINED_OPT,
    ZERO_SHOT_OPT,
    source_from_options,
)

app = typer.Typer(help="A Selenium bot that plays the local arena or GeoGuessr from pixels alone.",
                  no_args_is_help=True)


def make_predictor(model, predict_url: str | None, random_seed: int | None):
    """Random player, HTTP prediction server, or an in-process model: ``model`` is a
    :class:`geoloc.sources.ModelSource`, a spec string (bundle folder, ``hf-hub:``, ``zero-shot:``) or None
    (``$GEOLOC_MODEL`` / the default model)."""
    from bot.predictor import GeolocatorPredictor, HttpPredictor, RandomPredictor

    if random_seed is not None:
        return RandomPredictor(random_seed)
    if predict_url:
        return HttpPredictor(predict_url)
    return GeolocatorPredictor(model)


def make_player(driver, site, url: str, predictor, settings, log, timeout: float = 20.0, on_round=None):
    """The player class of ``settings.game``: Player, DuelPlayer or StreakPlayer."""
    from bot.duel import DuelPlayer
    from bot.player import Player
    from bot.streak import StreakPlayer

    cls = {"duels": DuelPlayer, "streak": StreakPlayer}.get(settings.game, Player)
    return cls(driver, site, url, predictor, settings, log, timeout=timeout, on_round=on_round)


def round_line(r) -> str:
    """One printed line per round (standard, duel or streak)."""
    head = f"game {r.game} round {r.round}" + (f"/{r.rounds}" if r.rounds else "")
    tail = f"({r.seconds:.1f} s{', timed out' if r.timed_out else ''})"
    km = "-" if r.distance_km is None else f"{r.distance_km:,.0f}"
    if r.country_pick is not None or r.country_truth is not None:
        return f"{head}: picked {r.country_pick} ({r.country_prob or 0:.2f}), was {r.country_truth}: " \
               f"{'right' if r.correct else 'wrong'}, streak {r.streak} {tail}"
    if r.multiplier is not None or r.hp_after is not None:
        mult = "?" if r.multiplier is None else f"{r.multiplier:g}"
        return (f"{head} x{mult}: {r.score} vs {r.opp_score} points, {km} km, HP {r.hp_before}->{r.hp_after} "
                f"(opponent {r.opp_hp_before}->{r.opp_hp_after}), {r.views} view(s) in a {r.budget_s or 0:.1f} s "
                f"budget {tail}")
    return f"{head}: score {r.score} distance {km} km {tail}"


@app.command()
def play(
    url: str = typer.Option(..., "--url", help="Site URL: the arena lobby, a GeoGuessr map page, or a /game/ URL."),
    site: str = typer.Option("arena", "--site", help="arena | geoguessr"),
    games: int = typer.Option(1, "--games", min=1, help="Games to play."),
    mode: str = typer.Option("moving", "--mode",
                             help="moving | nm | nmpz (a standard game), duels, or streak (country streak)."),
    movement: str = typer.Option("moving", "--movement", help="Duels and streaks: moving | nm | nmpz."),
    rounds: int = typer.Option(5, "--rounds", min=1, help="Rounds per game (arena lobby)."),
    time_limit: int = typer.Option(0, "--time-limit", min=0, help="Seconds per round, 0 = none (arena)."),
    headless: bool = typer.Option(False, "--headless", help="Run Chromium without a window."),
    model: str | None = MODEL_OPT,
    zero_shot: str | None = ZERO_SHOT_OPT,
    pretrained: str | None = PRETRAINED_OPT,
    clip_checkpoint: str | None = CLIP_CHECKPOINT_OPT,
    cells: str | None = CELLS_OPT,
    calibration: str | None = CALIBRATION_OPT,
    predict_url: str | None = typer.Option(None, "--predict-url",
                                           help="Prediction server (PIGEON protocol) instead of --model."),
    random_guess: int | None = typer.Option(None, "--random", help="Guess uniformly at random (seed)."),
    placer: str | None = typer.Option(None, "--placer", help="ui (click the map) | api (POST the guess)."),
    heading_method: str = typer.Option("compass", "--turn", help="compass | keys"),
    views: int = typer.Option(4, "--views", min=1, help="Headings captured when rotation is allowed."),
    log: Path | None = typer.Option(None, "--log", help="JSONL file: one record per round (appended)."),
    user_data_dir: str | None = typer.Option(None, "--user-data-dir", help="Existing Chromium profile."),
    cookies: Path | None = typer.Option(None, "--cookies", help="JSON cookie file for the site login."),
    window: str = typer.Option("921x1000", "--window", help="Window size WxH (px)."),
    loopback_only: bool = typer.Option(False, "--loopback-only", help="Block every non-loopback host."),
    timeout: float = typer.Option(20.0, "--timeout", help="Seconds to wait for a page state."),
    join: bool = typer.Option(False, "--join", help="Duels: join an open duel (lobby URL) instead of creating one."),
    countdown: int = typer.Option(15, "--countdown", min=1, help="Duels created: countdown after the first guess (s)."),
    health: int = typer.Option(6000, "--health", min=1, help="Duels created: HP of each player."),
    max_rounds: int = typer.Option(0, "--max-rounds", min=0, help="Duels created: round cap (0 = none)."),
    round_budget: float = typer.Option(10.0, "--round-budget", min=0.5,
                                       help="Duels: seconds the bot allows itself per round (the countdown permitting)."),
    wait_opponent: float = typer.Option(300.0, "--wait-opponent", min=1.0,
                                        help="Duels: seconds to wait for an opponent (or an open duel)."),
) -> None:
    """Play GAMES games (duels, streaks) and print a summary table; exits 1 if any game failed."""
    from rich.console import Console

    from bot.driver import DriverOptions, load_cookies, make_driver
    from bot.log import RoundLog, summary_table
    from bot.player import GameSettings
    from bot.sites import GAME_KINDS, MODES, get_site

    s = get_site(site)
    if mode not in (*MODES, *GAME_KINDS[1:]):
        raise GeolocError(f"--mode {mode!r}: use one of {', '.join((*MODES, *GAME_KINDS[1:]))}")
    if movement not in MODES:
        raise GeolocError(f"--movement {movement!r}: use one of {', '.join(MODES)}")
    game = mode if mode in GAME_KINDS else "standard"
    try:
        w, h = (int(v) for v in window.lower().split("x"))
    except ValueError:
        raise GeolocError(f"--window {window!r}: expected WIDTHxHEIGHT, e.g. 921x1000") from None
    source = source_from_options(model, zero_shot, pretrained, clip_checkpoint, cells, calibration)
    predictor = make_predictor(source, predict_url, random_guess)
    console = Console()
    driver = make_driver(DriverOptions(headless=headless, window_size=(w, h), user_data_dir=user_data_dir,
                                       loopback_only=loopback_only, performance_log=False))
    try:
        if cookies:
            n = load_cookies(driver, cookies, url)
            console.print(f"loaded {n} cookies from {cookies}")
        settings = GameSettings(mode=mode if game == "standard" else movement, time_limit=time_limit, rounds=rounds,
                                max_views=views, placer=placer, heading_method=heading_method, game=game, join=join,
                                round_time=countdown, health=health, max_rounds=max_rounds,
                                round_budget=round_budget, wait_opponent=wait_opponent)
        player = make_player(driver, s, url, predictor, settings, RoundLog(log), timeout=timeout,
                             on_round=lambda r: console.print(round_line(r)))
        records = [player.play_game(i + 1) for i in range(games)]
    finally:
        driver.quit()
    console.print(summary_table(records, title=f"{site} · {mode} · {predictor.name}"))
    failed = [g for g in records if g.error]
    if failed:
        raise GeolocError(f"{len(failed)} of {len(records)} game(s) failed: {failed[0].error}")


@app.command("serve-model")
def serve_model(
    model: str | None = MODEL_OPT,
    host: str = typer.Option("127.0.0.1", "--host"),
    port: int = typer.Option(5000, "--port"),
    zero_shot: str | None = ZERO_SHOT_OPT,
    pretrained: str | None = PRETRAINED_OPT,
    clip_checkpoint: str | None = CLIP_CHECKPOINT_OPT,
    cells: str | None = CELLS_OPT,
    calibration: str | None = CALIBRATION_OPT,
) -> None:
    """``geoloc serve`` on port 5000: PIGEON's bot protocol at POST /api/v1/predict (and every other route)."""
    from geoloc.serve.server import serve

    serve(source_from_options(model, zero_shot, pretrained, clip_checkpoint, cells, calibration), host, port)


__all__ = ["app", "make_player", "make_predictor", "round_line"]
