"""``geoloc demo`` (what ``make app`` runs until the web app exists): a short tour of what exists.

Prints (rich tables) distances between a few cities, the GeoGuessr scores they would earn,
country / admin-1 lookups, nearest named places and land/sea, and, when ``geoloc.cells``
provides ``build_geocells``, a small set of semantic geocells built from 5,000 points drawn
from the photo-density prior. Everything is offline and takes well under 30 s.
"""

from __future__ import annotations

import importlib
import time

from rich.console import Console
from rich.table import Table

CITIES: list[tuple[str, float, float]] = [
    ("Paris", 48.8566, 2.3522),
    ("New York", 40.7128, -74.0060),
    ("Tokyo", 35.6895, 139.6917),
    ("Sydney", -33.8688, 151.2093),
    ("Nairobi", -1.2921, 36.8219),
    ("São Paulo", -23.5505, -46.6333),
]
"""Demo cities: (name, lat, lon) in degrees."""

PROBES: list[tuple[str, float, float]] = [
    ("Eiffel Tower", 48.8584, 2.2945),
    ("Off Sydney's coast", -33.95, 151.30),
    ("Mid-Atlantic", 0.0, -30.0),
    ("Reykjavík", 64.1466, -21.9426),
    ("Alice Springs", -23.6980, 133.8807),
]
"""Points for the lookup table: (label, lat, lon) in degrees."""


def _distance_table() -> Table:
    from geoloc.geo.distance import haversine_km
    from geoloc.geo.score import geoguessr_score, geoguessr_score_mapsize

    table = Table(title="Great-circle distances and GeoGuessr scores")
    for col in ("from", "to", "km", "score (world map)", "score (PIGEON form)"):
        table.add_column(col, justify="right" if col not in ("from", "to") else "left")
    pairs = [(CITIES[0], c) for c in CITIES[1:]] + [(CITIES[2], CITIES[3])]
    for (na, la, lo), (nb, lb, lob) in pairs:
        d = haversine_km(la, lo, lb, lob)
        table.add_row(na, nb, f"{d:,.1f}", str(geoguessr_score_mapsize(d)), str(geoguessr_score(d)))
    for d in (0.0, 1.0, 25.0, 100.0, 500.0):
        table.add_row(
            "(any)", f"{d:g} km away", f"{d:,.1f}", str(geoguessr_score_mapsize(d)), str(geoguessr_score(d))
        )
    return table


def _lookup_table() -> Table:
    import numpy as np

    from geoloc.geo.boundaries import lookup_admin
    from geoloc.geo.gazetteer import nearest_place
    from geoloc.geo.landsea import is_land

    lat = np.array([p[1] for p in PROBES])
    lon = np.array([p[2] for p in PROBES])
    adm = lookup_admin(lat, lon)
    place = nearest_place(lat, lon)
    land = is_land(lat, lon)
    table = Table(title="Offline lookups: Natural Earth admin-1, GeoNames places, 1-km land mask")
    for col in ("point", "lat, lon", "country / admin-1", "nearest place", "land"):
        table.add_column(col)
    for i, (label, la, lo) in enumerate(PROBES):
        if adm.loc[i, "index"] >= 0:
            where = f"{adm.loc[i, 'adm0_a3']} / {adm.loc[i, 'admin1']}"
            if adm.loc[i, "distance_km"] > 0:
                where += f" ({adm.loc[i, 'distance_km']:.1f} km off)"
        else:
            where = "none"
        near = f"{place.loc[i, 'name']}, {place.loc[i, 'cc']} ({place.loc[i, 'distance_km']:.1f} km)"
        table.add_row(label, f"{la:.4f}, {lo:.4f}", where, near, "land" if land[i] else "sea")
    return table


def _geocell_table(console: Console, n_points: int = 5000) -> Table | None:
    try:
        cells = importlib.import_module("geoloc.cells")
        build = cells.build_geocells
    except (ImportError, AttributeError):
        console.print("[dim]geoloc.cells is not available yet: skipping the geocell demo.[/dim]")
        return None
    from geoloc.geo.density import sample_photo_locations

    lat, lon = sample_photo_locations(n_points, seed=0)
    t0 = time.perf_counter()
    built = build(lat, lon, min_size=20, max_size=200, seed=0, progress=False)
    cellset = built[0] if isinstance(built, tuple) else built
    seconds = time.perf_counter() - t0
    summary = cellset.summary()
    table = Table(title=f"Semantic geocells from {n_points:,} prior photo locations ({seconds:.1f} s)")
    table.add_column("statistic")
    table.add_column("value", justify="right")
    for key in ("cells", "points", "countries", "size_min", "size_median", "size_max"):
        if key in summary:
            value = summary[key]
            table.add_row(key, f"{value:,.0f}" if isinstance(value, int | float) else str(value))
    top = summary.get("top_countries") or []
    if top:
        table.add_row("top countries", ", ".join(f"{c} ({k})" for c, k, *_ in top[:5]))
    return table


def run_demo(*, geocells: bool = True, console: Console | None = None) -> None:
    """Print the tour to ``console`` (default: stdout). ``geocells=False`` skips the cell build."""
    console = console or Console()
    t0 = time.perf_counter()
    console.rule("geoloc demo: the geography core")
    console.print(_distance_table())
    console.print(_lookup_table())
    if geocells:
        table = _geocell_table(console)
        if table is not None:
            console.print(table)
    console.print(
        f"[dim]Done in {time.perf_counter() - t0:.1f} s. Try: geoloc geo lookup 48.8584 2.2945, "
        "geoloc geo distance 48.85 2.35 40.71 -74.0, geoloc --help[/dim]"
    )
