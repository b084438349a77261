"""Benchmark: the web app (app/).

Measures, with the real server (``streamlit run``, headless, loopback) driven by Debian's Chromium:

1. time to first prediction after start: from launching the server to the first upload's map and
   top-5 table on the page (health, page load, model load, upload, prediction, rendering);
2. warm upload-to-result latency in the browser (a fresh page each time, the model already loaded;
   the clock starts when the files are sent and stops when the results are on the page and two more
   frames are drawn; afterwards the map is checked for the red guess marker). The fresh page's own
   load (to the upload box) is reported on its own line;
3. a batch of ``--batch`` photos (default 50) through the upload box, on a fresh page: from sending the
   files to the batch results table and the first photo's details on the page;
4. server memory (RSS of the streamlit process) with the model loaded, after the predictions;
5. per-image latency of the Geolocator in-process (the model part of 2), one image per call.

Targets (issue 11): warm median <= 0.8 s, first prediction <= 6 s after start, RSS <= 700 MB,
50-photo batch <= 10 s.

The uploaded photo is a SynthWorld street view of London with London's position in its EXIF, so the
EXIF panel has something to compare. ``--screenshot docs/img/app.png`` saves the page for the README.

Run: ``.venv/bin/python benchmarks/bench_app.py [--model PATH] [--repeats 5] [--batch 50] [--images 20]
[--screenshot PNG]``.
Without ``--model``: the default bundle when it exists, else a random tiny bundle (timings only).
"""

from __future__ import annotations

import argparse
import io
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from machine import machine_summary, print_table
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from app import harness
from app.mapview import GUESS_COLOUR
from app.samples import SAMPLE_PLACES
from bot.driver import non_loopback, requests_from_log


def pick_model(arg: str | None, tmp: Path) -> tuple[str, str]:
    """(bundle folder, description)."""
    if arg:
        return arg, arg
    from geoloc.default_model import default_model_path
    from geoloc.errors import BundleError

    try:
        return str(default_model_path(build=False)), "default synthworld-tiny"
    except BundleError:
        from geoloc.testing import tiny_bundle

        return str(tiny_bundle(tmp / "tiny")), "random tiny test bundle (default model not built)"


def street_photo(path: Path, size: int = 256, label: str = "London", seed: int = 0) -> Path:
    """A SynthWorld view (heading 0) of a sample place saved as JPEG with the place's EXIF GPS."""
    from PIL import Image
    from PIL.TiffImagePlugin import IFDRational

    from app.samples import SAMPLE_PLACES, render_sample
    from geoloc.data.exif import fraction_dms

    scene = render_sample(label, size, seed=seed)
    lat, lon, _ = SAMPLE_PLACES[label]

    def dms(deg: float) -> tuple:
        return tuple(IFDRational(x.numerator, x.denominator) for x in fraction_dms(abs(deg)))

    exif = Image.Exif()
    exif[0x8825] = {1: "N" if lat >= 0 else "S", 2: dms(lat), 3: "E" if lon >= 0 else "W", 4: dms(lon)}
    scene.views[0].save(path, format="JPEG", quality=92, exif=exif)
    return path


def in_process_latency(model: str, n: int, size: int) -> dict[str, list[float]]:
    """Per-image Geolocator timings (ms) over ``n`` single-image calls (first call excluded)."""
    from PIL import Image

    from geoloc.predict import Geolocator

    geo = Geolocator.from_pretrained(model)
    rng = np.random.default_rng(0)
    imgs = [Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)) for _ in range(n + 1)]
    out: dict[str, list[float]] = {"wall": [], "embed": [], "refine": [], "total": []}
    for i, img in enumerate(imgs):
        buf = io.BytesIO()
        img.save(buf, format="JPEG")
        t0 = time.perf_counter()
        p = geo.predict(buf.getvalue())[0]
        wall = (time.perf_counter() - t0) * 1e3
        if i == 0:
            continue
        out["wall"].append(wall)
        for k in ("embed", "refine", "total"):
            out[k].append(p.timings_ms[k])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help="bundle folder (default: the default model, else a tiny one)")
    ap.add_argument("--repeats", type=int, default=5, help="warm browser uploads")
    ap.add_argument("--batch", type=int, default=50, help="photos in the batch upload (0: skip)")
    ap.add_argument("--images", type=int, default=20, help="in-process single-image predictions")
    ap.add_argument("--size", type=int, default=512, help="side (px) of the in-process test images")
    ap.add_argument("--screenshot", default=None, help="save a screenshot of the page with results here")
    ap.add_argument("--window", default="1400x1750", help="browser window WxH for the screenshot")
    args = ap.parse_args()

    print(machine_summary())
    tmp = Path(tempfile.mkdtemp(prefix="bench-app-"))
    model, what = pick_model(args.model, tmp)
    print(f"model: {what} ({model})")
    photos = [street_photo(tmp / f"street{i}.jpg", seed=i) for i in range(args.repeats + 1)]
    places = list(SAMPLE_PLACES)
    batch = [street_photo(tmp / f"batch{i:03d}.jpg", label=places[i % len(places)], seed=100 + i)
             for i in range(args.batch)]
    w, h = (int(x) for x in args.window.split("x"))

    server = harness.start_server(model, tmp / "server.log")
    rows = []
    try:
        health_s = harness.wait_healthy(server, timeout_s=120)
        driver = harness.make_chrome(w, h)
        try:
            driver.get(server.url)
            harness.upload_and_wait(driver, [photos[0]], timeout_s=300)
            first_s = time.perf_counter() - server.started
            rss_first = server.rss_mb()
            warm, page_s, drawn = [], [], 0
            for p in photos[1:]:
                t = time.perf_counter()
                driver.get(server.url)
                WebDriverWait(driver, 300).until(ec.presence_of_element_located((By.CSS_SELECTOR,
                                                                                 harness.UPLOAD_INPUT)))
                page_s.append(time.perf_counter() - t)
                warm.append(harness.upload_and_wait(driver, [p], timeout_s=300))
                drawn += harness.map_shows(driver, GUESS_COLOUR)  # checked after the clock stopped
            if args.screenshot:  # the last single-photo result
                time.sleep(3)  # let deck.gl finish drawing
                Path(args.screenshot).parent.mkdir(parents=True, exist_ok=True)
                driver.save_screenshot(args.screenshot)
                print(f"screenshot: {args.screenshot}")
            batch_s = None
            if batch:
                driver.get(server.url)
                batch_s = harness.upload_and_wait(driver, batch, timeout_s=600, texts=("All results",))
            bad = non_loopback(requests_from_log(driver))
        finally:
            driver.quit()
        rss = server.rss_mb()
    finally:
        server.stop()
    rows.append(("server healthy after start", f"{health_s:.1f} s"))
    rows.append(("first prediction on the page after start", f"{first_s:.1f} s"))
    if warm:
        rows.append((f"fresh page -> upload box ready (median of {len(page_s)})", f"{statistics.median(page_s):.2f} s"))
        rows.append((f"warm upload -> results in the browser (median of {len(warm)}; min / max)",
                     f"{statistics.median(warm):.2f} s ({min(warm):.2f} / {max(warm):.2f})"))
        rows.append(("... maps showing the red guess afterwards", f"{drawn} of {len(warm)}"))
    if batch_s is not None:
        rows.append((f"batch of {len(batch)} photos -> results table", f"{batch_s:.1f} s"))
    rows.append(("server RSS after the first prediction", f"{rss_first:.0f} MB"))
    rows.append(("server RSS at the end", f"{rss:.0f} MB"))
    rows.append(("requests that left 127.0.0.1", str(len(bad))))
    lat = in_process_latency(model, args.images, args.size)
    for k in ("wall", "total", "embed", "refine"):
        v = np.asarray(lat[k])
        rows.append((f"Geolocator per image, {args.size}px JPEG, {k} (median / p90)",
                     f"{np.median(v):.0f} / {np.percentile(v, 90):.0f} ms"))
    print_table(rows)


if __name__ == "__main__":
    main()
