"""``geoloc data fetch``: OSV-5M through the Hub client, IM2GPS3k / YFCC4k archives, resumable URL downloads.

Everything runs offline on small samples laid out exactly like the real files: OSV-5M's ``test.csv`` columns
and ``images/test/NN.zip`` archives holding ``NN/<id>.jpg``; IM2GPS3k's ``im2gps3k_places365.csv``; YFCC4k's
``info.txt`` (tab-separated YFCC100M fields). The Hub is a Hugging Face cache folder written the way
``huggingface_hub`` writes it (:func:`geoloc.testing.fake_hub_repo`), or ``hf_hub_download`` replaced by a
function that does the same; URLs are served by a local HTTP server that honours ``Range``.
"""

from __future__ import annotations

import hashlib
import http.server
import io
import threading
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from geoloc.cli import main
from geoloc.data.fetch import download_url, fetch_dataset
from geoloc.errors import GeolocError
from geoloc.hub import OfflineError
from geoloc.testing import fake_hub_repo

OSV_COLUMNS = ["id", "latitude", "longitude", "thumb_original_url", "country", "sequence", "captured_at", "lon_bin",
               "lat_bin", "cell", "region", "sub-region", "city", "land_cover", "road_index", "drive_side", "climate",
               "soil", "dist_sea"]


def jpeg(seed: int) -> bytes:
    buf = io.BytesIO()
    arr = np.random.default_rng(seed).integers(0, 255, (16, 16, 3), dtype=np.uint8)
    Image.fromarray(arr).save(buf, format="JPEG")
    return buf.getvalue()


def make_zip(entries: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buf.getvalue()


def osv_sample(n_zips: int = 2, per_zip: int = 4, unlabelled: int = 1) -> tuple[dict[str, bytes], pd.DataFrame]:
    """A miniature osv5m/osv5m repository: test.csv and images/test/NN.zip (NN/<id>.jpg inside)."""
    rng = np.random.default_rng(0)
    rows, files = [], {}
    for z in range(n_zips):
        entries = {}
        for j in range(per_zip):
            pid = str(1_000_000_000_000_000 + 100 * z + j)
            entries[f"{z:02d}/{pid}.jpg"] = jpeg(100 * z + j)
            lat, lon = rng.uniform(-60, 70), rng.uniform(-180, 180)
            rows.append([pid, lat, lon, f"https://example.invalid/{pid}", "FR", "seq", "2020-01-01", 1, 2, 3,
                         "Ile-de-France", "Paris", "Paris", 1, 0.5, 1, 4, 2, 0.1])
        for j in range(unlabelled):
            entries[f"{z:02d}/9{z}{j}.jpg"] = jpeg(999 - j)
        files[f"images/test/{z:02d}.zip"] = make_zip(entries)
    labels = pd.DataFrame(rows, columns=OSV_COLUMNS)
    files["test.csv"] = labels.to_csv(index=False).encode()
    files["README.md"] = b"# OSV-5M (sample)\n"
    return files, labels


def run_cli(argv, capsys) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as ex:
        main(argv)
    out = capsys.readouterr()
    return ex.value.code or 0, out.out, out.err


def test_osv5m_offline_and_not_cached_fails_at_once_in_one_line(offline_hub, tmp_path, capsys):
    t0 = time.perf_counter()
    code, _, err = run_cli(["data", "fetch", "osv5m", "--out", str(tmp_path / "osv"), "--max-images", "3"], capsys)
    elapsed = time.perf_counter() - t0
    assert code == 1 and elapsed < 30      # the probe gives up after 3 s; the rest is CPU time on a loaded machine
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "OSV-5M test labels" in lines[0] and "cannot be reached" in lines[0]
    assert "hf download osv5m/osv5m test.csv --repo-type dataset" in lines[0] and str(offline_hub) in lines[0]


def test_osv5m_from_the_cache_offline_max_images_then_more(offline_hub, tmp_path):
    files, labels = osv_sample()
    fake_hub_repo(offline_hub, "osv5m/osv5m", files, repo_type="dataset")
    out = tmp_path / "osv"
    res = fetch_dataset("osv5m", out, max_images=3, progress=False)
    m = pd.read_csv(res.manifest)
    assert res.images == res.added == 3 and len(m) == 3 and res.labels == len(labels)
    first = labels.iloc[:3]
    assert m["id"].astype(str).tolist() == first["id"].tolist()            # archive order
    np.testing.assert_allclose(m["lat"], first["latitude"]) and np.testing.assert_allclose(m["lon"], first["longitude"])
    assert set(m["admin1"]) == {"Ile-de-France"} and set(m["town"]) == {"Paris"}   # the converter's renames
    for p, pid in zip(m["path"], m["id"].astype(str), strict=True):
        f = out / p
        assert f.is_file() and f.name == f"{pid}.jpg" and Image.open(f).size == (16, 16)
    kept = (out / m["path"][0]).stat().st_mtime_ns
    res = fetch_dataset("osv5m", out, max_images=6, progress=False)      # needs the second zip
    m2 = pd.read_csv(res.manifest)
    assert res.images == 6 and res.added == 3 and len(m2) == 6
    assert m2["id"].astype(str).tolist() == labels["id"].iloc[:6].tolist()
    assert (out / m2["path"][0]).stat().st_mtime_ns == kept                # not extracted again
    with pytest.raises(OfflineError, match=r"images/test/02\.zip"):         # is there a third zip? unknown offline
        fetch_dataset("osv5m", out, progress=False)                         # (the 2 images before it are kept)
    assert len(list((out / "images" / "test").glob("*.jpg"))) == 8
    (out / ".test-zips").write_text("2")                                    # what an online run records at the end
    res = fetch_dataset("osv5m", out, progress=False)                       # everything, offline
    assert res.images == len(labels) == 8 and res.unlabelled == 2 and res.added == 0
    from geoloc.data.manifest import read_manifest, validate_manifest

    clean, report = validate_manifest(read_manifest(res.manifest), out)
    assert len(clean) == 8 and not report.problems


def test_osv5m_downloads_through_the_client_once(offline_hub, tmp_path, monkeypatch):
    """Online: hf_hub_download fetches each missing file once (here it writes the cache as the client does);
    zips are requested in order until the repository has no next one; a second run is served from the cache."""
    import huggingface_hub
    from huggingface_hub.errors import EntryNotFoundError

    import geoloc.hub as gh

    files, _ = osv_sample(n_zips=2, per_zip=3, unlabelled=0)
    calls: list[str] = []

    def fake_download(repo_id, filename, *, revision=None, repo_type=None, **kw):
        calls.append(filename)
        if filename not in files:
            raise EntryNotFoundError(f"{filename} not in {repo_id}")
        snap = fake_hub_repo(offline_hub, repo_id, {filename: files[filename]}, repo_type=repo_type, commit="c" * 40)
        return str(snap / filename)

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake_download)
    monkeypatch.setattr(gh, "offline_reason", lambda url: None)
    res = fetch_dataset("osv5m", tmp_path / "o", progress=False)
    assert res.unlabelled == 0 and calls == ["test.csv", "images/test/00.zip", "images/test/01.zip", "images/test/02.zip"]
    assert res.images == 6 and len(pd.read_csv(res.manifest)) == 6
    assert (tmp_path / "o" / ".test-zips").read_text() == "2"
    calls.clear()
    res = fetch_dataset("osv5m", tmp_path / "o", progress=False)
    assert calls == [] and res.added == 0 and res.images == 6


def test_osv5m_corrupt_cached_file_is_deleted_with_one_line(offline_hub, tmp_path):
    files, _ = osv_sample(n_zips=1)
    snap = fake_hub_repo(offline_hub, "osv5m/osv5m", files, repo_type="dataset")
    blob = (snap / "images/test/00.zip").resolve()
    blob.write_bytes(blob.read_bytes()[:-10] + b"0123456789")       # same size, other bytes
    with pytest.raises(GeolocError, match="does not match its SHA-256") as ex:
        fetch_dataset("osv5m", tmp_path / "o", max_images=2, progress=False)
    assert "\n" not in str(ex.value) and not blob.exists()


def test_bad_arguments_are_one_line(tmp_path):
    with pytest.raises(GeolocError, match="unknown data set"):
        fetch_dataset("imagenet", tmp_path)
    with pytest.raises(GeolocError, match="split must be one of"):
        fetch_dataset("osv5m", tmp_path, split="val")
    with pytest.raises(GeolocError, match=r"MediaFire.*--archive"):
        fetch_dataset("im2gps3k", tmp_path)
    with pytest.raises(GeolocError, match="--archive and --labels are for"):
        fetch_dataset("osv5m", tmp_path, archive="x.zip")


# --------------------------------------------------------------------------- archives and URLs


def im2gps3k_sample(tmp_path: Path) -> tuple[Path, Path, pd.DataFrame]:
    """im2gps3ktest.zip (im2gps3ktest/<IMG_ID>) and im2gps3k_places365.csv (IMG_ID,AUTHOR,LAT,LON,...)."""
    ids = [f"{1000 + i}_{2000 + i}_{3000 + i}.jpg" for i in range(5)]
    labels = pd.DataFrame({"IMG_ID": ids, "AUTHOR": ["a"] * 5, "LAT": np.linspace(-30, 50, 5),
                           "LON": np.linspace(-100, 120, 5), "S3_Label": range(5), "S16_Label": range(5),
                           "S365_Label": range(5), "Prob_indoor": [0.1] * 5, "Prob_natural": [0.5] * 5,
                           "Prob_urban": [0.4] * 5})
    csv = tmp_path / "im2gps3k_places365.csv"
    labels.to_csv(csv, index=False)
    archive = tmp_path / "im2gps3ktest.zip"
    archive.write_bytes(make_zip({f"im2gps3ktest/{i}": jpeg(k) for k, i in enumerate(ids)}))
    return archive, csv, labels


def test_im2gps3k_from_a_local_archive(tmp_path):
    archive, csv, labels = im2gps3k_sample(tmp_path)
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    res = fetch_dataset("im2gps3k", tmp_path / "out", archive=str(archive), labels=str(csv), sha256=digest,
                        max_images=2, progress=False)
    m = pd.read_csv(res.manifest)
    assert res.images == 2 and m["path"].tolist() == [f"images/{Path(i).stem}.jpg" for i in labels["IMG_ID"][:2]]
    np.testing.assert_allclose(m["lat"], labels["LAT"][:2])
    res = fetch_dataset("im2gps3k", tmp_path / "out", archive=str(archive), labels=str(csv), progress=False)
    assert res.images == 5 and res.added == 3
    with pytest.raises(GeolocError, match="does not match the SHA-256"):
        fetch_dataset("im2gps3k", tmp_path / "out", archive=str(archive), labels=str(csv), sha256="0" * 64)


def test_yfcc4k_labels_from_info_txt_inside_the_archive(tmp_path):
    rows, entries = [], {}
    for i in range(3):
        pid = str(5_000_000 + i)
        fields = [str(i), pid, "hash", "nsid", "nick", "2010-01-01", "1", "dev", "t", "d", "tags", "mtags",
                  f"{10.0 + i}", f"{40.0 + i}", "16"]
        rows.append("\t".join(fields))
        entries[f"yfcc4k/{pid}.jpg"] = jpeg(i)
    entries["yfcc4k/info.txt"] = ("\n".join(rows) + "\n").encode()
    archive = tmp_path / "yfcc4k.zip"
    archive.write_bytes(make_zip(entries))
    res = fetch_dataset("yfcc4k", tmp_path / "y", archive=str(archive), progress=False)
    m = pd.read_csv(res.manifest)
    assert res.images == 3
    np.testing.assert_allclose(m["lon"], [10, 11, 12]) and np.testing.assert_allclose(m["lat"], [40, 41, 42])


class RangeHandler(http.server.BaseHTTPRequestHandler):
    """Serves ``server.payload`` at any path, honouring ``Range: bytes=N-``; ``server.cut`` stops a full
    response after that many bytes (a dropped connection)."""

    def do_GET(self):
        data = self.server.payload
        start = 0
        rng = self.headers.get("Range")
        if rng and rng.startswith("bytes="):
            start = int(rng[6:].split("-")[0])
        self.server.ranges.append(start)
        if start >= len(data):
            self.send_response(416)
            self.end_headers()
            return
        body = data[start:]
        self.send_response(206 if start else 200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        cut = self.server.cut
        self.wfile.write(body[:cut] if cut and not start else body)

    def log_message(self, *args):
        pass


@pytest.fixture
def http_source():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RangeHandler)
    srv.payload, srv.ranges, srv.cut = bytes(range(256)) * 4000, [], 0
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def test_download_url_resumes_and_checks_the_digest(http_source, tmp_path):
    url = f"http://127.0.0.1:{http_source.server_address[1]}/yfcc4k.zip"
    data = http_source.payload
    digest = hashlib.sha256(data).hexdigest()
    http_source.cut = 300_000                                     # the first attempt stops early
    with pytest.raises(GeolocError, match="kept, run the command again to resume"):
        download_url(url, tmp_path / "a.zip", sha256=digest, progress=False, timeout=5)
    part = tmp_path / "a.zip.part"
    assert part.stat().st_size == 300_000 and not (tmp_path / "a.zip").exists()
    http_source.cut = 0
    got = download_url(url, tmp_path / "a.zip", sha256=digest, progress=False)
    assert got.read_bytes() == data and not part.exists() and http_source.ranges == [0, 300_000]
    with pytest.raises(GeolocError, match="does not match its SHA-256"):
        download_url(url, tmp_path / "b.zip", sha256="f" * 64, progress=False)
    assert not (tmp_path / "b.zip").exists() and not (tmp_path / "b.zip.part").exists()


def test_download_url_offline_is_one_line_within_seconds(tmp_path):
    t0 = time.perf_counter()
    with pytest.raises(OfflineError) as ex:
        download_url("http://127.0.0.1:9/im2gps3k_places365.csv", tmp_path / "l.csv", progress=False)
    assert time.perf_counter() - t0 < 5 and "\n" not in str(ex.value)
    assert str(tmp_path / "l.csv") in str(ex.value) and "cannot be reached" in str(ex.value)


def test_cli_fetch_archive_prints_one_summary_line(tmp_path, capsys):
    archive, csv, _ = im2gps3k_sample(tmp_path)
    code, out, _ = run_cli(["data", "fetch", "im2gps3k", "--out", str(tmp_path / "c"), "--archive", str(archive),
                            "--labels", str(csv), "--max-images", "4", "--quiet"], capsys)
    assert code == 0 and out.strip().endswith("4 images with labels (4 new, 5 label rows)")
