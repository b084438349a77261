"""World map of geocells (matplotlib, Agg backend)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _colours(n: int) -> np.ndarray:
    """``n`` RGBA colours: tab20 with a fixed shuffle so neighbouring indices differ."""
    import matplotlib

    base = matplotlib.colormaps["tab20"](np.arange(20))
    order = np.random.default_rng(7).permutation(max(n, 1)) % 20
    return base[order[:n]]


def plot_cells(cells, png_path, *, title: str | None = None, dpi: int = 150) -> Path:
    """Draw ``cells`` (a :class:`~geoloc.cells.geocell_set.GeocellSet`) coloured, with country
    outlines and centroids, zoomed to the cells' extent; write a PNG and return its path."""
    import matplotlib

    matplotlib.use("Agg")
    import geopandas as gpd
    import matplotlib.pyplot as plt
    import shapely

    from geoloc.geo.boundaries import load_admin0

    png_path = Path(png_path)
    png_path.parent.mkdir(parents=True, exist_ok=True)
    frame = cells.frame
    fig, ax = plt.subplots(figsize=(12, 6.5))
    ax.set_facecolor("#dcecf5")
    countries = load_admin0()
    countries.plot(ax=ax, color="#f4f1ea", edgecolor="none", zorder=0)
    if len(frame):
        frame.plot(ax=ax, color=_colours(len(frame)), edgecolor="white", linewidth=0.2, zorder=1)
        ax.scatter(frame["lon"], frame["lat"], s=1.5, c="black", zorder=3, linewidths=0)
    # Outer rings only: the dissolved admin-1 data keeps sliver holes that would draw as dashes.
    parts = shapely.get_parts(np.asarray(countries.geometry.values, dtype=object))
    outlines = gpd.GeoSeries(shapely.get_exterior_ring(parts[shapely.area(parts) > 1e-3]))
    outlines.plot(ax=ax, color="#333333", linewidth=0.4, zorder=2)
    if len(frame):
        minx, miny, maxx, maxy = frame.total_bounds
        pad = max(maxx - minx, maxy - miny) * 0.05 + 0.5
        ax.set_xlim(max(-180, minx - pad), min(180, maxx + pad))
        ax.set_ylim(max(-90, miny - pad), min(90, maxy + pad))
    else:
        ax.set_xlim(-180, 180)
        ax.set_ylim(-90, 90)
    ax.set_xlabel("longitude (deg)")
    ax.set_ylabel("latitude (deg)")
    s = cells.summary()
    ax.set_title(
        title
        or f"{s['cells']} {s['kind']} geocells, {s['points']} points, sizes {s['size_min']}-{s['size_max']} "
        f"(median {s['size_median']:.0f})"
    )
    fig.tight_layout()
    fig.savefig(png_path, dpi=dpi)
    plt.close(fig)
    return png_path
