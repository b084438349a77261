"""Label files of the standard geolocation benchmarks, read into the manifest schema.

==================  =====================================================================
format              layout
==================  =====================================================================
``im2gps``          CSV with header ``IMG_ID,AUTHOR,LAT,LON,...`` (IM2GPS 237 rows,
(``im2gps3k``)      IM2GPS3k 2,997 rows; GeoEstimation ``meta/*_places365.csv``; also
                    YFCC25600 in the same layout). ``path`` = ``IMG_ID``. One historical
                    copy of im2gps3k labels the columns ``LON,LAT`` over lat-first values:
                    when the column named LAT holds values outside [-90, 90] and the one
                    named LON does not, the two are swapped and a
                    :class:`ColumnOrderWarning` is issued. (When every value fits both
                    ranges the header is trusted.)
``yfcc``            YFCC100M-style ``info.txt`` (YFCC4k, YFCC26k): tab-separated, no
(``yfcc4k``,        header, 0-based fields: 0 line number, 1 photo id, 2 hash, 3 user NSID,
``yfcc26k``)        4 nickname, 5 date taken, ..., **12 longitude, 13 latitude**, 14
                    accuracy. ``path`` = ``<photo id>.jpg``. This is the indexing of
                    OSV-5M's ``data/data.py:Baseline.load_yfcc4k`` (``x[1], x[12], x[13]``
                    after ``line.split("\\t")``), i.e. "longitude in column 12, latitude in
                    column 13" counted from 0 with the line number first.
``osv5m``           OSV-5M ``test.csv``: ``id,latitude,longitude,country,region,
                    sub-region,city,...``; ``path`` = ``<id>.jpg``; ``region`` ->
                    ``admin1``, ``sub-region`` -> ``admin2``, ``city`` -> ``town``.
==================  =====================================================================

Rows that cannot be parsed keep NaN coordinates so that :func:`validate_manifest` names
them; nothing is dropped here. ``image_dir`` is prefixed to every ``path`` (e.g.
``"images"``), relative to the label file's folder.
"""

from __future__ import annotations

import csv
import os
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from geoloc.data.manifest import ID, LAT, LON, PATH
from geoloc.errors import InputFileError

YFCC_PHOTO_ID_FIELD = 1
YFCC_LON_FIELD = 12
YFCC_LAT_FIELD = 13
YFCC_FIELDS: dict[int, str] = {0: "line", 3: "user_nsid", 5: "date_taken", 14: "accuracy"}


class ColumnOrderWarning(UserWarning):
    """A label file whose LAT/LON header contradicts its values (the columns were swapped)."""


def _check_file(path: Path) -> None:
    if not path.is_file():
        raise InputFileError(f"{path}: label file not found")
    if path.stat().st_size == 0:
        raise InputFileError(f"{path}: label file is empty")


def _join(image_dir: str | None, names: pd.Series) -> pd.Series:
    names = names.astype(str)
    return names if not image_dir else names.map(lambda n: str(Path(image_dir) / n))


def _finish(df: pd.DataFrame, path: Path, fmt: str) -> pd.DataFrame:
    front = [c for c in (ID, PATH, LAT, LON) if c in df.columns]
    df = df[front + [c for c in df.columns if c not in front]].reset_index(drop=True)
    df.attrs["root"] = str(path.parent.resolve())
    df.attrs["source"] = str(path)
    df.attrs["format"] = fmt
    return df


def detect_swapped_lat_lon(lat, lon) -> bool:
    """True when the column labelled latitude has a value outside [-90, 90] while the one
    labelled longitude fits entirely: the header has the two names swapped."""
    lat = np.asarray(lat, dtype=np.float64)
    lon = np.asarray(lon, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        lat_out = bool(np.any(np.abs(lat[np.isfinite(lat)]) > 90.0))
        lon_fits = bool(np.all(np.abs(lon[np.isfinite(lon)]) <= 90.0))
    return lat_out and lon_fits


def read_im2gps(path: str | os.PathLike, *, image_dir: str | None = None) -> pd.DataFrame:
    """IM2GPS / IM2GPS3k / YFCC25600 CSV (``IMG_ID,AUTHOR,LAT,LON,...``) -> manifest.
    Columns other than IMG_ID/LAT/LON are kept, lower-cased (``author``, ``s3_label``, ...)."""
    path = Path(path)
    _check_file(path)
    try:
        raw = pd.read_csv(path, dtype={"IMG_ID": str, "AUTHOR": str})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputFileError(f"{path}: not an IM2GPS-style CSV ({exc})") from exc
    cols = {str(c).strip().upper(): c for c in raw.columns}
    missing = [c for c in ("IMG_ID", "LAT", "LON") if c not in cols]
    if missing:
        raise InputFileError(f"{path}: IM2GPS CSV lacks column(s) {', '.join(missing)} "
                             f"(found: {', '.join(map(str, raw.columns))})")
    lat = pd.to_numeric(raw[cols["LAT"]], errors="coerce")
    lon = pd.to_numeric(raw[cols["LON"]], errors="coerce")
    if detect_swapped_lat_lon(lat, lon):
        warnings.warn(
            f"{path}: the column named {cols['LAT']!r} holds values outside [-90, 90] and "
            f"{cols['LON']!r} fits latitude: the header has LAT and LON swapped; reading them swapped",
            ColumnOrderWarning, stacklevel=2)
        lat, lon = lon, lat
    img = raw[cols["IMG_ID"]].astype(str)
    df = pd.DataFrame({ID: img.map(lambda s: Path(s).stem), PATH: _join(image_dir, img),
                       LAT: lat.to_numpy(), LON: lon.to_numpy()})
    for c in raw.columns:
        if c not in (cols["IMG_ID"], cols["LAT"], cols["LON"]):
            df[str(c).strip().lower()] = raw[c].to_numpy()
    return _finish(df, path, "im2gps")


def read_yfcc(path: str | os.PathLike, *, image_dir: str | None = None,
              image_ext: str = ".jpg") -> pd.DataFrame:
    """YFCC100M-style ``info.txt`` (YFCC4k, YFCC26k) -> manifest; see the module doc for
    the field indexing. Lines with fewer than 14 fields or unparseable coordinates keep
    NaN coordinates (reported by validation), with ``problem`` saying why."""
    path = Path(path)
    _check_file(path)
    rows = []
    with open(path, encoding="utf-8", errors="replace", newline="") as fh:
        for lineno, fields in enumerate(csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE), 1):
            if not fields or all(not f.strip() for f in fields):
                continue
            row = {"lineno": lineno, "problem": ""}
            if len(fields) <= YFCC_LAT_FIELD:
                row.update({ID: fields[YFCC_PHOTO_ID_FIELD].strip() if len(fields) > 1 else "",
                            LAT: np.nan, LON: np.nan,
                            "problem": f"{len(fields)} fields, need >= {YFCC_LAT_FIELD + 1}"})
            else:
                row[ID] = fields[YFCC_PHOTO_ID_FIELD].strip()
                try:
                    row[LON] = float(fields[YFCC_LON_FIELD])
                    row[LAT] = float(fields[YFCC_LAT_FIELD])
                except ValueError:
                    row[LAT], row[LON] = np.nan, np.nan
                    row["problem"] = (f"unparseable coordinates lon={fields[YFCC_LON_FIELD]!r} "
                                      f"lat={fields[YFCC_LAT_FIELD]!r}")
                for idx, name in YFCC_FIELDS.items():
                    if idx < len(fields):
                        row[name] = fields[idx]
            rows.append(row)
    if not rows:
        raise InputFileError(f"{path}: no lines in YFCC info.txt")
    df = pd.DataFrame(rows)
    df[PATH] = _join(image_dir, df[ID].astype(str) + image_ext)
    if "accuracy" in df.columns:
        df["accuracy"] = pd.to_numeric(df["accuracy"], errors="coerce")
    return _finish(df, path, "yfcc")


OSV5M_RENAME = {"region": "admin1", "sub-region": "admin2", "city": "town"}


def read_osv5m(path: str | os.PathLike, *, image_dir: str | None = None,
               image_ext: str = ".jpg") -> pd.DataFrame:
    """OSV-5M ``test.csv`` / ``train.csv`` -> manifest (``path`` = ``<id>.jpg``; region,
    sub-region, city renamed admin1, admin2, town; other columns kept)."""
    path = Path(path)
    _check_file(path)
    try:
        raw = pd.read_csv(path, dtype={"id": str, "country": str, "region": str, "sub-region": str,
                                       "city": str}, low_memory=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputFileError(f"{path}: not an OSV-5M CSV ({exc})") from exc
    missing = [c for c in ("id", "latitude", "longitude") if c not in raw.columns]
    if missing:
        raise InputFileError(f"{path}: OSV-5M CSV lacks column(s) {', '.join(missing)} "
                             f"(found: {', '.join(map(str, raw.columns))})")
    df = raw.rename(columns={"latitude": LAT, "longitude": LON, **OSV5M_RENAME})
    df[ID] = df[ID].astype(str)
    df[LAT] = pd.to_numeric(df[LAT], errors="coerce")
    df[LON] = pd.to_numeric(df[LON], errors="coerce")
    df[PATH] = _join(image_dir, df[ID] + image_ext)
    return _finish(df, path, "osv5m")


BENCHMARK_FORMATS: dict[str, Callable[..., pd.DataFrame]] = {
    "im2gps": read_im2gps,
    "im2gps3k": read_im2gps,
    "yfcc": read_yfcc,
    "yfcc4k": read_yfcc,
    "yfcc26k": read_yfcc,
    "osv5m": read_osv5m,
}


def read_benchmark(path: str | os.PathLike, fmt: str, *, image_dir: str | None = None) -> pd.DataFrame:
    """Read a benchmark label file of format ``fmt`` (a key of :data:`BENCHMARK_FORMATS`)."""
    reader = BENCHMARK_FORMATS.get(fmt.lower())
    if reader is None:
        raise InputFileError(f"unknown benchmark format {fmt!r} (known: {', '.join(BENCHMARK_FORMATS)})")
    return reader(path, image_dir=image_dir)
