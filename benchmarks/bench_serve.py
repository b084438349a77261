"""Load test of ``geoloc serve`` on loopback: concurrent clients vs one request at a time.

Starts ``geoloc serve`` (a subprocess on a free 127.0.0.1 port; nothing else is contacted), then

1. one client sends one request at a time for ``--seq-seconds`` (the baseline throughput);
2. ``--clients`` clients (threads, one keep-alive connection each) send requests back to back for
   ``--seconds`` (at most ``--max-requests`` in all): throughput, p50 / p99 latency, and the ratio to 1;
3. every answer is checked: its ``id`` names its request (``c<client>-<n>``; ``s0-<n>`` one at a time;
   each used once) and its prediction equals an in-process ``Geolocator`` prediction of the same image
   (lat/lon within 1e-4 degrees, same top-1 cell). Counted: lost (no answer or an error), duplicated ids, mixed-up answers,
   503 refusals;
4. the server's RSS is sampled every 0.5 s during the concurrent run (first / max / last);
5. the server's own ``/metrics``: mean locations per ``Geolocator.predict`` call (micro-batch size).

Images: ``--images`` distinct SynthWorld street views (256 px JPEG, one location per request).

Run: ``.venv/bin/python benchmarks/bench_serve.py [--model PATH] [--clients 16] [--seconds 30]
[--seq-seconds 10] [--max-batch 32] [--max-wait-ms 5]``.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from collections import Counter
from pathlib import Path

import numpy as np
from bench_app import pick_model, street_photo
from machine import machine_summary, print_table

from app.harness import free_port, rss_mb
from app.samples import SAMPLE_PLACES
from geoloc.serve.client import Client


def start_server(model: str, args, log: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    cmd = [sys.executable, "-m", "geoloc.cli", "serve", "--model", model, "--port", str(port),
           "--max-batch", str(args.max_batch), "--max-wait-ms", str(args.max_wait_ms)]
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited:\n{log.read_text()[-2000:]}")
        try:
            with Client(url, timeout=2) as c:
                c.health()
            return proc, url
        except OSError:
            time.sleep(0.2)
    raise TimeoutError("server not healthy after 120 s")


class Checker:
    """Counts answers and checks each against the in-process reference of its image."""

    def __init__(self, reference: list[tuple[float, float, int]]):
        self.reference = reference
        self.lock = threading.Lock()
        self.seen: Counter[str] = Counter()
        self.latencies: list[float] = []
        self.lost = self.mixed = self.refused = 0
        self.errors: Counter[str] = Counter()

    def check(self, rid: str, image: int, status: int, body: bytes, seconds: float) -> None:
        with self.lock:
            if status == 503:
                self.refused += 1
                return
            if status != 200:
                self.lost += 1
                self.errors[f"HTTP {status}: {body[:120]!r}"] += 1
                return
            doc = json.loads(body)
            self.seen[doc.get("id")] += 1
            lat, lon, cell = self.reference[image]
            p = doc["predictions"][0]
            if doc.get("id") != rid or abs(p["lat"] - lat) > 1e-4 or abs(p["lon"] - lon) > 1e-4 \
                    or p["top_k"][0]["cell"] != cell:
                self.mixed += 1
            self.latencies.append(seconds)

    def failed(self, exc: Exception) -> None:
        with self.lock:
            self.lost += 1
            self.errors[f"{type(exc).__name__}: {exc}"[:120]] += 1


def client_loop(url: str, bodies: list[bytes], checker: Checker, client: str, deadline: float, budget) -> int:
    n = 0
    with Client(url, timeout=60) as c:
        while time.monotonic() < deadline and budget():
            image = (zlib.crc32(client.encode()) + n * 31) % len(bodies)
            rid = f"{client}-{n}"
            body = b'{"id":"' + rid.encode() + b'",' + bodies[image]
            t = time.perf_counter()
            try:
                status, _, data = c.request("POST", "/v1/predict", body, {"Content-Type": "application/json"})
            except Exception as exc:
                checker.failed(exc)
            else:
                checker.check(rid, image, status, data, time.perf_counter() - t)
            n += 1
    return n


def run_clients(url: str, bodies, reference, clients: int, seconds: float, max_requests: int, pid: int,
                tag: str):
    checker = Checker(reference)
    sent = Counter()
    lock = threading.Lock()

    def budget() -> bool:
        with lock:
            if sum(sent.values()) >= max_requests:
                return False
            sent["n"] += 1
            return True

    rss: list[float] = []
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            rss.append(rss_mb(pid))
            stop.wait(0.5)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    t0 = time.perf_counter()
    deadline = time.monotonic() + seconds
    threads = [threading.Thread(target=client_loop, args=(url, bodies, checker, f"{tag}{i}", deadline, budget))
               for i in range(clients)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    wall = time.perf_counter() - t0
    stop.set()
    sampler.join()
    return checker, sent["n"], wall, rss


def batch_mean(metrics: str) -> tuple[float, float]:
    def value(name: str) -> float:
        m = re.search(rf"^{name} ([0-9.e+-]+)$", metrics, re.M)
        return float(m.group(1)) if m else float("nan")

    return value("geoloc_batch_size_sum"), value("geoloc_batch_size_count")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--seq-seconds", type=float, default=10.0)
    ap.add_argument("--max-requests", type=int, default=200_000)
    ap.add_argument("--images", type=int, default=48)
    ap.add_argument("--max-batch", type=int, default=32)
    ap.add_argument("--max-wait-ms", type=float, default=5.0)
    args = ap.parse_args()

    print(machine_summary())
    tmp = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    model, what = pick_model(args.model, tmp)
    print(f"model: {what} ({model})")
    places = list(SAMPLE_PLACES)
    photos = [street_photo(tmp / f"p{i:03d}.jpg", label=places[i % len(places)], seed=1000 + i).read_bytes()
              for i in range(args.images)]
    bodies = [b'"images":["' + base64.b64encode(p) + b'"]}' for p in photos]

    from geoloc.predict import Geolocator

    geo = Geolocator.from_pretrained(model)
    reference = []
    for p in photos:
        pred = geo.predict(p)[0]
        reference.append((pred.lat, pred.lon, pred.top_k[0].cell))
    del geo

    proc, url = start_server(model, args, tmp / "server.log")
    rows = []
    try:
        warm = Checker(reference)
        client_loop(url, bodies, warm, "warm", time.monotonic() + 2.0, lambda: True)
        rss_start = rss_mb(proc.pid)
        seq, seq_sent, seq_wall, _ = run_clients(url, bodies, reference, 1, args.seq_seconds, args.max_requests,
                                                 proc.pid, "s")
        par, par_sent, par_wall, rss = run_clients(url, bodies, reference, args.clients, args.seconds,
                                                   args.max_requests, proc.pid, "c")
        with Client(url) as c:
            total, calls = batch_mean(c.metrics())
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)

    def lat(ch: Checker, q: float) -> str:
        return f"{1e3 * float(np.percentile(ch.latencies, q)):.0f} ms" if ch.latencies else "n/a"

    seq_rps = len(seq.latencies) / seq_wall
    par_rps = len(par.latencies) / par_wall
    dup = sum(n - 1 for n in (seq.seen + par.seen).values() if n > 1)
    rows += [
        ("one request at a time: requests / s", f"{seq_rps:.1f}  ({len(seq.latencies)} in {seq_wall:.1f} s)"),
        ("one request at a time: p50 / p99 latency", f"{lat(seq, 50)} / {lat(seq, 99)}"),
        (f"{args.clients} concurrent clients: requests / s",
         f"{par_rps:.1f}  ({len(par.latencies)} in {par_wall:.1f} s)"),
        (f"{args.clients} concurrent clients: p50 / p99 latency", f"{lat(par, 50)} / {lat(par, 99)}"),
        ("throughput ratio (concurrent / one at a time)", f"{par_rps / seq_rps:.2f}x"),
        ("requests sent / answered 200", f"{seq_sent + par_sent} / {len(seq.latencies) + len(par.latencies)}"),
        ("lost / duplicated / mixed-up answers", f"{seq.lost + par.lost} / {dup} / {seq.mixed + par.mixed}"),
        ("refused with 503 (queue full)", str(seq.refused + par.refused)),
        ("mean locations per predict call (server /metrics)", f"{total / calls:.1f} over {calls:.0f} calls"),
        ("server RSS: before / first / max / last of the run",
         f"{rss_start:.0f} / {rss[0]:.0f} / {max(rss):.0f} / {rss[-1]:.0f} MB ({len(rss)} samples)"),
    ]
    print_table(rows)
    for err, n in (seq.errors + par.errors).most_common(5):
        print(f"error x{n}: {err}")


if __name__ == "__main__":
    main()
