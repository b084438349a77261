"""Every server the project starts comes up on a newcomer's first run: a HOME that has never seen
Streamlit (no ``~/.streamlit/credentials.toml``), stdin closed (a script, a service, a container), no
keypress. Each must answer its health URL within 30 s and write nothing into that HOME: caches (the
arena's rendered views) go to ``$XDG_CACHE_HOME/geoloc``, which the test points outside HOME.

This is how ``make app`` failed before: Streamlit printed its "Welcome ... Email:" prompt and waited
(or, with stdin closed, exited) and nothing ever listened on the port.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

HEALTH_TIMEOUT_S = 30.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _geoloc(*args: str) -> list[str]:
    return [sys.executable, "-m", "geoloc.cli", *args]


SERVERS = {
    # name: (argv builder taking (port, bundle), health path, expected body fragment)
    "app": (lambda port, bundle: _geoloc("app", "--model", bundle, "--port", str(port)),
            "/_stcore/health", b"ok"),
    "arena": (lambda port, bundle: _geoloc("arena", "serve", "--port", str(port), "--locations", "3",
                                           "--size", "64", "--hide-answer"),
              "/api/arena", b"{"),
    "serve": (lambda port, bundle: _geoloc("serve", "--model", bundle, "--port", str(port)),
              "/healthz", b'"status":"ok"'),
}


def _clean_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("STREAMLIT_", "XDG_", "GEOLOC_CACHE", "GEOLOC_ARENA_CACHE"))}
    env["HOME"] = str(home)
    env["XDG_CACHE_HOME"] = str(home.parent / "xdg-cache")
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2]) + os.pathsep + env.get("PYTHONPATH", "")
    return env


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", sorted(SERVERS))
def test_server_starts_in_a_clean_home_without_a_terminal(name, tiny_bundle_dir, tmp_path):
    argv_of, health_path, expected = SERVERS[name]
    home = tmp_path / "home"
    home.mkdir()
    port = _free_port()
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(argv_of(port, str(tiny_bundle_dir)), stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, env=_clean_env(home), cwd=tmp_path,
                                start_new_session=True)
    body, t0 = None, time.monotonic()
    try:
        while time.monotonic() - t0 < HEALTH_TIMEOUT_S and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}{health_path}", timeout=2) as r:
                    body = r.read()
                    break
            except OSError:
                time.sleep(0.25)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
    text = log.read_text(errors="replace")
    assert body is not None, f"{name}: no answer on {health_path} within {HEALTH_TIMEOUT_S:.0f} s:\n{text[-2000:]}"
    assert expected in body
    assert "Email" not in text and "Welcome to Streamlit" not in text
    assert "Help agents" not in text  # no developer nudges in the product
    written = sorted(str(p.relative_to(home)) for p in home.rglob("*"))
    assert written == [], f"{name} wrote into the user's HOME: {written}"
