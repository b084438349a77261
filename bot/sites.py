"""Per-site knowledge: CSS selectors, URL patterns and API paths (the only per-site part of the bot).

Two sites: ``arena`` (the local game in :mod:`bot.arena`, see docs/arena.md for the contract) and
``geoguessr`` (selectors seen in public bots, FRONTENDS.md §1.2; the real site changes its markup,
so hashed CSS-module classes are matched by prefix). Everything else in :mod:`bot` is shared.

Three game kinds: standard games (``/game/{token}``, ``/api/v3/games/{token}``), country streaks
(the same paths; a country is picked) and duels (``/duels/{id}``, ``/api/duels/{id}`` and
``.../guess`` -- on GeoGuessr on ``game-server.geoguessr.com``, as PIGEON's extension posts them).
The geoguessr duel and streak entries are unverified against the real site (no network here).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from geoloc.errors import GeolocError


@dataclass(frozen=True)
class Site:
    """Selectors (CSS) and API paths of one game site.

    Attributes:
        name: ``arena`` or ``geoguessr``.
        selectors: role -> CSS selector (``panorama``, ``compass``, ``guess_map``, ``guess_canvas``,
            ``guess_button``, ``round_number``, ``round_result``, ``result_distance``,
            ``result_points``, ``next_round``, ``final_score``, ``play_again``, ``start_game``).
        hide_selectors: UI elements hidden (``visibility: hidden``) while the view is captured.
        game_api: path template of the game JSON (``{token}``), used for guesses by API and, after
            a round's guess is in, to read the revealed truth.
        game_path: regex on the page path capturing the game token.
        mode_selectors: mode name -> CSS selector of the lobby control that picks it (empty when
            the lobby cannot be driven, e.g. geoguessr: the map page's own settings apply).
        map_geometry: whether the guess-map canvas carries ``data-zoom`` / ``data-center-lat`` /
            ``data-center-lng`` (needed by the UI-click placer).
        default_placer: ``ui`` (click the map) or ``api`` (POST the guess).
        heading_attr: attribute on the panorama element holding the current heading (degrees),
            or None when the site does not expose it.
        duel_api: path (or absolute URL) template of a duel's JSON (``{token}``); its guesses go to
            ``duel_api + "/guess"`` as ``{lat, lng, roundNumber}``.
        duel_path: regex on the page path capturing a duel id.
        duel_lobby_fields: create-duel option -> CSS selector of its lobby input (``round_time``,
            ``health``, ``max_rounds``); empty when the lobby cannot be driven.
        streak_lobby: path of the country-streak lobby (None: reach it through ``play_streak``).
    """

    name: str
    selectors: dict[str, str]
    hide_selectors: tuple[str, ...]
    game_api: str
    game_path: str
    mode_selectors: dict[str, str] = field(default_factory=dict)
    time_limit_input: str | None = None
    rounds_input: str | None = None
    map_geometry: bool = False
    default_placer: str = "ui"
    heading_attr: str | None = None
    duel_api: str = "/api/duels/{token}"
    duel_path: str = r"/duels/([^/]+)/?$"
    duel_lobby_fields: dict[str, str] = field(default_factory=dict)
    streak_lobby: str | None = None

    def sel(self, role: str) -> str:
        """The CSS selector of ``role``; GeolocError for a role this site does not have."""
        try:
            return self.selectors[role]
        except KeyError:
            raise GeolocError(f"site {self.name!r} has no selector for {role!r}") from None

    def game_token(self, url: str) -> str | None:
        """The game token in a page URL (``/game/{token}``), or None when it is not a game page."""
        m = re.search(self.game_path, urlsplit(url).path)
        return m.group(1) if m else None

    def api_url(self, base_url: str, token: str) -> str:
        """Absolute URL of the game JSON of ``token`` on the site at ``base_url``."""
        return _absolute(base_url, self.game_api.format(token=token))

    def duel_id(self, url: str) -> str | None:
        """The duel id in a page URL (``/duels/{id}``), or None."""
        m = re.search(self.duel_path, urlsplit(url).path)
        return m.group(1) if m else None

    def duel_url(self, base_url: str, token: str, suffix: str = "") -> str:
        """Absolute URL of a duel's JSON (``suffix`` ``/guess`` for its guesses)."""
        return _absolute(base_url, self.duel_api.format(token=token) + suffix)

    def page_url(self, base_url: str, path: str) -> str:
        """Absolute URL of ``path`` on the site at ``base_url``."""
        return _absolute(base_url, path)


def _absolute(base_url: str, path_or_url: str) -> str:
    if re.match(r"^[a-z]+://", path_or_url):
        return path_or_url
    parts = urlsplit(base_url)
    return f"{parts.scheme}://{parts.netloc}{path_or_url}"


_GAME_MODE_ROLES = {
    # country streaks
    "play_streak": "a[data-qa=play-country-streak]",
    "start_streak": "button[data-qa=start-streak-game-button]",
    "country_select": "select[data-qa=country-select]",
    "streak": "[data-qa=streak]",
    "streak_answer": "[data-qa=streak-answer]",
    "streak_pick": "[data-qa=streak-pick]",
    "final_streak": "[data-qa=final-streak]",
    # duels
    "play_duels": "a[data-qa=play-duels]",
    "create_duel": "button[data-qa=create-duel-button]",
    "join_duel": "button[data-qa=join-duel-button]",
    "hp_self": "[data-qa=hp-you]",
    "hp_opponent": "[data-qa=hp-opponent]",
    "multiplier": "[data-qa=duel-multiplier]",
    "opponent_points": "[data-qa=opponent-result-points]",
    "damage_dealt": "[data-qa=damage-dealt]",
    "damage_taken": "[data-qa=damage-taken]",
    "result_hp_self": "[data-qa=result-hp-you]",
    "result_hp_opponent": "[data-qa=result-hp-opponent]",
    "duel_winner": "[data-qa=duel-winner]",
}
"""Roles of country streaks and duels: the arena's markup (docs/arena.md)."""

ARENA = Site(
    name="arena",
    selectors={
        "layout": "div.game-layout",
        "panorama": "[data-qa=panorama]",
        "panorama_img": "[data-qa=panorama] img",
        "compass": "[data-qa=compass]",
        "guess_map": "[data-qa=guess-map]",
        "guess_canvas": "canvas[data-qa=guess-map-canvas]",
        "guess_button": "button[data-qa=perform-guess]",
        "round_number": "[data-qa=round-number]",
        "timer": "[data-qa=timer]",
        "round_result": "[data-qa=round-result]",
        "result_distance": "[data-qa=round-result-distance]",
        "result_points": "[data-qa=round-result-points]",
        "next_round": "button[data-qa=close-round-result]",
        "final_score": "[data-qa=final-score], [data-qa=final-streak], [data-qa=duel-winner]",
        "play_again": "button[data-qa=play-again-button]",
        "start_game": "button[data-qa=start-game-button]",
        **_GAME_MODE_ROLES,
    },
    hide_selectors=("[data-qa=compass]", "[data-qa=pano-zoom-in]", "[data-qa=pano-zoom-out]",
                    "[data-qa=guess-map]", "[data-qa=round-number]", "[data-qa=score]",
                    "[data-qa=timer]", "[data-qa=streak]", "[data-qa=hp-bars]", "[data-qa=duel-multiplier]",
                    "[data-qa=opponent-status]"),
    game_api="/api/v3/games/{token}",
    game_path=r"/game/([^/]+)/?$",
    mode_selectors={m: f"input[name=mode][value={m}]" for m in ("moving", "nm", "nmpz")},
    time_limit_input="input[name=time-limit]",
    rounds_input="input[name=rounds]",
    map_geometry=True,
    default_placer="ui",
    heading_attr="data-heading",
    duel_api="/api/duels/{token}",
    duel_path=r"/duels/([^/]+)/?$",
    duel_lobby_fields={"round_time": "input[name=round-time]", "health": "input[name=initial-health]",
                       "max_rounds": "input[name=max-rounds]"},
    streak_lobby="/streaks",
)

GEOGUESSR = Site(
    name="geoguessr",
    selectors={
        "layout": "[class*=game-layout], [class*=game_layout]",
        "panorama": "[data-qa=panorama], #panorama-container",
        "panorama_img": "[data-qa=panorama] canvas, #panorama-container canvas",
        "compass": "[data-qa=compass]",
        "guess_map": "[data-qa=guess-map], [class*=guess-map_canvasContainer]",
        "guess_canvas": "[data-qa=guess-map-canvas], [class*=guess-map_canvas]",
        "guess_button": "button[data-qa=perform-guess], .guess-map__guess-button",
        "round_number": "[data-qa=round-number]",
        "timer": "[class*=timer], [data-qa=timer]",
        "round_result": "[data-qa=close-round-result], [class*=result-layout_root]",
        "result_distance": "[class*=round-result_distance], [data-qa=round-result-distance]",
        "result_points": "[class*=round-result_points], [data-qa=round-result-points]",
        "next_round": "button[data-qa=close-round-result]",
        "final_score": "[data-qa=play-again-button], [class*=result-overlay_]",
        "play_again": "button[data-qa=play-again-button]",
        "start_game": "button[data-qa=start-game-button]",
        # Country streaks: FRONTENDS.md §1.2 records the start link and button (mDuval1/geoguessr-bot, the
        # same data-qa as the arena's); picks go by API. No selector is recorded for the rest of the
        # streak and duel HUD: the arena's data-qa names stand in, so on the real site these read nothing
        # and the bot falls back to the game API (read only after its guess). Unverified.
        **_GAME_MODE_ROLES,
    },
    # PIGEON's extension hides these before its screenshot (FRONTENDS.md §1.1).
    hide_selectors=(".game-layout__status", ".game-layout__guess-map", ".game-layout__controls",
                    ".gmnoprint", "[class^=game_hud]", "[class^=game-panorama_controls]",
                    "[class*=guess-map]", "[data-qa=compass]", "[class*=chat]"),
    game_api="/api/v3/games/{token}",
    game_path=r"/game/([^/]+)/?$",
    map_geometry=False,  # a Google map: no zoom/centre attributes, so guesses go by API
    default_placer="api",
    heading_attr=None,
    duel_api="https://game-server.geoguessr.com/api/duels/{token}",
    duel_path=r"/(?:team-)?duels/([^/]+)/?$",
)

SITES: dict[str, Site] = {"arena": ARENA, "geoguessr": GEOGUESSR}

MODES: dict[str, dict[str, bool]] = {
    "moving": {"forbidMoving": False, "forbidZooming": False, "forbidRotating": False},
    "nm": {"forbidMoving": True, "forbidZooming": False, "forbidRotating": False},
    "nmpz": {"forbidMoving": True, "forbidZooming": True, "forbidRotating": True},
}
"""GeoGuessr's game modes as API flags (FRONTENDS.md §1.3)."""

GAME_KINDS = ("standard", "duels", "streak")
"""What ``geoloc bot play --mode`` can play besides the movement modes (standard games)."""


def get_site(name: str) -> Site:
    """The :class:`Site` called ``name``; GeolocError listing the known ones otherwise."""
    try:
        return SITES[name]
    except KeyError:
        raise GeolocError(f"unknown site {name!r}; known: {', '.join(SITES)}") from None


__all__ = ["ARENA", "GAME_KINDS", "GEOGUESSR", "MODES", "SITES", "Site", "get_site"]
