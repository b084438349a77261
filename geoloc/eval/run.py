"""Evaluate a Geolocator on a manifest: predict every location, skip and count bad items, report.

A manifest row is one image; rows sharing an ``id`` with a ``view`` column are the views of one
location (ordered by ``view``). The truth of a location is its first row's ``lat``/``lon`` (degrees).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from geoloc.errors import GeolocError
from geoloc.eval.report import EvalReport, report


@dataclass
class ManifestEvaluation:
    """The report plus what was left out: manifest rows that failed validation and locations whose
    images could not be predicted (``(source, reason)``)."""

    report: EvalReport
    n_locations: int
    invalid_rows: int
    failed: list[tuple[str, str]] = field(default_factory=list)


def locations_from_manifest(df, root=None) -> tuple[list[list[Path]], np.ndarray, np.ndarray]:
    """Group clean manifest rows into locations: ``(views per location, true lat [L], true lon [L])``."""
    from geoloc.data.manifest import resolve_paths

    paths = resolve_paths(df, root)
    if "id" in df.columns and "view" in df.columns:
        order = df.assign(_p=paths).sort_values(["id", "view"], kind="stable")
        groups = order.groupby("id", sort=False)
        inputs = [list(g["_p"]) for _, g in groups]
        first = groups.head(1)
        return inputs, first["lat"].to_numpy(np.float64), first["lon"].to_numpy(np.float64)
    return [[p] for p in paths], df["lat"].to_numpy(np.float64), df["lon"].to_numpy(np.float64)


def evaluate_manifest(geolocator, manifest, *, root=None, views: int | None = None, out_dir=None,
                      name: str = "model", progress: bool = True, layout: str = "auto") -> ManifestEvaluation:
    """Predict every location of ``manifest`` (path or DataFrame) and compute the metrics of
    :func:`geoloc.eval.report.report` (country / admin-1 from Natural Earth lookups of both points).
    ``layout`` / ``views``: how a single-image location is read (see :mod:`geoloc.data.layout`)."""
    from geoloc.data.manifest import read_manifest, validate_manifest

    df = read_manifest(manifest, root=root) if isinstance(manifest, (str, Path)) else manifest
    clean, checked = validate_manifest(df, root)
    inputs, true_lat, true_lon = locations_from_manifest(clean, root)
    batch = [[str(p) for p in views_] if len(views_) > 1 else str(views_[0]) for views_ in inputs]
    preds = geolocator.predict(batch, layout=layout, views=views, progress=progress) if batch else []
    ok = np.array([p.ok for p in preds], dtype=bool).reshape(-1)
    failed = [(p.source, p.error or "") for p in preds if not p.ok]
    if not ok.any():
        raise GeolocError(f"{manifest if isinstance(manifest, (str, Path)) else 'manifest'}: no location could be "
                          f"evaluated ({checked.n_bad} invalid row(s), {len(failed)} unreadable location(s))")
    pred_lat = np.array([p.lat for p in preds if p.ok], dtype=np.float64)
    pred_lon = np.array([p.lon for p in preds if p.ok], dtype=np.float64)
    rep = report(pred_lat, pred_lon, true_lat[ok], true_lon[ok], out_dir=out_dir, name=name,
                 admin_from_coordinates=True)
    return ManifestEvaluation(report=rep, n_locations=len(inputs), invalid_rows=checked.n_bad, failed=failed)
