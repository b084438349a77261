"""A minimal prediction server for the bot, PIGEON's protocol: ``POST /api/v1/predict`` with
``{image, image_2, ...}`` (base64 data URIs or plain base64) -> ``{"results": {"lat", "lng"}}``.

Binds 127.0.0.1 by default. Stdlib only (``ThreadingHTTPServer``); predictions are serialised
by a lock (one model).
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

PREDICT_PATH = "/api/v1/predict"
MAX_BODY_BYTES = 64 * 1024 * 1024


def decode_views(body: dict) -> list[bytes]:
    """The ``image``, ``image_2``, ... fields in order, decoded; ValueError on a bad one."""
    keys = ["image", *sorted((k for k in body if k.startswith("image_")), key=lambda k: int(k[6:] or 0))]
    views = []
    for k in keys:
        v = body.get(k)
        if v is None:
            continue
        if not isinstance(v, str):
            raise ValueError(f"field {k!r} must be a base64 string")
        payload = v.split(",", 1)[1] if v.startswith("data:") else v
        try:
            views.append(base64.b64decode(payload, validate=True))
        except (binascii.Error, ValueError):
            raise ValueError(f"field {k!r} is not valid base64") from None
    if not views:
        raise ValueError("no 'image' field")
    return views


@dataclass
class PredictServer:
    """A running server: ``url`` (of the predict endpoint) and ``stop()``."""

    httpd: ThreadingHTTPServer
    thread: threading.Thread

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}{PREDICT_PATH}"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


def serve_predictions(bundle: str | Path, host: str = "127.0.0.1", port: int = 0, device=None) -> PredictServer:
    """Load the bundle and serve it from a background thread."""
    from geoloc.predict import Geolocator

    geo = Geolocator.from_pretrained(bundle, device=device)
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # quiet
            pass

        def _reply(self, status: int, obj: dict) -> None:
            data = json.dumps(obj).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self):
            if self.path.split("?")[0] != PREDICT_PATH:
                return self._reply(404, {"message": f"unknown path {self.path}"})
            n = int(self.headers.get("Content-Length") or 0)
            if n <= 0 or n > MAX_BODY_BYTES:
                return self._reply(400, {"message": f"body must be 1..{MAX_BODY_BYTES} bytes"})
            try:
                body = json.loads(self.rfile.read(n))
                views = decode_views(body if isinstance(body, dict) else {})
            except (json.JSONDecodeError, ValueError) as exc:
                return self._reply(400, {"message": str(exc)})
            with lock:
                pred = geo.predict([views], views=None, top_k=1, top_regions=1, places=False)[0]
            if pred.error:
                return self._reply(422, {"message": pred.error})
            return self._reply(200, {"results": {"lat": pred.lat, "lng": pred.lon}})

    httpd = ThreadingHTTPServer((host, port), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    return PredictServer(httpd, thread)


__all__ = ["PREDICT_PATH", "PredictServer", "decode_views", "serve_predictions"]
