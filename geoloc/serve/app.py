"""The inference server's ASGI application (Starlette): routes, per-request errors, micro-batching.

``create_app(geolocator, settings, model_path=None)`` returns a Starlette app with:

* ``POST /v1/predict``: JSON (base64 images, or several views per location) or multipart upload
  (:mod:`geoloc.serve.payloads`) -> ``{"id", "model", "predictions": [Prediction.to_dict(), ...],
  "batch": {"size", "queue_ms", "predict_ms"}, "server_ms"}``. The id is the body's ``id``, else the
  ``X-Request-ID`` header, else a new one; it is echoed in ``X-Request-ID``. Each prediction's ``source``
  names its location (file name, ``images[i]`` or ``locations[i]``).
* ``POST /api/v1/predict``: PIGEON's bot protocol, ``{image, image_2, ...}`` -> ``{"results": {"lat", "lng"}}``
  (errors as ``{"message"}``), what ``bot.predictor.HttpPredictor`` speaks.
* ``GET /healthz`` (``{"status": "ok"}``; 503 while shutting down), ``GET /v1/model`` (model card, bundle
  config and the server's settings), ``GET /metrics`` (Prometheus text, :mod:`geoloc.serve.metrics`).

Requests are decoded in worker threads (at most ``settings.decode_threads`` at once), so a corrupt,
oversized or undecodable upload is refused with its own 4xx and one line before it reaches a batch;
the decoded locations of all requests that arrive together go through one ``Geolocator.predict`` call
(:class:`geoloc.serve.batcher.MicroBatcher`). A full queue answers 503 with ``Retry-After``. The body
limit is enforced while reading (:class:`BodyLimit`), before any parsing.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from geoloc.jsonsafe import finite
from geoloc.serve.batcher import BatchItemError, MicroBatcher, QueueFull
from geoloc.serve.metrics import Metrics
from geoloc.serve.payloads import (
    Limits,
    PredictRequest,
    RequestError,
    decode_location,
    from_json,
    from_multipart,
    new_request_id,
    pigeon_views,
)

LOG = logging.getLogger("geoloc.serve")
PIGEON_PATH = "/api/v1/predict"
TOP_REGIONS = 10


@dataclass(frozen=True)
class ServeSettings:
    """Batching and limits: at most ``max_batch`` locations per ``Geolocator.predict`` call, gathered for
    at most ``max_wait_ms`` after the first; ``max_queue`` requests waiting before 503; ``limits`` per request."""

    max_batch: int = 32
    max_wait_ms: float = 5.0
    max_queue: int = 64
    decode_threads: int = 4
    limits: Limits = field(default_factory=Limits)


class BodyLimit:
    """ASGI middleware: a body over ``max_bytes`` is answered 413 (from ``Content-Length`` before reading, or
    as soon as the streamed body passes the limit), so no route ever parses it."""

    def __init__(self, app, max_bytes: int):
        self.app = app
        self.max_bytes = int(max_bytes)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._too_large(scope, receive, send)
            return
        seen = 0

        async def counting_receive():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise RequestError(413, self._message())
            return message

        await self.app(scope, counting_receive, send)

    def _message(self) -> str:
        return f"request body too large; the limit is {self.max_bytes / 2**20:.0f} MB"

    async def _too_large(self, scope, receive, send) -> None:
        body = {"message": self._message()} if scope.get("path") == PIGEON_PATH else {"error": self._message()}
        await JSONResponse(body, status_code=413, headers={"Connection": "close"})(scope, receive, send)


class ServerState:
    """What the routes share: the model, the batcher, the metrics and the settings."""

    def __init__(self, geolocator, settings: ServeSettings, model_path: str | None):
        self.geo = geolocator
        self.settings = settings
        self.model_path = model_path
        self.metrics = Metrics()
        self.batcher = MicroBatcher(self.predict_batch, max_batch=settings.max_batch,
                                    max_wait_ms=settings.max_wait_ms, max_queue=settings.max_queue,
                                    on_batch=self.metrics.batch_done)
        self.decode_limiter = anyio.CapacityLimiter(settings.decode_threads)
        self.stopping = False
        card = dict(geolocator.config.get("card") or {})
        self.model_name = str(card.get("title") or (Path(model_path).name if model_path else "in-memory model"))

    def predict_batch(self, items: list[tuple[list, int]]) -> list:
        """One ``Geolocator.predict`` call over every location of the batch (items: ``(views, top_k)``);
        each prediction is cut to its own request's ``top_k`` (the top-k list is a prefix of a longer one)."""
        preds = self.geo.predict([views for views, _ in items], views=None, top_k=max(k for _, k in items),
                                 top_regions=TOP_REGIONS)
        for p, (_, k) in zip(preds, items, strict=True):
            p.top_k = p.top_k[:k]
        return preds

    def cut_views(self, views: int | None) -> int:
        """Views a panorama or strip is cut into: ``views``, else the model's own count (4 for a single-view
        model), as ``Geolocator.predict`` does."""
        own = int(self.geo.default_views)
        return int(views) if views else (own if own > 1 else 4)

    async def decode(self, locations: list[list[bytes]], names: list[str], layout: str = "auto",
                     views: int | None = None, grouped: bool = False) -> list[tuple[list, str]]:
        """Every location decoded to (PIL views, layout used), in worker threads (RequestError on a bad one).
        A list of views must have ``views`` images when ``views`` is given."""
        out = []
        for data, name in zip(locations, names, strict=True):
            imgs, used = await anyio.to_thread.run_sync(decode_location, data, name, self.settings.limits, layout,
                                                        self.cut_views(views), grouped, limiter=self.decode_limiter)
            if used == "views" and views is not None and len(imgs) != views:
                raise RequestError(422, f"{name}: expected {views} view(s), got {len(imgs)}")
            out.append((imgs, used))
        return out


async def _read_json(request: Request) -> Any:
    body = await request.body()
    try:
        return json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RequestError(400, f"the body is not valid JSON ({exc})") from None


async def _parse(request: Request, limits: Limits) -> PredictRequest:
    header_id = request.headers.get("x-request-id") or None
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype == "application/json":
        return from_json(await _read_json(request), limits, header_id)
    if ctype == "multipart/form-data":
        try:
            async with request.form(max_files=limits.max_locations + limits.max_views, max_fields=64,
                                    max_part_size=64 * 1024) as form:
                return await from_multipart(form, limits, header_id)
        except HTTPException as exc:  # malformed multipart
            raise RequestError(exc.status_code, f"bad multipart body: {exc.detail}") from None
    raise RequestError(415, f"unsupported Content-Type {ctype or '(none)'}: send application/json or "
                            "multipart/form-data")


def create_app(geolocator, settings: ServeSettings | None = None, *, model_path: str | None = None) -> Starlette:
    """The server's Starlette app around a loaded :class:`geoloc.predict.Geolocator` (see the module docstring)."""
    settings = settings or ServeSettings()
    state = ServerState(geolocator, settings, model_path)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        await state.batcher.start()
        try:
            yield
        finally:
            state.stopping = True
            await state.batcher.stop()  # requests still queued are answered first

    def finish(route: str, started: float, response: Response) -> Response:
        state.metrics.request_done(route, response.status_code, time.perf_counter() - started)
        return response

    async def predict(request: Request) -> Response:
        started = time.perf_counter()
        rid = request.headers.get("x-request-id") or None
        state.metrics.in_flight += 1
        try:
            req = await _parse(request, settings.limits)
            rid = req.id
            decoded = await state.decode(req.locations, req.names, req.layout, req.views, req.grouped)
            state.metrics.queue_depth = state.batcher.depth
            preds, info = await state.batcher.submit([(imgs, req.top_k) for imgs, _ in decoded])
            for p, name, (_, used) in zip(preds, req.names, decoded, strict=True):
                p.source, p.layout = name, used
            bad = [p for p in preds if p.error]
            if bad:
                raise RequestError(422, f"{bad[0].source}: {bad[0].error}")
            body = {"id": rid, "model": state.model_name, "predictions": [p.to_dict() for p in preds],
                    "batch": {"size": info.size, "queue_ms": round(info.queue_s * 1e3, 3),
                              "predict_ms": round(info.predict_s * 1e3, 3)},
                    "server_ms": round((time.perf_counter() - started) * 1e3, 3)}
            response = JSONResponse(finite(body), headers={"X-Request-ID": rid})
        except RequestError as exc:
            response = error_response(exc.status, str(exc), rid)
        except QueueFull as exc:
            state.metrics.rejected_full()
            response = error_response(503, str(exc), rid, {"Retry-After": str(exc.retry_after_s)})
        except BatchItemError as exc:
            response = error_response(500, str(exc), rid)
        except Exception as exc:  # one line to the client; the traceback goes to the server's log
            LOG.exception("request %s failed", rid)
            response = error_response(500, f"internal error ({type(exc).__name__}); the server log has details", rid)
        finally:
            state.metrics.in_flight -= 1
        return finish("/v1/predict", started, response)

    async def pigeon(request: Request) -> Response:
        started = time.perf_counter()
        try:
            ((imgs, _),) = await state.decode([pigeon_views(await _read_json(request))], ["image"], "views",
                                              grouped=True)
            (pred,), _ = await state.batcher.submit([(imgs, 1)])
            if pred.error:
                raise RequestError(422, pred.error)
            response = JSONResponse({"results": {"lat": pred.lat, "lng": pred.lon}})
        except RequestError as exc:
            response = JSONResponse({"message": str(exc)}, status_code=exc.status)
        except QueueFull as exc:
            state.metrics.rejected_full()
            response = JSONResponse({"message": str(exc)}, status_code=503,
                                    headers={"Retry-After": str(exc.retry_after_s)})
        except BatchItemError as exc:
            response = JSONResponse({"message": str(exc)}, status_code=500)
        except Exception as exc:
            LOG.exception("PIGEON request failed")
            response = JSONResponse({"message": f"internal error ({type(exc).__name__})"}, status_code=500)
        return finish(PIGEON_PATH, started, response)

    async def healthz(request: Request) -> Response:
        if state.stopping:
            return JSONResponse({"status": "stopping"}, status_code=503)
        return JSONResponse({"status": "ok", "model": state.model_name, "queue": state.batcher.depth})

    async def model(request: Request) -> Response:
        geo = state.geo
        return JSONResponse(finite({
            "name": state.model_name, "path": state.model_path,
            "content_hash": str(getattr(geo.bundle, "content_hash", "")),
            "card": dict(geo.config.get("card") or {}), "card_markdown": str(getattr(geo.bundle, "card", "")),
            "config": geo.config, "geocells": len(geo.geocells), "refinement": geo.refiner is not None,
            "device": str(geo.device), "server": asdict(settings)}))

    async def metrics(request: Request) -> Response:
        state.metrics.queue_depth = state.batcher.depth
        return PlainTextResponse(state.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

    routes = [Route("/v1/predict", predict, methods=["POST"]), Route(PIGEON_PATH, pigeon, methods=["POST"]),
              Route("/healthz", healthz, methods=["GET"]), Route("/v1/model", model, methods=["GET"]),
              Route("/metrics", metrics, methods=["GET"])]
    app = Starlette(routes=routes, lifespan=lifespan,
                    middleware=[Middleware(BodyLimit, max_bytes=settings.limits.max_body_bytes)])
    app.state.server = state
    return app


def error_response(status: int, message: str, request_id: str | None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    """``{"id", "error"}`` with one line of text and the request id echoed in ``X-Request-ID``."""
    rid = request_id or new_request_id()
    return JSONResponse({"id": rid, "error": " ".join(message.split())}, status_code=status,
                        headers={"X-Request-ID": rid, **(headers or {})})


__all__ = ["PIGEON_PATH", "BodyLimit", "ServeSettings", "ServerState", "create_app", "error_response"]
