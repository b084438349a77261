"""Drive the real app: start ``streamlit run`` on loopback, wait for health, open it in Debian's
Chromium through Selenium, upload files and collect every URL the page requested.

Used by the browser test (``tests/app/test_browser.py``) and ``benchmarks/bench_app.py``. Selenium
uses ``/usr/bin/chromedriver`` (never a driver download).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

UPLOAD_INPUT = "input[data-testid=stFileUploaderDropzoneInput]"
MAP_SELECTOR = "[data-testid=stDeckGlJsonChart]"
TABLE_SELECTOR = "[data-testid=stDataFrame]"


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_mb(pid: int) -> float:
    """Resident memory (VmRSS) of process ``pid`` in MB, from /proc (Linux); NaN when unknown."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


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
        return rss_mb(self.proc.pid)

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
    proc = subprocess.Popen(streamlit_command(model, port), env=app_environment(model),
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    log.close()
    return Server(proc=proc, port=port, log_path=log_path, started=t0)


def wait_healthy(server: Server, timeout_s: float = 60.0) -> float:
    """Poll ``/_stcore/health`` until it answers; returns seconds since the start. Raises with the
    server's log when it exits or stays silent for ``timeout_s``."""
    from app.cli import wait_healthy as poll

    if poll(f"{server.url}_stcore/health", server.proc, timeout_s):
        return time.perf_counter() - server.started
    if server.proc.poll() is not None:
        raise RuntimeError(f"streamlit exited with {server.proc.returncode}:\n{server.log()[-3000:]}")
    raise TimeoutError(f"streamlit not healthy after {timeout_s:.0f} s:\n{server.log()[-3000:]}")


def make_chrome(width: int = 1400, height: int = 1100):
    """Headless Chromium (software WebGL for deck.gl) with the performance log on; DNS for every host
    except loopback fails, so nothing could leave the machine even by mistake (:func:`bot.driver.make_driver`)."""
    from bot.driver import DriverOptions, make_driver

    return make_driver(DriverOptions(window_size=(width, height), loopback_only=True, performance_log=True,
                                     software_webgl=True))


def upload_and_wait(driver, files: list[str | os.PathLike], timeout_s: float = 90.0,
                    texts: tuple[str, ...] = ()) -> float:
    """Send files to the uploader, wait until the map, the top-5 table and every one of ``texts`` are
    shown on the page and the browser has drawn two more frames (deck.gl redraws the map on the next
    animation frame after its layers change); returns seconds."""
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
    for text in texts:
        wait.until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, "[data-testid=stMain]"), text))
    driver.execute_async_script("const done = arguments[arguments.length - 1];"
                                "requestAnimationFrame(() => requestAnimationFrame(done));")
    return time.perf_counter() - t0


def colour_share(png: bytes, rgb, tol: int = 6) -> float:
    """Fraction of a PNG's pixels within ``tol`` (per channel) of the colour ``rgb``."""
    import io

    import numpy as np
    from PIL import Image

    arr = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    return float(np.mean(np.all(np.abs(arr - np.asarray(rgb[:3])) <= tol, axis=-1)))


def map_shows(driver, rgb, tol: int = 20) -> bool:
    """True when the page's map canvas has pixels of the colour ``rgb`` (e.g. the red guess marker)."""
    from selenium.webdriver.common.by import By

    return colour_share(driver.find_element(By.CSS_SELECTOR, MAP_SELECTOR).screenshot_as_png, rgb, tol) > 0


__all__ = ["Server", "colour_share", "free_port", "make_chrome", "map_shows", "rss_mb", "start_server", "upload_and_wait", "wait_healthy"]
