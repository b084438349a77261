"""The arena's HTTP server: stdlib ``ThreadingHTTPServer`` over a :class:`~bot.arena.game.GameStore`.

Routes (see docs/arena.md for the JSON):

==========================================  ===================================================
``GET /``                                   lobby (mode, time limit, rounds, start button)
``GET /game/{token}``                       game page (panorama, compass, guess map, result);
                                            the country-streak page for a streak game
``POST /api/v3/games``                      new game -> game JSON with ``token``
``POST /api/v3/games/streak``               new country streak -> game JSON
``GET /api/v3/games/{token}``               game JSON
``POST /api/v3/games/{token}``              guess -> game JSON
``GET /streaks``                            country-streak lobby
``GET /duels``                              duel lobby (create, open duels to join)
``GET /duels/{id}``                         duel page (both HP bars, countdown, guess map)
``POST /api/duels``                         new duel (the caller is player 1) -> duel JSON
``GET /api/duels``                          duels waiting for a second player
``GET /api/duels/{id}``                     duel JSON as the caller sees it
``POST /api/duels/{id}/join``               take the second seat -> duel JSON
``POST /api/duels/{id}/guess``              ``{lat, lng, roundNumber}`` -> duel JSON
``GET /api/countries``                      ``[{code, name}]`` for country pickers
``GET /api/countries/at?lat=&lng=``         the country at a point ``{code, name}`` (404 at sea)
``GET /pano/{panoId}/{heading}.jpg``        one view (heading 0, 90, 180, 270)
``GET /static/{name}``                      first-party JS/CSS; ``world.json`` country outlines
``GET /api/arena``                          server info (map name, number of places, hide-answer)
==========================================  ===================================================

Client errors are JSON ``{"error", "code", "status"}`` with a 4xx status. The server binds
127.0.0.1 unless told otherwise.

Players of duels are told apart by the ``geoloc_player`` cookie (set on the first page or API call
that lacks it; any 8-64 URL-safe characters are accepted, so API clients may choose their own).
Two tabs of one browser share it, so two people play from two browsers (or profiles).
"""

from __future__ import annotations

import contextlib
import html
import json
import re
import secrets
import threading
from dataclasses import dataclass
from http import HTTPStatus
from http.cookies import CookieError, SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from bot.arena.game import PLAYER_RE, ArenaError, GameStore
from bot.arena.maps import ArenaMap, load_map
from bot.arena.worldmap import world_outlines_json

STATIC_DIR = Path(__file__).with_name("static")
MAX_BODY_BYTES = 64 * 1024
STATIC_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
                ".html": "text/html; charset=utf-8", ".json": "application/json"}

GUESS_MAP = {"width": 600, "height": 400, "zoom": 1.2288186904958804, "center_lat": 19.0, "center_lng": 0.0}
"""Fixed guess-map view: 600 x 400 CSS px; world width 600 px (zoom log2(600/256)), about 80 N .. 70 S."""

_GAME_RE = re.compile(r"^/api/v3/games/([A-Za-z0-9_-]{1,64})$")
_PAGE_RE = re.compile(r"^/game/([A-Za-z0-9_-]{1,64})$")
_PANO_RE = re.compile(r"^/pano/([0-9a-f]{1,64})/(-?\d{1,4})\.jpg$")
_DUEL_PAGE_RE = re.compile(r"^/duels/([A-Za-z0-9_-]{1,64})$")
_DUEL_RE = re.compile(r"^/api/duels/([A-Za-z0-9_-]{1,64})(/join|/guess)?$")
PLAYER_COOKIE = "geoloc_player"


_INCLUDE_RE = re.compile(r"\{\{> ([a-z-]+)\}\}\n?")


def _page(name: str, **values: str) -> bytes:
    """A static HTML template: ``{{> part}}`` lines replaced by ``static/_part.html`` (markup shared by
    the pages), then ``{{key}}`` placeholders filled (values HTML-escaped)."""
    text = (STATIC_DIR / name).read_text(encoding="utf-8")
    text = _INCLUDE_RE.sub(lambda m: (STATIC_DIR / f"_{m.group(1)}.html").read_text(encoding="utf-8"), text)
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", html.escape(str(value), quote=True))
    return text.encode()


class _Handler(BaseHTTPRequestHandler):
    server_version = "geoloc-arena/1"
    store: GameStore  # set on the subclass made per server

    def log_message(self, format: str, *args) -> None:
        pass

    # --------------------------------------------------------------- plumbing

    def _send(self, status: int, body: bytes, ctype: str, cache: bool = False) -> None:
        self.send_response(status)
        if getattr(self, "_new_player", None):
            self.send_header("Set-Cookie", f"{PLAYER_COOKIE}={self._new_player}; Path=/; SameSite=Lax; HttpOnly")
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "max-age=3600" if cache else "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, obj: object) -> None:
        self._send(status, json.dumps(obj, allow_nan=False).encode(), "application/json")

    def _error(self, err: ArenaError) -> None:
        self._json(err.status, err.to_json())

    def _player(self, create: bool = False) -> str | None:
        """The caller's ``geoloc_player`` cookie; with ``create``, a new one (sent with the reply) when
        it has none."""
        self._new_player = None
        jar = SimpleCookie()
        with contextlib.suppress(CookieError):
            jar.load(self.headers.get("Cookie") or "")
        value = jar[PLAYER_COOKIE].value if PLAYER_COOKIE in jar else None
        if value and PLAYER_RE.match(value):
            return value
        if create:
            self._new_player = secrets.token_urlsafe(16)
            return self._new_player
        return value

    def _html(self, name: str, **values: str) -> None:
        self._player(create=True)
        self._send(200, _page(name, **values), "text/html; charset=utf-8")

    def _body(self) -> object:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError as exc:
            raise ArenaError(400, "bad_request", "invalid Content-Length") from exc
        if length < 0:
            raise ArenaError(400, "bad_request", "invalid Content-Length")
        if length > MAX_BODY_BYTES:
            raise ArenaError(413, "body_too_large", f"request body over {MAX_BODY_BYTES} bytes")
        raw = self.rfile.read(length) if length > 0 else b""
        if not raw.strip():
            raise ArenaError(400, "bad_json", "empty body: a JSON object is required")
        try:
            return json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ArenaError(400, "bad_json", f"malformed JSON body: {exc}") from exc

    # --------------------------------------------------------------- routes

    def handle_one_request(self) -> None:
        """Any unexpected failure becomes a JSON 500 instead of a dropped connection."""
        self._new_player = None
        try:
            super().handle_one_request()
        except (ConnectionError, TimeoutError):
            self.close_connection = True
        except Exception as exc:  # a server bug: answer and keep serving
            self.close_connection = True
            with contextlib.suppress(OSError):
                self._json(500, {"error": f"internal error: {type(exc).__name__}: {exc}", "code": "internal",
                                 "status": 500})

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        path = parts.path
        store = self.store
        geometry = {f"map_{k}": str(v) for k, v in GUESS_MAP.items()}
        try:
            if path in ("/", "/index.html"):
                self._html("lobby.html", map=store.map.name, places=str(len(store.map)))
            elif path == "/streaks":
                self._html("streaks.html", map=store.map.name, places=str(len(store.map)))
            elif path == "/duels":
                self._html("duels.html", map=store.map.name, places=str(len(store.map)))
            elif m := _PAGE_RE.match(path):
                page = "streak.html" if store.mode_of(m.group(1)) == "streak" else "game.html"
                self._html(page, token=m.group(1), **geometry)
            elif m := _DUEL_PAGE_RE.match(path):
                self._html("duel.html", token=m.group(1), **geometry)
            elif path == "/api/duels":
                self._json(200, store.list_duels())
            elif m := _DUEL_RE.match(path):
                if m.group(2):
                    raise ArenaError(405, "method_not_allowed", f"GET not allowed on {path}; POST")
                self._json(200, store.get_duel(m.group(1), self._player()))
            elif path == "/api/countries":
                from geoloc.geo.countries import country_choices

                self._send(200, json.dumps(country_choices()).encode(), "application/json", cache=True)
            elif path == "/api/countries/at":
                self._json(200, _country_at(parse_qs(parts.query)))
            elif m := _GAME_RE.match(path):
                self._json(200, store.get(m.group(1)))
            elif m := _PANO_RE.match(path):
                self._send(200, store.view(m.group(1), int(m.group(2))), "image/jpeg")
            elif path == "/static/world.json":
                self._send(200, world_outlines_json(), "application/json", cache=True)
            elif path.startswith("/static/") and re.fullmatch(r"[a-z0-9_-]+\.(js|css)", path[8:]):
                file = STATIC_DIR / path[8:]
                if not file.is_file():
                    raise ArenaError(404, "not_found", f"no static file {path[8:]!r}")
                self._send(200, file.read_bytes(), STATIC_TYPES[file.suffix])
            elif path == "/api/arena":
                self._json(200, {"map": store.map.name, "places": len(store.map), "hideAnswer": store.hide_answer,
                                 "guessMap": GUESS_MAP})
            elif path == "/favicon.ico":
                self._send(204, b"", "image/x-icon")
            else:
                raise ArenaError(404, "not_found", f"no route GET {path}")
        except ArenaError as err:
            self._error(err)

    do_HEAD = do_GET

    def do_POST(self) -> None:
        path = urlsplit(self.path).path
        store = self.store
        try:
            if path == "/api/v3/games":
                self._json(200, store.create(self._body()))
            elif path == "/api/v3/games/streak":
                self._json(200, store.create_streak(self._body()))
            elif path == "/api/duels":
                self._json(200, store.create_duel(self._body(), self._player(create=True)))
            elif (m := _DUEL_RE.match(path)) and m.group(2) == "/join":
                has_body = int(self.headers.get("Content-Length") or 0) > 0
                self._json(200, store.join_duel(m.group(1), self._body() if has_body else {},
                                                self._player(create=True)))
            elif m and m.group(2) == "/guess":
                self._json(200, store.guess_duel(m.group(1), self._body(), self._player()))
            elif m := _GAME_RE.match(path):
                self._json(200, self.store.guess(m.group(1), self._body()))
            else:
                raise ArenaError(404, "not_found", f"no route POST {path}")
        except ArenaError as err:
            self._error(err)

    def _method_not_allowed(self) -> None:
        self._error(ArenaError(HTTPStatus.METHOD_NOT_ALLOWED, "method_not_allowed", f"{self.command} not allowed"))

    do_PUT = do_DELETE = do_PATCH = _method_not_allowed


def _country_at(query: dict[str, list[str]]) -> dict:
    """``/api/countries/at?lat=&lng=`` -> ``{code, name}`` of the country there (404 ``no_country`` at sea)."""
    from geoloc.geo.countries import country_codes, country_names

    try:
        lat, lng = float(query["lat"][0]), float(query["lng"][0])
    except (KeyError, IndexError, ValueError):
        raise ArenaError(400, "bad_coordinates", "give lat and lng as numbers of degrees") from None
    if not (abs(lat) <= 90 and abs(lng) <= 180):
        raise ArenaError(400, "bad_coordinates", f"{lat}, {lng} is not a point on Earth (degrees)")
    code = str(country_codes(lat, lng)[0])
    if not code:
        raise ArenaError(404, "no_country", f"{lat:.4f}, {lng:.4f} is in no country")
    return {"code": code, "name": country_names().get(code, code.upper())}


@dataclass
class ArenaServer:
    """A running arena: ``url`` (``http://host:port``), ``store`` (the games), ``stop()``."""

    url: str
    store: GameStore
    httpd: ThreadingHTTPServer
    thread: threading.Thread

    def stop(self) -> None:
        """Stop serving and close the socket (waits for the serving thread)."""
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=10)

    def __enter__(self) -> ArenaServer:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def make_server(store: GameStore, host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    """A bound (not yet serving) HTTP server over ``store``."""
    handler = type("ArenaHandler", (_Handler,), {"store": store})
    httpd = ThreadingHTTPServer((host, port), handler)
    httpd.daemon_threads = True
    return httpd


def _warm_up(store: GameStore) -> None:
    """Build the outline file and the places' countries in the background (the first streak or
    duel then starts at once)."""
    world_outlines_json()
    store.location_countries()


def serve(arena_map: ArenaMap | str = "synthworld", host: str = "127.0.0.1", port: int = 0,
          hide_answer: bool = False, *, ttl_s: float = 3600.0, grace_s: float = 2.0, seed: int | None = None,
          locations: int = 50, map_seed: int = 2026, size: int = 256, duel_delay_s: float = 3.0) -> ArenaServer:
    """Start the arena in a background thread and return at once.

    ``arena_map``: an :class:`ArenaMap`, ``"synthworld"`` (``locations`` places of seed
    ``map_seed`` at ``size`` px) or a manifest path. ``port=0`` picks a free port. ``seed`` fixes
    the round draws (default: random). ``duel_delay_s``: pause between duel rounds. Call
    ``.stop()`` (or use ``with``) to end it.
    """
    if isinstance(arena_map, str):
        arena_map = load_map(arena_map, locations=locations, seed=map_seed, size=size)
    store = GameStore(arena_map, hide_answer=hide_answer, ttl_s=ttl_s, grace_s=grace_s, seed=seed,
                      duel_delay_s=duel_delay_s)
    threading.Thread(target=_warm_up, args=(store,), name="geoloc-arena-warm-up", daemon=True).start()
    httpd = make_server(store, host, port)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.1},
                              name="geoloc-arena", daemon=True)
    thread.start()
    bound_host, bound_port = httpd.server_address[:2]
    shown = f"[{bound_host}]" if ":" in str(bound_host) else bound_host
    return ArenaServer(f"http://{shown}:{bound_port}", store, httpd, thread)
