"""Manifests: the table every stage of geoloc reads (images + coordinates + metadata).

Schema (one row per image):

=========== ========= ==================================================================
column      required  meaning
=========== ========= ==================================================================
``lat``     yes       latitude in degrees, [-90, 90]
``lon``     yes       longitude in degrees, [-180, 180]
``path``    yes*      image file, relative to the manifest's folder (or ``root``) or absolute
``id``      no        location id; rows sharing an ``id`` with distinct ``view`` are the
                      views of one location (e.g. four headings of a street-level panorama)
``view``    no        integer view index within a location (0, 1, 2, 3)
``heading`` no        camera heading in degrees clockwise from north
any other   no        metadata (country, admin1, town, climate, month, split, ...), kept as is
=========== ========= ==================================================================

(*) ``path`` may be waived with ``require_path=False`` for label-only tables (geocell
construction needs only coordinates).

Column names are matched case-insensitively and through :data:`COLUMN_ALIASES`
(``latitude``/``LAT`` -> ``lat``, ``image``/``file``/``filepath`` -> ``path``, ...).
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from geoloc.errors import InputFileError
from geoloc.geo.validate import describe_rows

LAT = "lat"
LON = "lon"
PATH = "path"
ID = "id"
VIEW = "view"
HEADING = "heading"

REQUIRED_COLUMNS: tuple[str, ...] = (LAT, LON, PATH)
COORDINATE_COLUMNS: tuple[str, ...] = (LAT, LON)
OPTIONAL_COLUMNS: tuple[str, ...] = (ID, VIEW, HEADING)
CANONICAL_COLUMNS: tuple[str, ...] = REQUIRED_COLUMNS + OPTIONAL_COLUMNS

#: Accepted spellings (compared lower-case) for each canonical column.
COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    LAT: ("lat", "latitude", "lat_deg", "gps_lat", "true_lat"),
    LON: ("lon", "longitude", "lng", "long", "lon_deg", "gps_lon", "true_lon"),
    PATH: ("path", "image", "image_path", "img_path", "file", "filepath", "file_path", "filename",
           "img", "img_file", "image_file"),
    ID: ("id", "location_id", "loc_id", "pano_id", "panoid"),
    VIEW: ("view", "view_idx", "view_index"),
    HEADING: ("heading", "yaw", "bearing", "heading_deg"),
}

MANIFEST_SUFFIXES: tuple[str, ...] = (".csv", ".parquet", ".pq", ".tsv")

# Reasons named in a ValidationReport.
REASON_MISSING_FILE = "missing file"
REASON_EMPTY_FILE = "empty file"
REASON_EMPTY_PATH = "empty path"
REASON_BAD_COORDINATES = "invalid coordinates"
REASON_DUPLICATE = "duplicate (id, view)"
REASON_DUPLICATE_ID = "duplicate id"
REASON_BAD_VIEW = "bad view"
REASON_BAD_HEADING = "bad heading"


@dataclass(frozen=True)
class RowProblem:
    """One bad manifest row: ``row`` is its 0-based position in the table that was
    validated (CSV line = row + 2 with a header), ``reason`` one of the REASON_* strings."""

    row: int
    reason: str
    detail: str = ""

    def __str__(self) -> str:
        return f"row {self.row}: {self.reason}" + (f" ({self.detail})" if self.detail else "")


@dataclass
class ValidationReport:
    """What :func:`validate_manifest` found: counts and every bad row with its reason."""

    n_rows: int
    n_valid: int
    problems: list[RowProblem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    source: str = "manifest"

    @property
    def bad_rows(self) -> np.ndarray:
        """Sorted unique 0-based row numbers with at least one problem."""
        return np.array(sorted({p.row for p in self.problems}), dtype=np.int64)

    @property
    def n_bad(self) -> int:
        return int(self.bad_rows.size)

    @property
    def ok(self) -> bool:
        return not self.problems

    def counts(self) -> dict[str, int]:
        """Number of rows per reason."""
        return dict(Counter(p.reason for p in self.problems))

    def summary(self, limit: int = 10) -> str:
        """A few lines for people: totals, then per reason the rows concerned."""
        lines = [f"{self.source}: {self.n_rows} rows, {self.n_valid} valid, {self.n_bad} skipped"]
        by_reason: dict[str, list[RowProblem]] = {}
        for p in self.problems:
            by_reason.setdefault(p.reason, []).append(p)
        for reason, probs in by_reason.items():
            rows = np.array([p.row for p in probs])
            example = next((p.detail for p in probs if p.detail), "")
            lines.append(f"  {reason}: {len(probs)} at {describe_rows(rows, limit)}"
                         + (f"; e.g. {example}" if example else ""))
        lines.extend(f"  note: {n}" for n in self.notes)
        return "\n".join(lines)

    def raise_if_bad(self) -> None:
        """Raise :class:`InputFileError` naming the bad rows (strict mode)."""
        if self.problems:
            raise InputFileError(self.summary().replace("\n", ";"))


# --------------------------------------------------------------------------- reading


def normalize_columns(df: pd.DataFrame, *, source: str = "manifest") -> pd.DataFrame:
    """Rename alias columns to the canonical names (case-insensitive). A canonical column
    already present wins; two different aliases for one missing column is an error."""
    rename: dict[str, str] = {}
    lower = {c: str(c).strip().lower() for c in df.columns}
    for canon, aliases in COLUMN_ALIASES.items():
        if canon in df.columns:
            continue
        exact = [c for c in df.columns if lower[c] == canon]
        if exact:
            rename[exact[0]] = canon
            continue
        hits = [c for c in df.columns if lower[c] in aliases and c not in rename]
        if len(hits) > 1:
            raise InputFileError(
                f"{source}: columns {hits} all look like '{canon}'; keep one or rename the others"
            )
        if hits:
            rename[hits[0]] = canon
    return df.rename(columns=rename)


def _read_table(path: Path) -> pd.DataFrame:
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(path)
        sep = "\t" if suffix == ".tsv" else ","
        header = pd.read_csv(path, sep=sep, nrows=0).columns
        renamed = normalize_columns(pd.DataFrame(columns=header), source=str(path)).columns
        as_text = {orig: str for orig, new in zip(header, renamed, strict=True) if new in (ID, PATH)}
        return pd.read_csv(path, sep=sep, low_memory=False, dtype=as_text)
    except pd.errors.EmptyDataError as exc:
        raise InputFileError(f"{path}: manifest is empty") from exc
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError, OSError) as exc:
        raise InputFileError(f"{path}: cannot read manifest ({exc})") from exc


def read_manifest(path: str | os.PathLike, *, root: str | os.PathLike | None = None,
                  require_path: bool = True) -> pd.DataFrame:
    """Read a CSV / TSV / Parquet manifest into the canonical schema.

    Columns are renamed through :data:`COLUMN_ALIASES`; ``id`` and ``path`` are read as
    text from CSV (``"00123"`` keeps its zeros); ``lat``/``lon`` stay as read (validate
    with :func:`validate_manifest`). The image root (``root`` or the manifest's
    folder) is stored in ``df.attrs["root"]`` and used to resolve relative paths.
    Raises :class:`InputFileError` for a missing/unreadable file or missing required columns.
    """
    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"{path}: manifest not found")
    if path.stat().st_size == 0:
        raise InputFileError(f"{path}: manifest is empty")
    df = normalize_columns(_read_table(path), source=str(path))
    check_columns(df, source=str(path), require_path=require_path)
    df.attrs["root"] = str(Path(root) if root is not None else path.parent.resolve())
    df.attrs["source"] = str(path)
    return df


def check_columns(df: pd.DataFrame, *, source: str = "manifest", require_path: bool = True) -> None:
    """Raise :class:`InputFileError` naming the required columns that are missing."""
    required = REQUIRED_COLUMNS if require_path else COORDINATE_COLUMNS
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise InputFileError(
            f"{source}: missing required column(s) {', '.join(missing)} "
            f"(found: {', '.join(map(str, df.columns)) or 'none'}; aliases accepted: "
            + "; ".join(f"{c}={'/'.join(COLUMN_ALIASES[c][:4])}" for c in missing) + ")"
        )


def write_manifest(df: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write a manifest as Parquet (``.parquet``/``.pq``) or CSV (anything else)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() in (".parquet", ".pq"):
        df.to_parquet(path, index=False)
    else:
        df.to_csv(path, index=False, sep="\t" if path.suffix.lower() == ".tsv" else ",")
    return path


def resolve_paths(df: pd.DataFrame, root: str | os.PathLike | None = None) -> list[Path]:
    """Absolute image path of each row: absolute paths stay, relative ones join ``root``
    (default ``df.attrs['root']``, else the working directory)."""
    base = Path(root if root is not None else df.attrs.get("root", "."))
    out = []
    for p in df[PATH].astype(str):
        q = Path(p).expanduser()
        out.append(q if q.is_absolute() else base / q)
    return out


# --------------------------------------------------------------------------- validation


def validate_manifest(
    df: pd.DataFrame,
    root: str | os.PathLike | None = None,
    *,
    check_files: bool = True,
    strict: bool = False,
    require_path: bool = True,
) -> tuple[pd.DataFrame, ValidationReport]:
    """Split a manifest into clean rows and a report naming each bad row and its reason.

    Checks: required columns (missing -> :class:`InputFileError` at once), coordinates
    (non-numeric, NaN, infinite, out of range), empty paths, missing or empty image files
    (``check_files``), non-integer ``view``, non-finite ``heading``, duplicate ``(id, view)``
    (duplicate ``id`` when there is no ``view`` column); the first occurrence of a duplicate
    is kept. ``lat``/``lon`` come back as float64, ``view`` as int64, index reset.
    ``strict=True`` raises :class:`InputFileError` naming the bad rows instead.
    """
    source = str(df.attrs.get("source", "manifest"))
    df = normalize_columns(df, source=source)
    check_columns(df, source=source, require_path=require_path)
    n = len(df)
    problems: list[RowProblem] = []
    notes: list[str] = []
    df = df.reset_index(drop=True)

    lat = pd.to_numeric(df[LAT], errors="coerce").to_numpy(dtype=np.float64)
    lon = pd.to_numeric(df[LON], errors="coerce").to_numpy(dtype=np.float64)
    with np.errstate(invalid="ignore"):
        bad_coord = ~np.isfinite(lat) | ~np.isfinite(lon) | (np.abs(lat) > 90) | (np.abs(lon) > 180)
    lat_raw, lon_raw = df[LAT].to_numpy(), df[LON].to_numpy()
    problems += [RowProblem(int(r), REASON_BAD_COORDINATES, f"lat={lat_raw[r]!r}, lon={lon_raw[r]!r}")
                 for r in np.flatnonzero(bad_coord)]

    if PATH in df.columns:
        paths = df[PATH]
        empty = paths.isna() | (paths.astype(str).str.strip() == "")
        for r in np.flatnonzero(empty.to_numpy()):
            problems.append(RowProblem(int(r), REASON_EMPTY_PATH))
        if check_files:
            resolved = resolve_paths(df, root)
            for r, p in enumerate(resolved):
                if empty.iloc[r]:
                    continue
                try:
                    size = p.stat().st_size if p.is_file() else None
                except OSError:
                    size = None
                if size is None:
                    problems.append(RowProblem(r, REASON_MISSING_FILE, str(p)))
                elif size == 0:
                    problems.append(RowProblem(r, REASON_EMPTY_FILE, str(p)))

    view = None
    if VIEW in df.columns:
        view_num = pd.to_numeric(df[VIEW], errors="coerce").to_numpy(dtype=np.float64)
        with np.errstate(invalid="ignore"):
            bad_view = ~np.isfinite(view_num) | (view_num != np.round(view_num)) | (view_num < 0)
        view_raw = df[VIEW].to_numpy()
        problems += [RowProblem(int(r), REASON_BAD_VIEW, f"view={view_raw[r]!r}")
                     for r in np.flatnonzero(bad_view)]
        view = np.where(bad_view, -1, np.nan_to_num(view_num, nan=-1)).astype(np.int64)

    if HEADING in df.columns:
        heading = pd.to_numeric(df[HEADING], errors="coerce").to_numpy(dtype=np.float64)
        bad_heading = ~np.isfinite(heading) & df[HEADING].notna().to_numpy()
        heading_raw = df[HEADING].to_numpy()
        problems += [RowProblem(int(r), REASON_BAD_HEADING, f"heading={heading_raw[r]!r}")
                     for r in np.flatnonzero(bad_heading)]

    if ID in df.columns:
        ids = df[ID].astype(str)
        key = pd.DataFrame({"id": ids.to_numpy(), "view": view if view is not None else 0})
        dup = key.duplicated(keep="first").to_numpy().copy()
        if view is not None:
            dup &= view >= 0
        reason = REASON_DUPLICATE if view is not None else REASON_DUPLICATE_ID
        if dup.any():
            key["row"] = np.arange(n)
            first = key.groupby(["id", "view"], sort=False)["row"].transform("min").to_numpy()
            id_raw = ids.to_numpy()
            problems += [RowProblem(int(r), reason, f"id={id_raw[r]!r} first at row {first[r]}")
                         for r in np.flatnonzero(dup)]

    unnamed = [c for c in df.columns if str(c).lower().startswith("unnamed:")]
    if unnamed:
        notes.append(f"unnamed column(s) {unnamed} (a saved pandas index?) kept as metadata")

    problems.sort(key=lambda p: (p.row, p.reason))
    bad = np.zeros(n, dtype=bool)
    bad[[p.row for p in problems]] = True
    clean = df.loc[~bad].copy()
    clean[LAT] = lat[~bad]
    clean[LON] = lon[~bad]
    if view is not None:
        clean[VIEW] = view[~bad]
    clean = clean.reset_index(drop=True)
    clean.attrs.update(df.attrs)
    if root is not None:
        clean.attrs["root"] = str(root)
    report = ValidationReport(n_rows=n, n_valid=len(clean), problems=problems, notes=notes, source=source)
    if strict:
        report.raise_if_bad()
    return clean, report
