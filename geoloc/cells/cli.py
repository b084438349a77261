"""``geoloc cells``: build, inspect and draw geocells."""

from __future__ import annotations

import json
from pathlib import Path

import typer

app = typer.Typer(
    help="Build, inspect and draw semantic geocells.", no_args_is_help=True, add_completion=False
)


@app.command()
def build(
    points: Path = typer.Option(
        ..., "--points", help="CSV or Parquet file with lat/lon (or latitude/longitude) columns."
    ),
    min_size: int = typer.Option(
        ..., "--min-size", help="Fewest training points per cell (smaller cells are merged)."
    ),
    max_size: int = typer.Option(
        ..., "--max-size", help="Most training points per cell (larger cells are split)."
    ),
    out: Path = typer.Option(..., "--out", help="Output GeoParquet file, e.g. cells.parquet."),
    seed: int = typer.Option(
        0, "--seed", help="Seed for OPTICS subsampling (same seed + input = same cells)."
    ),
    admin2: bool = typer.Option(
        True, "--admin2/--no-admin2", help="Start from pseudo admin-2 units (default) or admin-1."
    ),
    cross_country: bool = typer.Option(
        False, "--cross-country", help="Let isolated small cells merge across borders."
    ),
    yfcc: bool = typer.Option(
        False, "--yfcc", help="Use PIGEOTTO's OPTICS parameters (large cells, e.g. 1000/2000)."
    ),
    report: Path | None = typer.Option(None, "--report", help="Also write the build report as JSON."),
    png: Path | None = typer.Option(None, "--png", help="Also draw the cells into this PNG."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bars."),
) -> None:
    """Build semantic geocells (PIGEON) from training coordinates."""
    from geoloc.cells.build import build_geocells
    from geoloc.cells.partition import OPTICS_PARAMS_PIGEON, OPTICS_PARAMS_YFCC
    from geoloc.cells.points_io import read_points

    lat, lon = read_points(points)
    cells, rep = build_geocells(
        lat,
        lon,
        min_size=min_size,
        max_size=max_size,
        seed=seed,
        admin2=admin2,
        cross_country=cross_country,
        optics_params=OPTICS_PARAMS_YFCC if yfcc else OPTICS_PARAMS_PIGEON,
        progress=not quiet,
    )
    cells.save(out)
    typer.echo(str(rep))
    for item in rep.isolated[:20]:
        typer.echo(
            f"  isolated: cell {item['cell']} {item['country']} {item['name']!r} ({item['size']} points)"
        )
    if len(rep.isolated) > 20:
        typer.echo(f"  ... and {len(rep.isolated) - 20} more isolated cells (see --report)")
    if report is not None:
        report.parent.mkdir(parents=True, exist_ok=True)
        report.write_text(json.dumps(rep.to_dict(), indent=2))
    if png is not None:
        cells.plot(png)
        typer.echo(f"map: {png}")
    typer.echo(f"wrote {len(cells)} cells to {out}")


@app.command()
def show(
    cells_file: Path = typer.Argument(..., help="A geocell file written by 'geoloc cells build'."),
    png: Path | None = typer.Option(None, "--png", help="Draw the cells into this PNG."),
) -> None:
    """Print a summary table of a geocell file and optionally draw it."""
    from rich.console import Console
    from rich.table import Table

    from geoloc.cells.geocell_set import GeocellSet

    cells = GeocellSet.load(cells_file)
    s = cells.summary()
    table = Table(title=f"{cells_file}")
    table.add_column("field")
    table.add_column("value", justify="right")
    for key in (
        "kind",
        "cells",
        "points",
        "countries",
        "size_min",
        "size_median",
        "size_mean",
        "size_max",
        "empty_cells",
    ):
        val = s[key]
        table.add_row(key, f"{val:.1f}" if isinstance(val, float) else str(val))
    table.add_row("top countries", ", ".join(f"{c} ({n})" for c, n, _ in s["top_countries"]))
    Console().print(table)
    if png is not None:
        cells.plot(png)
        typer.echo(f"map: {png}")
