"""Drive the real app: start ``streamlit run`` on loopback, wait for health, open it in Debian's
Chromium through Selenium, upload files and collect every URL the page requested.

Used by the browser test (``tests/app/test_browser.py``) and ``benchmarks/bench_app.py``. Selenium
uses ``/usr/bin/chromedriver`` (never a driver download).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
UPLOAD_INPUT = "input[data-testid=stFileUploaderDropzoneInput]"
MAP_SELECTOR = "[data-testid=stDeckGlJsonChart]"
TABLE_SELECTOR = "[data-testid=stDataFrame]"
LOCAL_HOSTS = {"127.0.0.1"}
LOCAL_SCHEMES = {"data", "blob", "about", "chrome", "chrome-extension", "devtools"}


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    """A running ``streamlit run`` process (its own process group) and where it listens."""

    proc: subprocess.Popen
    port: int
    log_path: Path
    started: float

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def rss_mb(self) -> float:
        """Resident memory of the server process (MB, from /proc; Linux)."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
        return float("nan")

    def stop(self) -> None:
        """SIGTERM the whole process group, SIGKILL after 10 s."""
        if self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        except ProcessLookupError:
            pass


def start_server(model: str | os.PathLike, log_path: str | os.PathLike, port: int | None = None) -> Server:
    """``streamlit run`` headless on 127.0.0.1 (see :func:`app.cli.streamlit_command`) in a new session."""
    from app.cli import app_environment, streamlit_command

    port = port or free_port()
    log_path = Path(log_path)
    log = log_path.open("wb")
    t0 = time.perf_counter()
    proc = subprocess.Popen(streamlit_command(model, port, headless=True), env=app_environment(model),
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    log.close()
    return Server(proc=proc, port=port, log_path=log_path, started=t0)


def wait_healthy(server: Server, timeout_s: float = 60.0) -> float:
    """Poll ``/_stcore/health`` until it answers ``ok``; returns seconds since the start."""
    deadline = time.perf_counter() + timeout_s
    while time.perf_counter() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with {server.proc.returncode}:\n{server.log()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{server.url}_stcore/health", timeout=2) as r:
                if r.read().strip() == b"ok":
                    return time.perf_counter() - server.started
        except OSError:
            pass
        time.sleep(0.25)
    raise TimeoutError(f"streamlit not healthy after {timeout_s:.0f} s:\n{server.log()[-3000:]}")


def make_chrome(width: int = 1400, height: int = 1100):
    """Headless Chromium (software WebGL for deck.gl) with the performance log on; DNS for every host
    except 127.0.0.1 fails, so nothing could leave the machine even by mistake."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", f"--window-size={width},{height}",
                "--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--ignore-gpu-blocklist",
                "--no-first-run", "--disable-extensions", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--disable-default-apps",
                "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)


def requested_urls(performance_log: list[dict]) -> list[str]:
    """URLs of every request and WebSocket in a Chrome performance log (``driver.get_log("performance")``)."""
    urls = []
    for entry in performance_log:
        msg = json.loads(entry["message"])["message"]
        method, params = msg.get("method"), msg.get("params", {})
        if method == "Network.requestWillBeSent":
            urls.append(params["request"]["url"])
        elif method == "Network.webSocketCreated":
            urls.append(params["url"])
    return urls


def non_local(urls: list[str]) -> list[str]:
    """The URLs that are neither on 127.0.0.1 nor local schemes (data:, blob:, about:, ...)."""
    bad = []
    for u in urls:
        parts = urlsplit(u)
        if parts.scheme in LOCAL_SCHEMES:
            continue
        if parts.hostname not in LOCAL_HOSTS:
            bad.append(u)
    return bad


def upload_and_wait(driver, files: list[str | os.PathLike], timeout_s: float = 90.0) -> float:
    """Send files to the uploader, wait until the map and the top-5 table are shown; returns seconds."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    box = WebDriverWait(driver, timeout_s).until(ec.presence_of_element_located((By.CSS_SELECTOR, UPLOAD_INPUT)))
    t0 = time.perf_counter()
    box.send_keys("\n".join(str(Path(f).resolve()) for f in files))
    wait = WebDriverWait(driver, timeout_s)
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, f"{MAP_SELECTOR} canvas")))
    wait.until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, "[data-testid=stMain]"), "Top-5 guesses"))
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, TABLE_SELECTOR)))
    return time.perf_counter() - t0


__all__ = ["Server", "free_port", "make_chrome", "non_local", "requested_urls", "start_server", "upload_and_wait",
           "wait_healthy"]
