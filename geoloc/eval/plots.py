"""Figures of geolocation errors: error histogram and error map (PNG).

Figures are built with ``matplotlib.figure.Figure`` (the Agg canvas, no pyplot), so nothing
here changes the global matplotlib backend or leaks figures.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure

from geoloc.eval.metrics import THRESHOLDS_KM


def plot_error_histogram(errors_km, path: str | Path, *, title: str = "Geolocation error",
                         thresholds=THRESHOLDS_KM) -> Path:
    """Histogram of errors on a log-km axis with the threshold lines; writes a PNG."""
    e = np.asarray(errors_km, dtype=np.float64)
    fig = Figure(figsize=(7, 4), dpi=110)
    ax = fig.subplots()
    lo = max(0.1, float(e.min()) if e.size else 0.1)
    bins = np.logspace(np.log10(min(lo, 0.1)), np.log10(20038.0), 50)
    ax.hist(np.clip(e, bins[0], bins[-1]), bins=bins, color="#3a7bd5", edgecolor="white", linewidth=0.3)
    ax.set_xscale("log")
    for t in thresholds:
        frac = float(np.mean(e <= t)) if e.size else float("nan")
        ax.axvline(t, color="#d9534f", lw=0.8, ls="--")
        ax.text(t, ax.get_ylim()[1] * 0.95, f"{t:g} km\n{100 * frac:.1f}%", fontsize=7, ha="center", va="top")
    ax.set_xlabel("error (km, log scale)")
    ax.set_ylabel("predictions")
    med = float(np.median(e)) if e.size else float("nan")
    ax.set_title(f"{title} (n={e.size}, median {med:.0f} km)")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    return path


def _country_outlines() -> list[np.ndarray]:
    """Natural Earth admin-0 boundary lines as [n_i, 2] (lon, lat) arrays (one LineCollection is
    several times faster to draw than GeoPandas' per-geometry plotting)."""
    import shapely

    from geoloc.geo.boundaries import load_admin0

    lines = shapely.get_parts(shapely.get_parts(load_admin0().boundary.values))
    return [np.asarray(shapely.get_coordinates(line)) for line in lines]


def plot_error_map(pred_lat, pred_lon, true_lat, true_lon, errors_km, path: str | Path, *,
                   title: str = "Errors", max_lines: int = 2000) -> Path:
    """World map (plate carree): country outlines, true points coloured by error, and a line
    from each true point to its prediction (at most ``max_lines``, evenly subsampled)."""
    e = np.asarray(errors_km, dtype=np.float64)
    tl, to, pl, po = (np.asarray(v, np.float64) for v in (true_lat, true_lon, pred_lat, pred_lon))
    fig = Figure(figsize=(11, 5.6), dpi=110)
    ax = fig.subplots()
    ax.add_collection(LineCollection(_country_outlines(), colors="#999999", linewidths=0.3))
    idx = np.arange(e.size)
    if e.size > max_lines:
        idx = np.linspace(0, e.size - 1, max_lines).astype(int)
    # lines that would wrap the date line are drawn only when short enough in longitude
    seg = [((to[i], tl[i]), (po[i], pl[i])) for i in idx if abs(po[i] - to[i]) <= 180]
    ax.add_collection(LineCollection(seg, colors="#d9534f", linewidths=0.4, alpha=0.5))
    sc = ax.scatter(to, tl, c=np.log10(np.maximum(e, 0.1)), cmap="viridis_r", s=6, vmin=-1, vmax=4.3, zorder=3)
    cb = fig.colorbar(sc, ax=ax, shrink=0.8)
    cb.set_label("log10 error (km)")
    ax.set_xlim(-180, 180)
    ax.set_ylim(-90, 90)
    ax.set_aspect("equal")
    ax.set_xlabel("longitude")
    ax.set_ylabel("latitude")
    ax.set_title(title)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    return path
