"""The arena's HTTP server: stdlib ``ThreadingHTTPServer`` over a :class:`~bot.arena.game.GameStore`.

Routes (see docs/arena.md for the JSON):

==========================================  ===================================================
``GET /``                                   lobby (mode, time limit, rounds, start button)
``GET /game/{token}``                       game page (panorama, compass, guess map, result)
``POST /api/v3/games``                      new game -> game JSON with ``token``
``GET /api/v3/games/{token}``               game JSON
``POST /api/v3/games/{token}``              guess -> game JSON
``GET /pano/{panoId}/{heading}.jpg``        one view (heading 0, 90, 180, 270)
``GET /static/{name}``                      first-party JS/CSS; ``world.json`` country outlines
``GET /api/arena``                          server info (map name, number of places, hide-answer)
==========================================  ===================================================

Client errors are JSON ``{"error", "code", "status"}`` with a 4xx status. The server binds
127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

import contextlib
import html
import json
import re
import threading
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

from bot.arena.game import ArenaError, GameStore
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


def _page(name: str, **values: str) -> bytes:
    """A static HTML template with ``{{key}}`` placeholders filled (values HTML-escaped)."""
    text = (STATIC_DIR / name).read_text(encoding="utf-8")
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
        path = urlsplit(self.path).path
        store = self.store
        try:
            if path in ("/", "/index.html"):
                self._send(200, _page("lobby.html", map=store.map.name, places=str(len(store.map))),
                           "text/html; charset=utf-8")
            elif m := _PAGE_RE.match(path):
                self._send(200, _page("game.html", token=m.group(1), **{
                    f"map_{k}": str(v) for k, v in GUESS_MAP.items()}), "text/html; charset=utf-8")
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
        try:
            if path == "/api/v3/games":
                self._json(200, self.store.create(self._body()))
            elif m := _GAME_RE.match(path):
                self._json(200, self.store.guess(m.group(1), self._body()))
            else:
                raise ArenaError(404, "not_found", f"no route POST {path}")
        except ArenaError as err:
            self._error(err)

    def _method_not_allowed(self) -> None:
        self._error(ArenaError(HTTPStatus.METHOD_NOT_ALLOWED, "method_not_allowed", f"{self.command} not allowed"))

    do_PUT = do_DELETE = do_PATCH = _method_not_allowed


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


def serve(arena_map: ArenaMap | str = "synthworld", host: str = "127.0.0.1", port: int = 0,
          hide_answer: bool = False, *, ttl_s: float = 3600.0, grace_s: float = 2.0, seed: int | None = None,
          locations: int = 50, map_seed: int = 2026, size: int = 256) -> ArenaServer:
    """Start the arena in a background thread and return at once.

    ``arena_map``: an :class:`ArenaMap`, ``"synthworld"`` (``locations`` places of seed
    ``map_seed`` at ``size`` px) or a manifest path. ``port=0`` picks a free port. ``seed`` fixes
    the round draws (default: random). Call ``.stop()`` (or use ``with``) to end it.
    """
    if isinstance(arena_map, str):
        arena_map = load_map(arena_map, locations=locations, seed=map_seed, size=size)
    store = GameStore(arena_map, hide_answer=hide_answer, ttl_s=ttl_s, grace_s=grace_s, seed=seed)
    threading.Thread(target=world_outlines_json, name="geoloc-arena-outlines", daemon=True).start()
    httpd = make_server(store, host, port)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.1},
                              name="geoloc-arena", daemon=True)
    thread.start()
    bound_host, bound_port = httpd.server_address[:2]
    shown = f"[{bound_host}]" if ":" in str(bound_host) else bound_host
    return ArenaServer(f"http://{shown}:{bound_port}", store, httpd, thread)
