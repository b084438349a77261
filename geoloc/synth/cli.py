"""``geoloc synth ...``: generate SynthWorld datasets and look at single scenes."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="SynthWorld: procedural geotagged street scenes from real geography.")


@app.command()
def generate(
    n: int = typer.Option(1000, "--n", help="Number of locations (each gives --views images)."),
    out: Path = typer.Option(..., "--out", help="Output folder (created; reruns resume)."),
    size: int = typer.Option(128, "--size", help="Image side in pixels (even, 32..512)."),
    views: int = typer.Option(4, "--views", help="Views per location: headings 0/90/180/270, first N."),
    seed: int = typer.Option(0, "--seed", help="Seed of locations, attributes and scenes."),
    shards: bool = typer.Option(False, "--shards", help="Write WebDataset shards instead of image files."),
    cues: str = typer.Option("all", "--cues", help="Cue families, comma separated, or '-name' to drop "
                             "(sky,ground,road,furniture,signs,buildings,palette,motif,nuisance)."),
    image_format: str = typer.Option("png", "--format", help="png or jpg."),
    workers: int = typer.Option(0, "--workers", help="Worker processes (0 = all CPUs)."),
    maxcount: int = typer.Option(1000, "--maxcount", help="Samples per shard."),
) -> None:
    """Write N scenes (images + manifest.parquet/.csv, or shards) into OUT."""
    from geoloc.synth.generate import generate_dataset

    man = generate_dataset(n, out, size=size, views=views, seed=seed, cues=cues, shards=shards,
                           image_format=image_format, workers=workers or None, maxcount=maxcount)
    n_countries = man["adm0_a3"].nunique() if len(man) else 0
    typer.echo(f"{len(man) // max(1, views)} scenes, {len(man)} images, {n_countries} countries -> {out}")


@app.command()
def scene(
    lat: float = typer.Argument(..., help="Latitude (degrees)."),
    lon: float = typer.Argument(..., help="Longitude (degrees)."),
    out: Path = typer.Option(Path("scene.png"), "--out", help="PNG with the views side by side."),
    size: int = typer.Option(256, "--size", help="Image side in pixels."),
    seed: int = typer.Option(0, "--seed", help="Seed of month, hour, road and scene."),
    cues: str = typer.Option("all", "--cues", help="Cue families (see generate --help)."),
) -> None:
    """Render the four views of one place and print its attributes."""
    import numpy as np
    from PIL import Image

    from geoloc.synth.generate import generate_scene
    from geoloc.synth.locations import location_attributes

    attrs = location_attributes(lat, lon, seed=seed)
    ims = generate_scene(attrs.to_dict(), size=size, views=4, cues=cues)
    Image.fromarray(np.concatenate([np.asarray(i) for i in ims], axis=1)).save(out)
    keys = ["country", "admin1", "town", "continent", "climate", "season", "script", "drives_left",
            "sun_elevation"]
    typer.echo(", ".join(f"{k}={attrs[k]}" for k in keys) + f" -> {out}")


@app.command()
def coverage(
    n: int = typer.Option(100_000, "--n", help="Locations to sample."),
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """Count the countries, admin-1 units and towns covered by N sampled locations."""
    from geoloc.synth.locations import sample_locations

    df = sample_locations(n, seed)
    typer.echo(f"{n} locations: {df['adm0_a3'].nunique()} countries, {df['adm1_code'].nunique()} admin-1, "
               f"{df['town_id'].nunique()} towns; splits {df['split'].value_counts().to_dict()}")


@app.command()
def gallery(
    out: Path = typer.Option(Path("synth_grid.png"), "--out", help="PNG to write."),
    size: int = typer.Option(128, "--size", help="View side in pixels."),
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """Draw a labelled grid of scenes from 12 countries."""
    from geoloc.synth.gallery import make_grid

    make_grid(out, size=size, seed=seed)
    typer.echo(f"wrote {out}")
