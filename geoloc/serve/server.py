"""Run the inference server with uvicorn: in the foreground (``geoloc serve``) or in a background thread.

* :func:`serve` ``(model, host, port, settings)``: load the model (any :mod:`geoloc.sources` source: bundle,
  ``hf-hub:`` bundle, zero-shot CLIP), bind, serve until SIGINT/SIGTERM.
  Shutdown is graceful: the socket stops accepting, requests in flight (queued or being predicted) are
  answered, then the process exits (``SHUTDOWN_GRACE_S`` at most).
* :func:`start_background` ``(geolocator_or_bundle, host, port=0, settings)``: the same server in a daemon
  thread (tests, the bot's ``serve_predictions``, benchmarks); returns a :class:`BackgroundServer` with
  ``url`` and ``stop()``, which is the same graceful shutdown.

The listening socket is bound here (:func:`bind`), so ``port=0`` picks a free port that is known before
the server starts.
"""

from __future__ import annotations

import socket
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from geoloc.errors import GeolocError
from geoloc.serve.app import ServeSettings, create_app

SHUTDOWN_GRACE_S = 30.0
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (``port=0``: a free one); GeolocError when it is taken.

    The socket is made with ``proto=IPPROTO_TCP`` and ``TCP_NODELAY``: asyncio disables Nagle's algorithm
    only on connections whose socket says ``IPPROTO_TCP`` (``socket.create_server`` leaves it 0), and with
    Nagle on, every answer after the first on a kept-alive connection waited ~40 ms for the client's
    delayed ACK (measured: 44 ms for ``GET /healthz``, 0.8 ms after this fix)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((host, int(port)))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise GeolocError(f"cannot listen on {host}:{port} ({exc.strerror or exc})") from None
    return sock


def base_url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def make_uvicorn(app, *, log_level: str = "warning", access_log: bool = False):
    """A ``uvicorn.Server`` for ``app`` (HTTP/1.1 with h11, no reload, graceful shutdown)."""
    import uvicorn

    config = uvicorn.Config(app, log_level=log_level, access_log=access_log, lifespan="on",
                            timeout_graceful_shutdown=SHUTDOWN_GRACE_S, server_header=False)
    return uvicorn.Server(config)


def load_model(model, device=None):
    """(predictor, what it is) of a model source: a :class:`geoloc.sources.ModelSource`, a spec string (bundle
    folder, ``hf-hub:``, ``zero-shot:``) or None (``$GEOLOC_MODEL`` / the default bundle); the label is the
    bundle folder, else the source's description."""
    from geoloc.sources import ModelSource, load_predictor

    source = model if isinstance(model, ModelSource) else ModelSource.parse(model) if model else None
    predictor = load_predictor(source, device=device)
    bundle = getattr(predictor, "bundle", None)
    return predictor, str(bundle.path) if bundle is not None and bundle.path else source.describe() if source else ""


def serve(model=None, host: str = "127.0.0.1", port: int = 8000,
          settings: ServeSettings | None = None, *, device=None, access_log: bool = False) -> None:
    """Load the model, listen on ``host:port`` and serve until SIGINT/SIGTERM (see the module docstring)."""
    if not 0 <= int(port) <= 65535:
        raise GeolocError(f"--port must be in 0..65535, got {port}")
    sock = bind(host, port)
    try:
        geo, path = load_model(model, device)
        server = make_uvicorn(create_app(geo, settings, model_path=path), log_level="info" if access_log else "warning",
                              access_log=access_log)
        if host not in LOOPBACK:
            print(f"warning: serving on {host}: other machines can reach the server", file=sys.stderr)
        s = settings or ServeSettings()
        print(f"geoloc serve: {base_url(sock)}  (model {path}; batches of up to {s.max_batch}, wait "
              f"{s.max_wait_ms:g} ms, queue {s.max_queue}; Ctrl-C stops it)", flush=True)
        server.run(sockets=[sock])
    finally:
        sock.close()


@dataclass
class BackgroundServer:
    """A server running in a daemon thread: ``url`` (base, no trailing slash), ``app`` and ``stop()``."""

    url: str
    app: object
    server: object
    thread: threading.Thread

    def stop(self, timeout: float = SHUTDOWN_GRACE_S + 5) -> None:
        """Graceful shutdown (requests in flight are answered), then wait for the thread."""
        self.server.should_exit = True
        self.thread.join(timeout)


def start_background(model, host: str = "127.0.0.1", port: int = 0, settings: ServeSettings | None = None,
                     *, device=None, timeout: float = 60.0) -> BackgroundServer:
    """Serve ``model`` (a loaded predictor, or a model source / spec / bundle folder / None for the default) in a
    daemon thread; returns once it accepts connections."""
    from geoloc.sources import ModelSource

    if isinstance(model, str | Path | ModelSource) or model is None:
        geo, path = load_model(model, device)
    else:
        geo, path = model, None
    sock = bind(host, port)
    app = create_app(geo, settings, model_path=path)
    server = make_uvicorn(app)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="geoloc-serve", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            sock.close()
            raise GeolocError(f"the inference server did not start on {base_url(sock)}")
        time.sleep(0.01)
    return BackgroundServer(url=base_url(sock), app=app, server=server, thread=thread)


__all__ = ["SHUTDOWN_GRACE_S", "BackgroundServer", "base_url", "bind", "load_model", "make_uvicorn", "serve",
           "start_background"]
