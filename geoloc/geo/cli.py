"""``geoloc geo``: distances, point lookups and GeoGuessr scores from the command line.

Negative coordinates can be typed as they are (``geoloc geo distance 48.85 2.35 40.71 -74.0``).
"""

from __future__ import annotations

import json

import typer

from geoloc.errors import CoordinateError

app = typer.Typer(
    help="Geography tools: distances, lookups, GeoGuessr score.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Let "-74.0" through as a positional value instead of an unknown option.
_NUMBERS = {"ignore_unknown_options": True}


def _coord(value: str, name: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise CoordinateError(f"{name} must be a number in degrees, got {value!r}") from None


@app.command(context_settings=_NUMBERS)
def distance(
    lat1: str = typer.Argument(..., help="Latitude of the first point (degrees)."),
    lon1: str = typer.Argument(..., help="Longitude of the first point (degrees)."),
    lat2: str = typer.Argument(..., help="Latitude of the second point (degrees)."),
    lon2: str = typer.Argument(..., help="Longitude of the second point (degrees)."),
    json_out: bool = typer.Option(False, "--json", help="Print a JSON object."),
) -> None:
    """Great-circle distance (km, mean Earth radius) and the GeoGuessr score it would earn."""
    from geoloc.geo.distance import haversine_km
    from geoloc.geo.score import geoguessr_score, geoguessr_score_mapsize
    from geoloc.geo.validate import check_coordinates

    a = check_coordinates([_coord(lat1, "LAT1")], [_coord(lon1, "LON1")], what="point 1 (LAT1 LON1)")
    b = check_coordinates([_coord(lat2, "LAT2")], [_coord(lon2, "LON2")], what="point 2 (LAT2 LON2)")
    d = haversine_km(a[0][0], a[1][0], b[0][0], b[1][0])
    result = {
        "distance_km": d,
        "score_pigeon": geoguessr_score(d),
        "score_world_map": geoguessr_score_mapsize(d),
    }
    if json_out:
        typer.echo(json.dumps(result))
    else:
        typer.echo(
            f"{d:.3f} km  (GeoGuessr score: {result['score_world_map']} world map, "
            f"{result['score_pigeon']} PIGEON form)"
        )


def lookup_point(lat: float, lon: float, *, max_km: float = 25.0) -> dict:
    """Everything the geography core knows about one point (degrees): country and admin-1
    (Natural Earth), nearest gazetteer place (GeoNames) and land/sea. Raises CoordinateError."""
    from geoloc.geo.boundaries import lookup_admin
    from geoloc.geo.gazetteer import nearest_place
    from geoloc.geo.landsea import is_land
    from geoloc.geo.validate import check_coordinates

    la, lo = check_coordinates([lat], [lon], what="point (LAT LON)")
    adm = lookup_admin(la, lo, max_km=max_km).iloc[0]
    place = nearest_place(la, lo).iloc[0]
    return {
        "lat": float(la[0]),
        "lon": float(lo[0]),
        "country": str(adm["country"]),
        "adm0_a3": str(adm["adm0_a3"]),
        "iso_a2": str(adm["iso_a2"]),
        "admin1": str(adm["admin1"]),
        "admin1_iso": "" if adm["iso_3166_2"] == "none" else str(adm["iso_3166_2"]),
        "adm1_code": str(adm["adm1_code"]),
        "admin_distance_km": None if adm["index"] < 0 else float(adm["distance_km"]),
        "nearest_place": {
            "name": str(place["name"]),
            "admin1": str(place["admin1"]),
            "admin2": str(place["admin2"]),
            "cc": str(place["cc"]),
            "lat": float(place["lat"]),
            "lon": float(place["lon"]),
            "distance_km": float(place["distance_km"]),
        },
        "land": bool(is_land(la, lo)[0]),
    }


@app.command(context_settings=_NUMBERS)
def lookup(
    lat: str = typer.Argument(..., help="Latitude (degrees)."),
    lon: str = typer.Argument(..., help="Longitude (degrees)."),
    max_km: float = typer.Option(
        25.0, "--max-km", help="Coastal fallback radius for country / admin-1 (km)."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print a JSON object."),
) -> None:
    """Country, admin-1 unit, nearest named place and land/sea for one point."""
    info = lookup_point(_coord(lat, "LAT"), _coord(lon, "LON"), max_km=max_km)
    if json_out:
        typer.echo(json.dumps(info, ensure_ascii=False))
        return
    place = info["nearest_place"]
    iso = f" ({info['admin1_iso']})" if info["admin1_iso"] else ""
    admin = "none" if info["adm0_a3"] == "none" else f"{info['country']} ({info['adm0_a3']}) / {info['admin1']}{iso}"
    if info["admin_distance_km"]:
        admin += f"  [{info['admin_distance_km']:.1f} km offshore]"
    typer.echo(f"point:   {info['lat']:.5f}, {info['lon']:.5f}  ({'land' if info['land'] else 'sea'})")
    typer.echo(f"admin:   {admin}")
    names = ", ".join(x for x in (place["name"], place["admin2"], place["admin1"], place["cc"]) if x)
    typer.echo(f"nearest: {names}  ({place['distance_km']:.1f} km)")


@app.command()
def score(
    km: float = typer.Argument(..., help="Great-circle error of a guess (km, >= 0)."),
    map_size_km: float = typer.Option(
        14916.862, "--map-size-km", help="Map size S for the map-size form (world map: 14916.862)."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print a JSON object."),
) -> None:
    """GeoGuessr score of a guess KM away: the map-size form and the PIGEON / OSV-5M form."""
    from geoloc.geo.score import geoguessr_score, geoguessr_score_mapsize

    result = {
        "distance_km": km,
        "score_map_size": geoguessr_score_mapsize(km, map_size_km),
        "map_size_km": map_size_km,
        "score_pigeon": geoguessr_score(km),
    }
    if json_out:
        typer.echo(json.dumps(result))
    else:
        typer.echo(
            f"{result['score_map_size']} points (5000 exp(-10 d / {map_size_km}));  "
            f"{result['score_pigeon']} points (PIGEON/OSV-5M: 5000 exp(-d / 1492.7))"
        )
