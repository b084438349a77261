"""``geoloc data ...``: fetch public data sets, validate manifests, read EXIF GPS, convert benchmark
label files, write WebDataset shards. User errors raise :class:`geoloc.errors.GeolocError`."""

from __future__ import annotations

import warnings
from pathlib import Path

import typer

from geoloc.errors import GeolocError, InputFileError

app = typer.Typer(no_args_is_help=True, add_completion=False,
                  help="Fetch data sets, validate manifests, read EXIF GPS, convert benchmark formats, write shards.")


@app.command()
def fetch(
    dataset: str = typer.Argument(..., help="osv5m, im2gps3k or yfcc4k."),
    out: Path = typer.Option(..., "--out", help="Folder for the images, the labels and manifest.csv."),
    max_images: int | None = typer.Option(None, "--max-images", min=1,
                                          help="Stop once this many labelled images are on disk."),
    split: str = typer.Option("test", "--split", help="osv5m: test or train."),
    revision: str | None = typer.Option(None, "--revision", help="osv5m: Hub revision (branch, tag or commit)."),
    archive: str | None = typer.Option(None, "--archive", help="im2gps3k/yfcc4k: the image zip (file or direct "
                                       "URL; the data sets are published behind MediaFire pages)."),
    labels: str | None = typer.Option(None, "--labels", help="im2gps3k/yfcc4k: label file (file or URL) instead "
                                      "of the default."),
    sha256: str | None = typer.Option(None, "--sha256", help="im2gps3k/yfcc4k: expected SHA-256 of the archive."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bars."),
) -> None:
    """Download a public data set (resumable, checksummed) and write OUT/manifest.csv for training or eval."""
    from geoloc.data.fetch import fetch_dataset

    res = fetch_dataset(dataset, out, max_images=max_images, split=split, archive=archive, labels=labels,
                        sha256=sha256, revision=revision, progress=not quiet)
    typer.echo(f"{res.manifest}: {res.images} images with labels ({res.added} new, {res.labels} label rows"
               + (f", {res.unlabelled} archive images without a label skipped" if res.unlabelled else "") + ")")


@app.command()
def validate(
    manifest: Path = typer.Argument(..., help="Manifest (CSV, TSV or Parquet) with lat, lon, path."),
    root: Path | None = typer.Option(None, "--root", help="Folder relative image paths start from "
                                     "(default: the manifest's folder)."),
    no_files: bool = typer.Option(False, "--no-files", help="Do not check that image files exist."),
    strict: bool = typer.Option(False, "--strict", help="Exit with an error if any row is bad."),
    out: Path | None = typer.Option(None, "--out", help="Write the clean rows to this manifest."),
) -> None:
    """Check a manifest and list every bad row with its reason."""
    from geoloc.data.manifest import read_manifest, validate_manifest, write_manifest

    df = read_manifest(manifest, root=root)
    clean, report = validate_manifest(df, root, check_files=not no_files)
    typer.echo(report.summary(limit=20))
    if out is not None:
        write_manifest(clean, out)
        typer.echo(f"wrote {len(clean)} clean rows to {out}")
    if strict:
        report.raise_if_bad()


@app.command()
def exif(files: list[Path] = typer.Argument(..., help="Image files (JPEG, HEIC, WebP, TIFF, PNG).")) -> None:
    """Print the EXIF GPS position of each file, or "no GPS"."""
    from geoloc.data.exif import read_exif_gps

    n_bad = 0
    for f in files:
        try:
            fix = read_exif_gps(f)
        except GeolocError as exc:
            typer.echo(f"{f}: error: {exc}")
            n_bad += 1
            continue
        if fix is None:
            typer.echo(f"{f}: no GPS")
            continue
        extra = ""
        if fix.altitude_m is not None:
            extra += f"  alt {fix.altitude_m:.1f} m"
        if fix.timestamp is not None:
            extra += f"  {fix.timestamp.isoformat()}"
        typer.echo(f"{f}: {fix.lat:.6f}, {fix.lon:.6f}{extra}")
    if n_bad == len(files):
        raise InputFileError(f"none of the {len(files)} file(s) could be read")


@app.command()
def convert(
    fmt: str = typer.Option(..., "--format", "-f", help="im2gps, im2gps3k, yfcc, yfcc4k, yfcc26k or osv5m."),
    src: Path = typer.Argument(..., help="Benchmark label file."),
    dst: Path = typer.Argument(..., help="Output manifest (.csv or .parquet)."),
    image_dir: str | None = typer.Option(None, "--image-dir", help="Folder prefixed to image paths."),
) -> None:
    """Convert a benchmark label file into a geoloc manifest."""
    from geoloc.data.formats import ColumnOrderWarning, read_benchmark
    from geoloc.data.manifest import validate_manifest, write_manifest

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ColumnOrderWarning)
        df = read_benchmark(src, fmt, image_dir=image_dir)
    for w in caught:
        typer.echo(f"warning: {w.message}", err=True)
    _, report = validate_manifest(df, check_files=False)
    write_manifest(df, dst)
    typer.echo(f"wrote {len(df)} rows to {dst}")
    if report.problems:
        typer.echo(report.summary(), err=True)


@app.command()
def shard(
    manifest: Path = typer.Argument(..., help="Manifest with lat, lon, path (and id/view for multi-view)."),
    out: Path = typer.Argument(..., help="Output folder for the .tar shards."),
    root: Path | None = typer.Option(None, "--root", help="Folder relative image paths start from."),
    maxcount: int = typer.Option(1000, "--maxcount", min=1, help="Samples per shard."),
    prefix: str = typer.Option("shard", "--prefix", help="Shard file name prefix."),
    max_side: int | None = typer.Option(None, "--max-side", min=8,
                                        help="Shrink images whose longer side exceeds this (pixels)."),
) -> None:
    """Write a manifest's images into WebDataset shards (one sample per location)."""
    from geoloc.data.manifest import read_manifest, validate_manifest
    from geoloc.data.shards import manifest_to_shards

    df = read_manifest(manifest, root=root)
    clean, report = validate_manifest(df, root)
    if report.problems:
        typer.echo(report.summary(), err=True)
    if clean.empty:
        raise InputFileError(f"{manifest}: no valid rows to shard")
    paths, shard_report = manifest_to_shards(clean, out, root=root, maxcount=maxcount, prefix=prefix,
                                              max_side=max_side)
    if shard_report.problems:
        typer.echo(shard_report.summary(), err=True)
    typer.echo(f"wrote {shard_report.n_valid} samples into {len(paths)} shard(s) in {out}")
