"""A small synchronous client of ``geoloc serve`` (standard library only; one keep-alive connection).

```python
from geoloc.serve.client import Client
with Client("http://127.0.0.1:8000") as c:
    doc = c.predict([open("a.jpg", "rb").read()], request_id="a")       # JSON, base64
    doc = c.predict_files({"image": [("a.jpg", data)]})                  # multipart upload
    doc["predictions"][0]["lat"], doc["id"]
```

Every call returns the decoded JSON body; a non-2xx answer raises :class:`ServerError` with the status,
the server's one-line message and the ``Retry-After`` seconds (503). Not thread-safe: one per thread.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import uuid
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from geoloc.errors import GeolocError


class ServerError(GeolocError):
    """A non-2xx answer: ``status``, the server's message, ``retry_after`` seconds (or None)."""

    def __init__(self, status: int, message: str, retry_after: float | None = None):
        super().__init__(f"HTTP {status}: {message}")
        self.status, self.message, self.retry_after = int(status), message, retry_after


def multipart_body(files: dict[str, Sequence[tuple[str, bytes]]], fields: dict[str, str] | None = None
                   ) -> tuple[bytes, str]:
    """(body, Content-Type) of a multipart/form-data upload: ``files[field] = [(file name, bytes), ...]``."""
    boundary = uuid.uuid4().hex
    parts: list[bytes] = []
    for name, value in (fields or {}).items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    for name, items in files.items():
        for filename, data in items:
            head = (f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                    "Content-Type: application/octet-stream\r\n\r\n")
            parts.append(head.encode() + bytes(data) + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


class Client:
    """One keep-alive HTTP/1.1 connection to a ``geoloc serve`` base URL (``http://host:port``)."""

    def __init__(self, base_url: str, timeout: float = 60.0):
        u = urlsplit(base_url)
        if u.scheme != "http" or not u.hostname:
            raise GeolocError(f"server URL must be http://host:port, got {base_url!r}")
        self.host, self.port, self.timeout = u.hostname, u.port or 80, timeout
        self._conn: http.client.HTTPConnection | None = None

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        """(status, headers (lower-case names), body); reconnects once if the kept-alive connection closed."""
        for attempt in (0, 1):
            if self._conn is None:
                self._conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            try:
                # the server may answer before reading the whole body (413): then read that answer
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self._conn.request(method, path, body=body, headers=headers or {})
                r = self._conn.getresponse()
                data = r.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self.close()  # a kept-alive connection the server had closed: one new connection
                if attempt:
                    raise
                continue
            out_headers = {k.lower(): v for k, v in r.getheaders()}
            if out_headers.get("connection", "").lower() == "close":
                self.close()
            return r.status, out_headers, data
        raise AssertionError("unreachable")

    def _json(self, method: str, path: str, body: bytes | None = None, ctype: str | None = None,
              headers: dict[str, str] | None = None) -> Any:
        h = dict(headers or {})
        if ctype:
            h["Content-Type"] = ctype
        status, out_headers, data = self.request(method, path, body, h)
        try:
            doc = json.loads(data) if data else None
        except json.JSONDecodeError:
            doc = None
        if not 200 <= status < 300:
            msg = (doc.get("error") or doc.get("message")) if isinstance(doc, dict) else None
            retry = out_headers.get("retry-after")
            raise ServerError(status, msg or data[:200].decode("utf-8", "replace"),
                              float(retry) if retry and retry.replace(".", "", 1).isdigit() else None)
        return doc

    def health(self) -> dict:
        return self._json("GET", "/healthz")

    def model(self) -> dict:
        return self._json("GET", "/v1/model")

    def metrics(self) -> str:
        return self.request("GET", "/metrics")[2].decode("utf-8")

    def predict(self, images: Sequence[bytes] | None = None, *, locations: Sequence[Sequence[bytes]] | None = None,
                request_id: str | None = None, top_k: int = 5, layout: str = "auto",
                views: int | None = None) -> dict:
        """``POST /v1/predict`` as JSON: ``images`` (one location each) or ``locations`` (views of each);
        ``layout`` / ``views`` as in ``Geolocator.predict``."""
        doc: dict[str, Any] = {"top_k": top_k, "layout": layout, "views": views}
        if request_id is not None:
            doc["id"] = request_id
        if (images is None) == (locations is None):
            raise GeolocError("give images or locations")
        if images is not None:
            doc["images"] = [base64.b64encode(b).decode("ascii") for b in images]
        else:
            doc["locations"] = [[base64.b64encode(b).decode("ascii") for b in views_of] for views_of in locations]
        return self._json("POST", "/v1/predict", json.dumps(doc).encode(), "application/json")

    def predict_files(self, files: dict[str, Sequence[tuple[str, bytes]]], fields: dict[str, str] | None = None,
                      request_id: str | None = None) -> dict:
        """``POST /v1/predict`` as a multipart upload (fields ``image`` or ``view``; see docs/serve.md)."""
        body, ctype = multipart_body(files, fields)
        headers = {"X-Request-ID": request_id} if request_id else None
        return self._json("POST", "/v1/predict", body, ctype, headers)


__all__ = ["Client", "ServerError", "multipart_body"]
