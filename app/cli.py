"""``geoloc app``: start the Streamlit web app on loopback, telemetry off.

``run_app(model, port, host="127.0.0.1", open_browser=False)`` resolves the model first (any source of
:mod:`geoloc.sources`: ``--model`` folder or ``hf-hub:`` bundle, ``--zero-shot`` CLIP, ``$GEOLOC_MODEL``, or
the embedded default, built on first use) so a bad path or missing weights fail with one line before any
server starts, then runs ``streamlit run app/streamlit_app.py -- --model PATH_OR_SPEC`` through
:mod:`app.launch`, which starts loading the model (:func:`app.warmup.start_warm_up`) beside the server.

The server always runs headless: Streamlit's first-run "Welcome ... Email:" prompt (shown when it is not
headless and ``~/.streamlit/credentials.toml`` is missing) would block a first run, and exit at once with
stdin closed. Headless also withholds Streamlit's developer nudges ("Help agents write better apps"),
and with usage statistics off Streamlit writes nothing into ``$HOME``. ``--open`` opens a browser tab
ourselves once the server answers its health check.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

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

APP_SCRIPT = Path(__file__).resolve().parent / "streamlit_app.py"
DEFAULT_PORT = 8501
MAX_UPLOAD_MB = 200

app = typer.Typer(name="app", help="The web app: upload photos and see where they were taken.",
                  add_completion=False, pretty_exceptions_enable=False)


STREAMLIT_PRODUCT_OPTIONS: dict[str, str] = {
    "server.headless": "true",  # no first-run e-mail prompt, no developer nudges, no browser spawn
    "browser.gatherUsageStats": "false",  # no telemetry, no machine-id file in $HOME
    "logger.hideWelcomeMessage": "true",  # we print our own one-line banner
    "global.developmentMode": "false",
    "client.showErrorDetails": "none",  # never a traceback on the page
    "client.toolbarMode": "minimal",  # no developer menu entries
    "server.fileWatcherType": "none",
    "server.runOnSave": "false",
    "server.enableStaticServing": "true",  # app/static/countries.json: the map's outlines, cached by the browser
}
"""Options every ``geoloc app`` server runs with, also as ``STREAMLIT_*`` environment variables so a
user's ``~/.streamlit/config.toml`` cannot turn the prompt or the nudges back on."""


def streamlit_command(model: str | os.PathLike, port: int, host: str = "127.0.0.1") -> list[str]:
    """The ``streamlit run`` argument list (run by :mod:`app.launch`, which warms the model up first):
    bound to ``host`` (loopback by default), the product-only options of :data:`STREAMLIT_PRODUCT_OPTIONS`,
    the upload limit, the bundle passed after ``--``."""
    flags = [x for key, value in STREAMLIT_PRODUCT_OPTIONS.items() for x in (f"--{key}", value)]
    return [sys.executable, "-m", "app.launch", "run", str(APP_SCRIPT),
            "--server.address", host, "--server.port", str(int(port)), *flags,
            "--browser.serverAddress", host,
            "--server.maxUploadSize", str(MAX_UPLOAD_MB),
            "--", "--model", str(model)]


def app_environment(model: str | os.PathLike) -> dict[str, str]:
    """The server's environment: ours plus ``GEOLOC_MODEL`` and :data:`STREAMLIT_PRODUCT_OPTIONS` as
    ``STREAMLIT_SECTION_OPTION_NAME`` variables (``server.headless`` -> ``STREAMLIT_SERVER_HEADLESS``)."""
    env = dict(os.environ)
    env["GEOLOC_MODEL"] = str(model)
    for key, value in STREAMLIT_PRODUCT_OPTIONS.items():
        env[streamlit_env_name(key)] = value
    env.setdefault("MPLBACKEND", "Agg")
    return env


def streamlit_env_name(option: str) -> str:
    """``server.fileWatcherType`` -> ``STREAMLIT_SERVER_FILE_WATCHER_TYPE`` (Streamlit's own rule)."""
    section, name = option.split(".", 1)
    snake = re.sub(r"(?<!^)(?=[A-Z])", "_", name)
    return f"STREAMLIT_{section}_{snake}".upper()


def wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 60.0) -> bool:
    """Poll ``url`` (a health endpoint) until it answers 200, the process exits, or ``timeout`` s pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with urllib.request.urlopen(url, timeout=1.0) as r:
                if r.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.2)
    return False


def run_app(model=None, port: int = DEFAULT_PORT, host: str = "127.0.0.1",
            open_browser: bool = False) -> int:
    """Start the app and block until it stops; returns streamlit's exit code. ``model``: a
    :class:`geoloc.sources.ModelSource`, a spec string or None (``$GEOLOC_MODEL`` / the default). Raises
    :class:`geoloc.errors.BundleError` when the model folder is missing or broken and
    :class:`geoloc.hub.OfflineError` (one line, within seconds) for weights neither on disk nor reachable.
    With ``open_browser`` a browser tab opens once the page answers (never when there is no display)."""
    from app.modelinfo import prepare_source
    from geoloc.errors import GeolocError
    from geoloc.sources import ModelSource

    if not 1 <= int(port) <= 65535:
        raise GeolocError(f"--port must be in 1..65535, got {port}")
    spec = model.spec if isinstance(model, ModelSource) else model
    path = prepare_source(spec or None)
    if host not in ("127.0.0.1", "localhost", "::1"):
        typer.echo(f"warning: serving on {host}: other machines can reach the app", err=True)
    url = f"http://{'[::1]' if host == '::1' else host}:{port}"
    typer.echo(f"geoloc app: {url}  (model {path}; Ctrl-C stops it)")
    proc = subprocess.Popen(streamlit_command(path, port, host), env=app_environment(path),
                            stdin=subprocess.DEVNULL)
    try:
        if open_browser and wait_healthy(f"{url}/_stcore/health", proc):
            import webbrowser

            webbrowser.open(url)
        return proc.wait()
    except KeyboardInterrupt:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        return 0


@app.callback(invoke_without_command=True)
def run_command(
    model: str | None = MODEL_OPT,
    port: int = typer.Option(DEFAULT_PORT, "--port", "-p", help="TCP port on loopback."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind (loopback by default)."),
    open_browser: bool = typer.Option(False, "--open", help="Open a browser tab once the page answers."),
    headless: bool = typer.Option(True, "--headless/--no-headless", hidden=True,
                                  help="Kept for old scripts: the server is always headless."),
    zero_shot: str | None = ZERO_SHOT_OPT,
    pretrained: str | None = PRETRAINED_OPT,
    clip_checkpoint: str | None = CLIP_CHECKPOINT_OPT,
    cells: str | None = CELLS_OPT,
    calibration: str | None = CALIBRATION_OPT,
) -> None:
    """Start the web app (Streamlit) on http://127.0.0.1:PORT (mounted as ``geoloc app``)."""
    source = source_from_options(model, zero_shot, pretrained, clip_checkpoint, cells, calibration)
    raise typer.Exit(run_app(source, port, host, open_browser=open_browser))


__all__ = ["APP_SCRIPT", "DEFAULT_PORT", "STREAMLIT_PRODUCT_OPTIONS", "app", "app_environment", "run_app",
           "streamlit_command", "streamlit_env_name", "wait_healthy"]
