"""Server metrics in the Prometheus text exposition format (version 0.0.4).

:class:`Metrics` holds counters (requests by route and status, locations, batches, rejections) and
histograms (request latency in seconds, locations per ``Geolocator.predict`` call, predict time, queue
wait) and renders them with :meth:`Metrics.render` for ``GET /metrics``. Updates take a lock, so the
event loop and worker threads may both record.
"""

from __future__ import annotations

import bisect
import threading
from collections import defaultdict
from collections.abc import Sequence

LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)


class Histogram:
    """Cumulative-bucket histogram: ``observe(x)`` puts ``x`` in every bucket with upper bound ``le >= x``."""

    def __init__(self, buckets: Sequence[float]):
        self.bounds = tuple(float(b) for b in buckets)
        self.counts = [0] * (len(self.bounds) + 1)  # the last one is +Inf
        self.sum = 0.0
        self.count = 0

    def observe(self, x: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, float(x))] += 1
        self.sum += float(x)
        self.count += 1

    def cumulative(self) -> list[tuple[str, int]]:
        """``(le, count of observations <= le)`` pairs, the last ``le`` being ``+Inf``."""
        out, total = [], 0
        for bound, n in zip([*map(_fmt, self.bounds), "+Inf"], self.counts, strict=True):
            total += n
            out.append((bound, total))
        return out


def _fmt(x: float) -> str:
    return repr(float(x)) if not float(x).is_integer() else f"{float(x):.1f}"


def _escape(value: object) -> str:
    """A label value as the text format writes it: backslash, double quote and newline escaped."""
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(pairs: Sequence[tuple[str, str]]) -> str:
    if not pairs:
        return ""
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in pairs) + "}"


class Metrics:
    """The server's counters and histograms (see the module docstring)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: dict[tuple[str, int], int] = defaultdict(int)
        self.latency: dict[str, Histogram] = {}
        self.batch_size = Histogram(BATCH_BUCKETS)
        self.predict_s = Histogram(LATENCY_BUCKETS_S)
        self.queue_s = Histogram(LATENCY_BUCKETS_S)
        self.locations = 0
        self.rejected = 0
        self.queue_depth = 0
        self.in_flight = 0

    def request_done(self, route: str, status: int, seconds: float) -> None:
        """One finished HTTP request on ``route`` with ``status``, ``seconds`` from arrival to response."""
        with self._lock:
            self.requests[(route, int(status))] += 1
            self.latency.setdefault(route, Histogram(LATENCY_BUCKETS_S)).observe(seconds)

    def batch_done(self, locations: int, predict_seconds: float, queue_seconds: Sequence[float]) -> None:
        """One ``Geolocator.predict`` call over ``locations`` locations; the queue wait of each request in it."""
        with self._lock:
            self.batch_size.observe(locations)
            self.predict_s.observe(predict_seconds)
            self.locations += int(locations)
            for q in queue_seconds:
                self.queue_s.observe(q)

    def rejected_full(self) -> None:
        with self._lock:
            self.rejected += 1

    def render(self) -> str:
        """Everything in Prometheus text format (``text/plain; version=0.0.4``)."""
        with self._lock:
            lines: list[str] = []

            def head(name: str, kind: str, text: str) -> None:
                lines.extend([f"# HELP {name} {text}", f"# TYPE {name} {kind}"])

            def hist(name: str, h: Histogram, labels: Sequence[tuple[str, str]] = ()) -> None:
                for le, n in h.cumulative():
                    lines.append(f"{name}_bucket{_labels([*labels, ('le', le)])} {n}")
                lines.append(f"{name}_sum{_labels(labels)} {h.sum!r}")
                lines.append(f"{name}_count{_labels(labels)} {h.count}")

            head("geoloc_requests_total", "counter", "HTTP requests answered, by route and status code.")
            for (route, status), n in sorted(self.requests.items()):
                lines.append(f"geoloc_requests_total{_labels([('route', route), ('status', str(status))])} {n}")
            head("geoloc_request_duration_seconds", "histogram", "Seconds from a request's arrival to its answer.")
            for route, h in sorted(self.latency.items()):
                hist("geoloc_request_duration_seconds", h, [("route", route)])
            head("geoloc_batch_size", "histogram", "Locations per Geolocator.predict call (micro-batch size).")
            hist("geoloc_batch_size", self.batch_size)
            head("geoloc_predict_duration_seconds", "histogram", "Seconds per Geolocator.predict call.")
            hist("geoloc_predict_duration_seconds", self.predict_s)
            head("geoloc_queue_wait_seconds", "histogram", "Seconds a request waited before its batch started.")
            hist("geoloc_queue_wait_seconds", self.queue_s)
            head("geoloc_locations_total", "counter", "Locations predicted.")
            lines.append(f"geoloc_locations_total {self.locations}")
            head("geoloc_rejected_total", "counter", "Requests refused with 503 because the queue was full.")
            lines.append(f"geoloc_rejected_total {self.rejected}")
            head("geoloc_queue_depth", "gauge", "Requests waiting for a batch now.")
            lines.append(f"geoloc_queue_depth {self.queue_depth}")
            head("geoloc_requests_in_flight", "gauge", "Prediction requests being handled now.")
            lines.append(f"geoloc_requests_in_flight {self.in_flight}")
            return "\n".join(lines) + "\n"


__all__ = ["BATCH_BUCKETS", "LATENCY_BUCKETS_S", "Histogram", "Metrics"]
