"""Fault-injection doubles for the bot's browser tests: a delaying HTTP proxy, a driver that
hands out stale elements, and a predictor that stalls until the round timer has run out.

A module of its own (not conftest.py) so that ``tests/bot`` and ``tests/arena`` can be collected
in one run: both folders have a conftest.py and only one of them can be imported as ``conftest``."""

from __future__ import annotations

import http.client
import random
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit


class DelayProxy:
    """A loopback HTTP proxy to ``target`` that holds every response for a random 0..``max_delay_s``
    (seeded), so pages, images and API answers arrive slowly and in a shuffled order."""

    def __init__(self, target: str, max_delay_s: float = 0.6, seed: int = 0):
        t = urlsplit(target)
        rng, lock = random.Random(seed), threading.Lock()
        self.delayed = 0
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _forward(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else None
                with lock:
                    delay = rng.uniform(0.0, max_delay_s)
                    proxy.delayed += 1
                time.sleep(delay)
                conn = http.client.HTTPConnection(t.hostname, t.port, timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                conn.request(self.command, self.path, body=body, headers=headers)
                r = conn.getresponse()
                data = r.read()
                self.send_response(r.status)
                for k, v in r.getheaders():
                    if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                conn.close()

            do_GET = do_POST = _forward

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class StaleDriver:
    """Wraps a WebDriver; the first lookup of each selector in ``selectors`` returns an element
    that has already been removed from the page, so using it raises StaleElementReference."""

    def __init__(self, driver, selectors):
        self._driver = driver
        self._pending = set(selectors)
        self.injected: list[str] = []

    def __getattr__(self, name):
        return getattr(self._driver, name)

    def _stale(self):
        el = self._driver.execute_script(
            "const e = document.createElement('div'); document.body.appendChild(e); return e;")
        self._driver.execute_script("arguments[0].remove();", el)
        return el

    def find_element(self, by, value):
        if value in self._pending:
            self._pending.discard(value)
            self.injected.append(value)
            return self._stale()
        return self._driver.find_element(by, value)

    def find_elements(self, by, value):
        if value in self._pending:
            self._pending.discard(value)
            self.injected.append(value)
            return [self._stale()]
        return self._driver.find_elements(by, value)


class StallingPredictor:
    """Delegates to ``inner`` but, in round(s) ``stall_rounds`` (1-based call count), waits until
    the page shows the round result (the timer ran out) before answering, at most ``max_s``."""

    def __init__(self, inner, driver, stall_rounds=(2,), max_s: float = 30.0):
        self.inner, self.driver, self.stall_rounds, self.max_s = inner, driver, set(stall_rounds), max_s
        self.name = f"stalling({inner.name})"
        self.calls = 0
        self.stalled_s: list[float] = []

    def predict(self, views):
        self.calls += 1
        if self.calls in self.stall_rounds:
            t = time.monotonic()
            while time.monotonic() - t < self.max_s and not self.driver.execute_script(
                    "const r = document.querySelector('[data-qa=round-result]');"
                    "return !!r && r.getClientRects().length > 0 && getComputedStyle(r).visibility !== 'hidden';"):
                time.sleep(0.1)
            self.stalled_s.append(time.monotonic() - t)
        return self.inner.predict(views)
