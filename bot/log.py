"""Per-round records (JSONL, one line per round, flushed as it goes) and game summaries."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np


@dataclass
class RoundRecord:
    """One played round.

    Attributes:
        game, token, site, mode, round, rounds: which round of which game (round 1-based).
        guess_lat, guess_lng: the predictor's point (degrees; None if it never came).
        placed_lat, placed_lng: the point submitted (the clicked pixel's point for UI clicks).
        server_guess_lat, server_guess_lng: the guess as the site recorded it.
        truth_lat, truth_lng: the location, read only after the guess was in (None if hidden).
        distance_km: the site's distance (``distanceInMeters`` / 1000), else the result screen's.
        score: the site's ``roundScoreInPoints``, else the result screen's points.
        screen_distance_km, screen_points: what the result screen showed.
        timed_out: the round ended before a guess (0 points).
        views, headings: views captured and their headings (degrees, None if unknown).
        capture_s, predict_ms, place_s, seconds: time capturing the views (s), model time (ms),
            placing the guess (s), and wall time of the whole round (s).
        placer, marker_ok, stale, retries, error: how the guess went in; recovered faults; a
            message when the round failed.
        Duels: multiplier (read on the page), opp_score (the opponent's points), hp_before /
            hp_after and opp_hp_before / opp_hp_after (read on the page), damage_dealt /
            damage_taken (the result screen), hp_ok (the page's HP after the round equals what
            :mod:`geoloc.duel` gives for the two scores and the multiplier), budget_s (the time the
            bot allowed itself), countdown_s (countdown left when it started, None if not running).
        Streaks: country_pick (lowercase alpha-2), country_prob (the model's probability),
            country_truth (after the pick), correct, streak (the streak after the round).
    """

    game: int
    token: str | None
    site: str
    mode: str
    round: int
    rounds: int
    guess_lat: float | None = None
    guess_lng: float | None = None
    placed_lat: float | None = None
    placed_lng: float | None = None
    server_guess_lat: float | None = None
    server_guess_lng: float | None = None
    truth_lat: float | None = None
    truth_lng: float | None = None
    distance_km: float | None = None
    score: float | None = None
    screen_distance_km: float | None = None
    screen_points: float | None = None
    timed_out: bool = False
    views: int = 0
    headings: list = field(default_factory=list)
    capture_s: float | None = None
    predict_ms: float | None = None
    place_s: float | None = None
    seconds: float | None = None
    placer: str | None = None
    marker_ok: bool | None = None
    stale: int = 0
    retries: int = 0
    error: str | None = None
    multiplier: float | None = None
    opp_score: float | None = None
    hp_before: int | None = None
    hp_after: int | None = None
    opp_hp_before: int | None = None
    opp_hp_after: int | None = None
    damage_dealt: int | None = None
    damage_taken: int | None = None
    hp_ok: bool | None = None
    budget_s: float | None = None
    countdown_s: float | None = None
    country_pick: str | None = None
    country_prob: float | None = None
    country_truth: str | None = None
    correct: bool | None = None
    streak: int | None = None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class GameRecord:
    """A finished (or aborted) game: its rounds, the site's total, and an error if it aborted.
    ``outcome``: a duel's ``win`` / ``loss`` / ``draw``, a streak's final streak as text."""

    game: int
    token: str | None
    mode: str
    rounds: list[RoundRecord] = field(default_factory=list)
    total_score: float | None = None
    error: str | None = None
    outcome: str | None = None

    @property
    def score(self) -> float:
        """The site's total when known, else the sum of round scores."""
        if self.total_score is not None:
            return float(self.total_score)
        return float(sum(r.score or 0 for r in self.rounds))


class RoundLog:
    """Append-only JSONL log; each record is written and flushed when the round ends."""

    def __init__(self, path: str | Path | None):
        self.path = Path(path) if path else None
        if self.path:
            self.path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, rec: RoundRecord) -> None:
        if self.path is None:
            return
        with self.path.open("a") as f:
            f.write(json.dumps(rec.to_dict()) + "\n")


def read_log(path: str | Path) -> list[dict]:
    """The records of a JSONL round log."""
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def summarize(games: list[GameRecord]) -> dict:
    """Mean/median game score, mean round score, median distance (km), timeouts, errors,
    seconds per round over ``games``."""
    rounds = [r for g in games for r in g.rounds]
    scores = [g.score for g in games if g.error is None]
    return {
        "games": len(games),
        "complete_games": len(scores),
        "rounds": len(rounds),
        "mean_game_score": _mean(scores),
        "median_game_score": _median(scores),
        "mean_round_score": _mean([r.score or 0 for r in rounds]),
        "median_km": _median([r.distance_km for r in rounds]),
        "timeouts": sum(r.timed_out for r in rounds),
        "round_errors": sum(r.error is not None for r in rounds),
        "game_errors": sum(g.error is not None for g in games),
        "seconds_per_round": _mean([r.seconds for r in rounds]),
        "capture_s": _mean([r.capture_s for r in rounds]),
        "predict_ms": _mean([r.predict_ms for r in rounds]),
        "place_s": _mean([r.place_s for r in rounds]),
    }


def _known(values) -> list:
    return [x for x in values if x is not None]


def _mean(values) -> float | None:
    """Mean of the values that are not None; None if there are none."""
    v = _known(values)
    return float(np.mean(v)) if v else None


def _median(values) -> float | None:
    """Median of the values that are not None; None if there are none."""
    v = _known(values)
    return float(np.median(v)) if v else None


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def summary_table(games: list[GameRecord], title: str = "bot games"):
    """A rich Table: one row per game (rounds, total score, median km, s/round) and a mean row."""
    from rich.table import Table

    t = Table(title=title)
    for col in ("game", "mode", "rounds", "score", "outcome", "median km", "timeouts", "s/round", "error"):
        t.add_column(col, justify="right" if col not in ("mode", "outcome", "error") else "left")
    for g in games:
        s = summarize([g])
        t.add_row(str(g.game), g.mode, str(len(g.rounds)), f"{g.score:.0f}", g.outcome or "",
                  _fmt(s["median_km"], ".0f"), str(s["timeouts"]), _fmt(s["seconds_per_round"], ".1f"),
                  (g.error or "")[:60])
    s = summarize(games)
    if s["mean_game_score"] is not None:
        t.add_row("mean", "", f"{s['rounds'] / max(len(games), 1):.1f}", f"{s['mean_game_score']:.0f}", "",
                  _fmt(s["median_km"], ".0f"), str(s["timeouts"]), _fmt(s["seconds_per_round"], ".1f"), "")
    return t


__all__ = ["GameRecord", "RoundLog", "RoundRecord", "read_log", "summarize", "summary_table"]
