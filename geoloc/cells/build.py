"""``build_geocells``: PIGEON semantic geocells from training points and admin boundaries.

Pipeline (each step keeps every training point in exactly one cell):

1. **Initial units** (:mod:`geoloc.cells.units`): pseudo admin-2 pieces inside every admin-1
   unit holding at least ``min_size`` points (when ``admin2``), whole admin-1 units elsewhere,
   for every country that holds a point. Points take the unit they fall in, else the nearest
   unit; such outside points are *snapped* just inside that unit (nearest boundary point plus
   1e-8 degrees, :func:`geoloc.cells.lookup.snap_inside`) for the geometry steps below (their own coordinates are kept for centroids).
2. **Merge** units below ``min_size`` into neighbours in PIGEON's order (:mod:`geoloc.cells.merge`).
3. **Split** cells above ``max_size``: labels from OPTICS passes with median-split fallback
   (:mod:`geoloc.cells.partition`), polygons from the Voronoi regions of the points dissolved
   by label and clipped to the cell (:mod:`geoloc.cells.split`).
4. **Finish**: centroids (spherical mean of the points), deterministic order, and a check that
   :meth:`GeocellSet.assign` gives every training point its build label.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from geoloc.cells.partition import DEFAULT_SAMPLE_SIZE, OPTICS_PARAMS_PIGEON, PartitionStats
from geoloc.errors import GeolocError


@dataclass
class BuildReport:
    """What a build did. ``labels`` [N] is each training point's cell index (not in :meth:`to_dict`)."""

    n_points: int
    min_size: int
    max_size: int
    seed: int
    admin2: bool
    cross_country: bool
    n_cells: int = 0
    n_admin1: int = 0
    n_admin1_subdivided: int = 0
    n_units: int = 0
    points_outside_polygons: int = 0
    merges: int = 0
    cross_country_merges: int = 0
    cells_split: int = 0
    optics_calls: int = 0
    optics_splits: int = 0
    median_splits: int = 0
    fragments_moved: int = 0
    relabelled: int = 0
    relabelled_rows: list[int] = field(
        default_factory=list
    )  # first 100 rows whose label changed in the check
    isolated: list[dict[str, Any]] = field(default_factory=list)
    unsplittable: list[dict[str, Any]] = field(default_factory=list)
    size_violations: list[dict[str, Any]] = field(default_factory=list)
    dropped_empty_units: list[str] = field(default_factory=list)
    timings_s: dict[str, float] = field(default_factory=dict)
    labels: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64), repr=False)

    @property
    def exempt_cells(self) -> set[int]:
        """Cells allowed outside ``[min_size, max_size]``: isolated and unsplittable ones."""
        return {d["cell"] for d in self.isolated} | {d["cell"] for d in self.unsplittable}

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable dict (without ``labels``)."""
        d = asdict(self)
        d.pop("labels")
        return d

    def __str__(self) -> str:
        t = sum(self.timings_s.values())
        return (
            f"{self.n_cells} cells from {self.n_points} points (min {self.min_size}, max {self.max_size}) in {t:.1f} s; "
            f"{self.n_units} initial units ({self.n_admin1} admin-1, {self.n_admin1_subdivided} subdivided), "
            f"{self.merges} merges ({self.cross_country_merges} across countries), {self.cells_split} cells split "
            f"({self.optics_splits} OPTICS / {self.median_splits} median splits), "
            f"{len(self.isolated)} isolated, {len(self.unsplittable)} unsplittable, "
            f"{len(self.size_violations)} other size violations, {self.relabelled} relabelled, "
            f"{self.points_outside_polygons} points outside polygons (nearest unit)"
        )


def _check_sizes(min_size: int, max_size: int) -> None:
    if int(min_size) < 1:
        raise GeolocError(f"min_size must be >= 1, got {min_size}")
    if int(max_size) < int(min_size):
        raise GeolocError(f"max_size ({max_size}) must be >= min_size ({min_size})")


def _group_indices(labels: np.ndarray, n: int) -> list[np.ndarray]:
    order = np.argsort(labels, kind="stable")
    starts = np.searchsorted(labels[order], np.arange(n + 1))
    return [order[starts[i] : starts[i + 1]] for i in range(n)]


def build_geocells(
    lat,
    lon,
    *,
    min_size: int,
    max_size: int,
    seed: int = 0,
    admin2: bool = True,
    optics_params: tuple[tuple[int, float], ...] = OPTICS_PARAMS_PIGEON,
    cross_country: bool = False,
    sample_size: int = DEFAULT_SAMPLE_SIZE,
    progress: bool = True,
):
    """Build semantic geocells for training points (degrees).

    Parameters
    ----------
    lat, lon : array-like [N] of training coordinates in degrees; bad rows raise
        :class:`~geoloc.errors.CoordinateError` naming them.
    min_size, max_size : target number of training points per cell.
    seed : seeds OPTICS subsampling; the same seed and input give identical output.
    admin2 : start from pseudo admin-2 units (else admin-1 only).
    optics_params : ``(min_samples, xi)`` passes, tried in order
        (:data:`~geoloc.cells.partition.OPTICS_PARAMS_PIGEON` or ``OPTICS_PARAMS_YFCC``).
    cross_country : allow merging a small cell into another country's cell as a last resort.
    sample_size : OPTICS subsample size per split call.

    Returns
    -------
    ``(GeocellSet, BuildReport)``; ``report.labels[i]`` is the cell of point ``i``.
    """
    import shapely
    from tqdm.auto import tqdm

    from geoloc.cells import units as U
    from geoloc.cells.geocell_set import GeocellSet
    from geoloc.cells.lookup import locate_points, snap_inside
    from geoloc.cells.merge import merge_small_cells, unit_adjacency
    from geoloc.cells.partition import partition_points
    from geoloc.cells.split import split_polygon
    from geoloc.geo.sphere import grouped_spherical_mean, local_xy
    from geoloc.geo.validate import check_coordinates

    _check_sizes(min_size, max_size)
    lat, lon = check_coordinates(lat, lon, what="training points")
    n = lat.size
    if n == 0:
        raise GeolocError("no training points: cannot build geocells from an empty point set")
    report = BuildReport(
        n_points=n,
        min_size=int(min_size),
        max_size=int(max_size),
        seed=int(seed),
        admin2=bool(admin2),
        cross_country=bool(cross_country),
    )
    clock = time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        report.timings_s[stage] = round(now - clock, 3)
        clock = now

    # 1. initial units ---------------------------------------------------------------
    a1 = U.admin1_table()
    a1_idx = U.locate_admin1(lon, lat)
    a1_count = np.bincount(a1_idx, minlength=len(a1))
    countries = set(a1["adm0_a3"].to_numpy()[np.unique(a1_idx)])
    rows = np.flatnonzero(a1["adm0_a3"].isin(countries).to_numpy())
    subdivide = {int(r) for r in rows if a1_count[r] >= min_size} if admin2 else set()
    lap("admin1")
    units = U.build_units(rows, subdivide, progress=progress)
    report.n_admin1 = len(rows)
    report.n_admin1_subdivided = int(sum(1 for r in rows if r in subdivide and U.pseudo_admin2(int(r))))
    report.n_units = len(units)
    lap("units")
    unit_idx, outside = locate_points(units.index, lon, lat)
    sx, sy = lon.copy(), lat.copy()
    out = np.flatnonzero(outside)
    sx[out], sy[out] = snap_inside(units.geometry[unit_idx[out]], lon[out], lat[out], key=unit_idx[out])
    report.points_outside_polygons = int(out.size)
    unit_size = np.bincount(unit_idx, minlength=len(units))
    lap("locate")

    # 2. merge -----------------------------------------------------------------------
    adjacency = unit_adjacency(units.geometry)
    merged = merge_small_cells(
        unit_size,
        units.country,
        units.adm1_code,
        units.geometry,
        min_size=min_size,
        cross_country=cross_country,
        adjacency=adjacency,
        tree=units.tree,
    )
    report.merges = merged.merges
    report.cross_country_merges = merged.cross_country_merges
    report.dropped_empty_units = sorted(
        f"{units.country[u]}/{units.admin1[u]}/{units.name[u]}" for u in merged.dropped_units
    )
    cell_of_unit = np.full(len(units), -1, dtype=np.int64)
    for c, mem in enumerate(merged.members):
        cell_of_unit[mem] = c
    labels0 = cell_of_unit[unit_idx]
    assert (labels0 >= 0).all(), "a point lost its cell while merging"
    lap("merge")

    # 3. split -----------------------------------------------------------------------
    pts_of = _group_indices(labels0, len(merged.members))
    isolated0 = set(merged.isolated)
    cells: list[dict[str, Any]] = []
    stats = PartitionStats()
    bar = tqdm(total=len(merged.members), desc="geocells", unit="cell", disable=not progress, leave=False)
    for c, mem in enumerate(merged.members):
        head = merged.head[c]
        attrs = {
            "country": str(units.country[head]),
            "country_name": str(units.country_name[head]),
            "adm1_code": str(units.adm1_code[head]),
            "admin1": str(units.admin1[head]),
            "name": str(units.name[head]),
        }
        geom = (
            units.geometry[mem[0]]
            if len(mem) == 1
            else U.clean_polygon(shapely.union_all(units.geometry[mem]))
        )
        pts = pts_of[c]
        if merged.size[c] <= max_size:
            cells.append(
                {**attrs, "geometry": geom, "points": pts, "isolated": c in isolated0, "unsplittable": False}
            )
            bar.update(1)
            continue
        xy_all = np.stack([sx[pts], sy[pts]], axis=1)
        uxy, inverse, counts = np.unique(xy_all, axis=0, return_inverse=True, return_counts=True)
        inverse = inverse.ravel()
        rng = np.random.default_rng([int(seed), c])
        plabels, st = partition_points(
            local_xy(uxy[:, 1], uxy[:, 0]),
            counts,
            min_size=min_size,
            max_size=max_size,
            optics_params=optics_params,
            rng=rng,
            sample_size=sample_size,
        )
        stats.add(st)
        k = int(plabels.max()) + 1
        pieces, moved = split_polygon(geom, uxy, plabels, k)
        report.fragments_moved += moved
        report.cells_split += int(k > 1)
        point_group = plabels[inverse]
        for g, members_g in enumerate(_group_indices(point_group, k)):
            cells.append(
                {
                    **attrs,
                    "geometry": pieces[g],
                    "points": pts[members_g],
                    "isolated": False,
                    "unsplittable": g in st.unsplittable,
                    "split_of": c,
                }
            )
        bar.update(1)
    bar.close()
    report.optics_calls, report.optics_splits, report.median_splits = (
        stats.optics_calls,
        stats.optics_splits,
        stats.median_splits,
    )
    lap("split")

    # 4. finish ----------------------------------------------------------------------
    gset, labels = _finish(cells, lat, lon, report, grouped_spherical_mean, GeocellSet)
    lap("finish")
    report.labels = labels
    return gset, report


def _finish(cells, lat, lon, report: BuildReport, grouped_spherical_mean, GeocellSet):
    import geopandas as gpd
    import shapely

    n_cells = len(cells)
    labels = np.full(lat.size, -1, dtype=np.int64)
    for i, c in enumerate(cells):
        labels[c["points"]] = i
    clat, clon, _ = grouped_spherical_mean(lat, lon, labels, n_cells)
    # Number the pieces of each split cell from north to south.
    by_parent: dict[int, list[int]] = {}
    for i, c in enumerate(cells):
        if "split_of" in c:
            by_parent.setdefault(c["split_of"], []).append(i)
    for kids in by_parent.values():
        if len(kids) > 1:
            for rank, i in enumerate(sorted(kids, key=lambda i: (-clat[i], clon[i]))):
                cells[i]["name"] = f"{cells[i]['name']} {rank + 1}"
    geoms = np.array([c["geometry"] for c in cells], dtype=object)
    bounds = shapely.bounds(geoms)
    key = sorted(
        range(n_cells),
        key=lambda i: (cells[i]["country"], cells[i]["adm1_code"], cells[i]["name"], *bounds[i].tolist()),
    )
    rank = np.empty(n_cells, dtype=np.int64)
    rank[key] = np.arange(n_cells)
    labels = rank[labels]
    frame = gpd.GeoDataFrame(
        {
            "name": [cells[i]["name"] for i in key],
            "country": [cells[i]["country"] for i in key],
            "country_name": [cells[i]["country_name"] for i in key],
            "adm1_code": [cells[i]["adm1_code"] for i in key],
            "admin1": [cells[i]["admin1"] for i in key],
            "size": np.bincount(labels, minlength=n_cells),
            "lat": _fill_centroids(clat[key], clon[key], geoms[key])[0],
            "lon": _fill_centroids(clat[key], clon[key], geoms[key])[1],
        },
        geometry=list(geoms[key]),
        crs="EPSG:4326",
    )
    meta = {
        "kind": "semantic",
        "min_size": report.min_size,
        "max_size": report.max_size,
        "seed": report.seed,
        "admin2": report.admin2,
        "cross_country": report.cross_country,
        "n_points": report.n_points,
    }
    gset = GeocellSet(frame, meta)
    check = gset.assign(lat, lon)
    changed = np.flatnonzero(check != labels)
    report.relabelled = int(changed.size)
    report.relabelled_rows = changed[:100].tolist()
    if report.relabelled:
        labels = check
        frame["size"] = np.bincount(labels, minlength=n_cells)
        clat, clon, _ = grouped_spherical_mean(lat, lon, labels, n_cells)
        frame["lat"], frame["lon"] = _fill_centroids(clat, clon, frame.geometry.values)
        gset = GeocellSet(frame, meta)
    sizes = gset.sizes
    for new, old in enumerate(key):
        rec = {
            "cell": new,
            "name": cells[old]["name"],
            "country": cells[old]["country"],
            "size": int(sizes[new]),
        }
        if cells[old]["isolated"] and sizes[new] < report.min_size:
            report.isolated.append(rec)
        elif cells[old]["unsplittable"] and sizes[new] > report.max_size:
            report.unsplittable.append(rec)
        elif not report.min_size <= sizes[new] <= report.max_size:
            report.size_violations.append(rec)
    report.n_cells = n_cells
    return gset, labels


def _fill_centroids(clat: np.ndarray, clon: np.ndarray, geoms) -> tuple[np.ndarray, np.ndarray]:
    """Replace NaN centroids (no points, or points cancelling out on the sphere) by the
    polygon's representative point."""
    import shapely

    clat, clon = clat.copy(), clon.copy()
    bad = np.flatnonzero(~np.isfinite(clat))
    if bad.size:
        rp = shapely.get_coordinates(shapely.point_on_surface(np.asarray(geoms, dtype=object)[bad]))
        clon[bad], clat[bad] = rp[:, 0], rp[:, 1]
    return clat, clon
