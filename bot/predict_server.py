"""The bot's prediction server is geoloc's inference server (:mod:`geoloc.serve`), which serves PIGEON's
bot protocol at ``POST /api/v1/predict`` (``{image, image_2, ...}`` base64 -> ``{"results": {"lat", "lng"}}``)
beside its own routes, with the same micro-batching and limits. This module only starts it in the
background for the bot and its tests: ``serve_predictions(bundle)`` -> ``.url`` (the PIGEON endpoint,
what :class:`bot.predictor.HttpPredictor` takes) and ``.stop()``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from geoloc.serve.app import PIGEON_PATH
from geoloc.serve.server import BackgroundServer

PREDICT_PATH = PIGEON_PATH


@dataclass
class PredictServer:
    """A background :mod:`geoloc.serve` server; ``url`` is its PIGEON endpoint."""

    server: BackgroundServer

    @property
    def url(self) -> str:
        return self.server.url + PREDICT_PATH

    def stop(self) -> None:
        self.server.stop()


def serve_predictions(bundle: str | Path, host: str = "127.0.0.1", port: int = 0, device=None) -> PredictServer:
    """Load the bundle and serve it (all of ``geoloc serve``'s routes) from a background thread."""
    from geoloc.serve.server import start_background

    return PredictServer(start_background(str(bundle), host=host, port=port, device=device))


__all__ = ["PREDICT_PATH", "PredictServer", "serve_predictions"]
