"""``geoloc app``: start the Streamlit web app on loopback, telemetry off.

``run_app(model, port, host="127.0.0.1", headless=False)`` resolves the model bundle first (``--model``,
``$GEOLOC_MODEL``, or the embedded default, built on first use) so a bad path fails with one line before
any server starts, then runs ``streamlit run app/streamlit_app.py -- --model PATH``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import typer

APP_SCRIPT = Path(__file__).resolve().parent / "streamlit_app.py"
DEFAULT_PORT = 8501
MAX_UPLOAD_MB = 200

app = typer.Typer(name="app", help="The web app: upload photos and see where they were taken.",
                  add_completion=False, pretty_exceptions_enable=False)


def streamlit_command(model: str | os.PathLike, port: int, host: str = "127.0.0.1",
                      headless: bool = False) -> list[str]:
    """The ``streamlit run`` argument list: bound to ``host`` (loopback by default), usage statistics
    off, error details hidden from the page, no file watcher, the bundle passed after ``--``."""
    return [sys.executable, "-m", "streamlit", "run", str(APP_SCRIPT),
            "--server.address", host, "--server.port", str(int(port)),
            "--server.headless", "true" if headless else "false",
            "--browser.gatherUsageStats", "false",
            "--browser.serverAddress", host,
            "--client.showErrorDetails", "none",
            "--client.toolbarMode", "minimal",
            "--server.fileWatcherType", "none",
            "--server.maxUploadSize", str(MAX_UPLOAD_MB),
            "--", "--model", str(model)]


def app_environment(model: str | os.PathLike) -> dict[str, str]:
    """The server's environment: ours plus ``GEOLOC_MODEL`` and Streamlit telemetry off."""
    env = dict(os.environ)
    env["GEOLOC_MODEL"] = str(model)
    env["STREAMLIT_BROWSER_GATHER_USAGE_STATS"] = "false"
    env.setdefault("MPLBACKEND", "Agg")
    return env


def run_app(model: str | None, port: int = DEFAULT_PORT, host: str = "127.0.0.1", headless: bool = False) -> int:
    """Start the app and block until it stops; returns streamlit's exit code. Raises
    :class:`geoloc.errors.BundleError` when the model folder is missing or broken."""
    from app.modelinfo import resolve_model_path
    from geoloc.bundle import verify_bundle
    from geoloc.errors import GeolocError

    if not 1 <= int(port) <= 65535:
        raise GeolocError(f"--port must be in 1..65535, got {port}")
    path = resolve_model_path(model).resolve()
    verify_bundle(path)
    if host not in ("127.0.0.1", "localhost", "::1"):
        typer.echo(f"warning: serving on {host}: other machines can reach the app", err=True)
    typer.echo(f"geoloc app: http://{host}:{port}  (model {path}; Ctrl-C stops it)")
    try:
        return subprocess.call(streamlit_command(path, port, host, headless), env=app_environment(path))
    except KeyboardInterrupt:
        return 0


@app.callback(invoke_without_command=True)
def run_command(
    model: str | None = typer.Option(None, "--model", "-m", help="Model bundle folder; default: synthworld-tiny."),
    port: int = typer.Option(DEFAULT_PORT, "--port", "-p", help="TCP port on loopback."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind (loopback by default)."),
    headless: bool = typer.Option(False, "--headless", help="Do not open a browser."),
) -> None:
    """Start the web app (Streamlit) on http://127.0.0.1:PORT (mounted as ``geoloc app``)."""
    raise typer.Exit(run_app(model, port, host, headless))


__all__ = ["APP_SCRIPT", "DEFAULT_PORT", "app", "app_environment", "run_app", "streamlit_command"]
