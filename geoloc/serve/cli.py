"""``geoloc serve``: the HTTP inference server (see docs/serve.md). Mounted by :mod:`geoloc.cli`; the bot's
``geoloc bot serve-model`` runs the same server."""

from __future__ import annotations

import typer

from geoloc.frontend import (
    CALIBRATION_OPT,
    CELLS_OPT,
    CLIP_CHECKPOINT_OPT,
    MODEL_OPT,
    PRETRAINED_OPT,
    ZERO_SHOT_OPT,
    source_from_options,
)
from geoloc.serve.app import ServeSettings
from geoloc.serve.payloads import Limits

DEFAULT_PORT = 8000

app = typer.Typer(name="serve", help="HTTP inference server: POST /v1/predict, /healthz, /v1/model, /metrics.",
                  add_completion=False, pretty_exceptions_enable=False)


def settings_from_options(max_batch: int, max_wait_ms: float, max_queue: int, max_body_mb: float,
                          max_pixels: int, max_locations: int) -> ServeSettings:
    """:class:`ServeSettings` from the command-line options (one-line GeolocError for bad values)."""
    from geoloc.errors import GeolocError

    if max_batch < 1 or max_queue < 1 or max_wait_ms < 0 or max_body_mb <= 0 or max_pixels < 1 or max_locations < 1:
        raise GeolocError("--max-batch, --max-queue, --max-locations and --max-pixels must be >= 1, "
                          "--max-wait-ms >= 0 and --max-body-mb > 0")
    return ServeSettings(max_batch=max_batch, max_wait_ms=max_wait_ms, max_queue=max_queue,
                         limits=Limits(max_body_bytes=int(max_body_mb * 2**20), max_pixels=max_pixels,
                                       max_locations=max_locations))


@app.callback(invoke_without_command=True)
def serve_command(
    model: str | None = MODEL_OPT,
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind (loopback by default)."),
    port: int = typer.Option(DEFAULT_PORT, "--port", "-p", help="TCP port (0: any free port)."),
    max_batch: int = typer.Option(32, "--max-batch", help="Locations per Geolocator.predict call."),
    max_wait_ms: float = typer.Option(5.0, "--max-wait-ms", help="How long a batch waits for more requests."),
    max_queue: int = typer.Option(64, "--max-queue", help="Requests waiting before new ones get 503."),
    max_body_mb: float = typer.Option(32.0, "--max-body-mb", help="Largest request body (MB)."),
    max_pixels: int = typer.Option(40_000_000, "--max-pixels", help="Largest image (width x height)."),
    max_locations: int = typer.Option(64, "--max-locations", help="Locations in one request."),
    threads: int | None = typer.Option(None, "--threads", help="torch CPU threads (default: half the cores)."),
    access_log: bool = typer.Option(False, "--access-log", help="Log every request (uvicorn's access log)."),
    zero_shot: str | None = ZERO_SHOT_OPT,
    pretrained: str | None = PRETRAINED_OPT,
    clip_checkpoint: str | None = CLIP_CHECKPOINT_OPT,
    cells: str | None = CELLS_OPT,
    calibration: str | None = CALIBRATION_OPT,
) -> None:
    """Serve a model (bundle, hf-hub: bundle or zero-shot CLIP) over HTTP on 127.0.0.1:PORT until Ctrl-C / SIGTERM."""
    from geoloc.serve.server import serve
    from geoloc.threads import inference_threads

    settings = settings_from_options(max_batch, max_wait_ms, max_queue, max_body_mb, max_pixels, max_locations)
    source = source_from_options(model, zero_shot, pretrained, clip_checkpoint, cells, calibration)
    inference_threads(threads)
    serve(source, host, port, settings, access_log=access_log)


__all__ = ["DEFAULT_PORT", "app", "settings_from_options"]
