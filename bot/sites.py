"""Per-site knowledge: CSS selectors, URL patterns and API paths (the only per-site part of the bot).

Two sites: ``arena`` (the local game in :mod:`bot.arena`, see docs/arena.md for the contract) and
``geoguessr`` (selectors seen in public bots, FRONTENDS.md §1.2; the real site changes its markup,
so hashed CSS-module classes are matched by prefix). Everything else in :mod:`bot` is shared.
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
        parts = urlsplit(base_url)
        return f"{parts.scheme}://{parts.netloc}{self.game_api.format(token=token)}"


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
        "final_score": "[data-qa=final-score]",
        "play_again": "button[data-qa=play-again-button]",
        "start_game": "button[data-qa=start-game-button]",
    },
    hide_selectors=("[data-qa=compass]", "[data-qa=pano-zoom-in]", "[data-qa=pano-zoom-out]",
                    "[data-qa=guess-map]", "[data-qa=round-number]", "[data-qa=score]",
                    "[data-qa=timer]"),
    game_api="/api/v3/games/{token}",
    game_path=r"/game/([^/]+)/?$",
    mode_selectors={m: f"input[name=mode][value={m}]" for m in ("moving", "nm", "nmpz")},
    time_limit_input="input[name=time-limit]",
    rounds_input="input[name=rounds]",
    map_geometry=True,
    default_placer="ui",
    heading_attr="data-heading",
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
        "guess_button": "button[data-qa=perform-guess]",
        "round_number": "[data-qa=round-number]",
        "timer": "[class*=timer], [data-qa=timer]",
        "round_result": "[data-qa=close-round-result], [class*=result-layout_root]",
        "result_distance": "[class*=round-result_distance], [data-qa=round-result-distance]",
        "result_points": "[class*=round-result_points], [data-qa=round-result-points]",
        "next_round": "button[data-qa=close-round-result]",
        "final_score": "[data-qa=play-again-button], [class*=result-overlay_]",
        "play_again": "button[data-qa=play-again-button]",
        "start_game": "button[data-qa=start-game-button]",
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
)

SITES: dict[str, Site] = {"arena": ARENA, "geoguessr": GEOGUESSR}

MODES: dict[str, dict[str, bool]] = {
    "moving": {"forbidMoving": False, "forbidZooming": False, "forbidRotating": False},
    "nm": {"forbidMoving": True, "forbidZooming": False, "forbidRotating": False},
    "nmpz": {"forbidMoving": True, "forbidZooming": True, "forbidRotating": True},
}
"""GeoGuessr's game modes as API flags (FRONTENDS.md §1.3)."""


def get_site(name: str) -> Site:
    """The :class:`Site` called ``name``; GeolocError listing the known ones otherwise."""
    try:
        return SITES[name]
    except KeyError:
        raise GeolocError(f"unknown site {name!r}; known: {', '.join(SITES)}") from None


__all__ = ["ARENA", "GEOGUESSR", "MODES", "SITES", "Site", "get_site"]
