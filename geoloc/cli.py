"""The ``geoloc`` command. Each package owns its sub-command group (``<pkg>/cli.py``
exposing ``app: typer.Typer``); this module only assembles them.

Errors a user can cause (bad files, bad coordinates) exit non-zero with one line on
stderr, never a traceback: raise :class:`geoloc.errors.GeolocError` subclasses.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import typer

from geoloc import __version__
from geoloc.errors import GeolocError
from geoloc.frontend import (
    CALIBRATION_OPT,
    CELLS_OPT,
    CLIP_CHECKPOINT_OPT,
    MODEL_OPT,
    PRETRAINED_OPT,
    ZERO_SHOT_OPT,
    command_line,
    format_prediction,
    source_from_options,
)
from representation.errors import RepresentationError

app = typer.Typer(
    name="geoloc",
    help="Planet-scale image geolocation (PIGEON / PIGEOTTO line).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# (module, group name, help). A module missing from this checkout is simply not offered.
SUBCOMMANDS: list[tuple[str, str, str]] = [
    ("geoloc.geo.cli", "geo", "Geography tools: distances, lookups, GeoGuessr score."),
    ("geoloc.cells.cli", "cells", "Build, inspect and draw semantic geocells."),
    ("geoloc.synth.cli", "synth", "SynthWorld: generate procedural geotagged street scenes."),
    ("geoloc.data.cli", "data", "Validate manifests, read EXIF GPS, convert benchmark formats."),
    ("geoloc.train.cli", "train", "Contrastive pretraining, geocell fine-tuning, presets, the default model."),
    ("geoloc.refine.cli", "refine", "Build retrieval-refinement prototypes for a model bundle."),
    ("bot.arena.cli", "arena", "A local GeoGuessr-shaped game server for the bot (loopback by default)."),
    ("bot.cli", "bot", "A Selenium bot that plays GeoGuessr-style games from pixels alone."),
    ("app.cli", "app", "Start the web app (Streamlit on 127.0.0.1; default model synthworld-tiny)."),
    ("geoloc.serve.cli", "serve", "HTTP inference server with micro-batching (127.0.0.1; default model)."),
    ("geoloc.zeroshot.cli", "zeroshot", "Zero-shot geolocation with CLIP text prompts (no training)."),
]


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"geoloc {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version_callback, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """geoloc: say where on Earth a photo was taken."""


@app.command()
def demo() -> None:
    """A short tour of what exists: distances, scores, boundary lookup, geocells."""
    from geoloc.demo import run_demo

    run_demo()


@app.command()
def predict(
    paths: list[str] = typer.Argument(..., help="Image files (JPEG, PNG, WebP, TIFF, HEIC, ...) or folders of them "
                                                "(recursive, sorted)."),
    model: str | None = MODEL_OPT,
    top_k: int = typer.Option(5, "--top-k", "-k", min=1, help="How many geocells to list per image."),
    layout: str = typer.Option("auto", "--layout", help="How each image holds its views: auto | single | panorama "
                                                        "| strip (auto: 2:1 panoramas and N:1 strips are cut)."),
    views: int | None = typer.Option(None, help="Views a panorama or strip is cut into (default: the model's)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document instead of a table."),
    no_refine: bool = typer.Option(False, "--no-refine", help="Skip retrieval refinement."),
    zero_shot: str | None = ZERO_SHOT_OPT,
    pretrained: str | None = PRETRAINED_OPT,
    clip_checkpoint: str | None = CLIP_CHECKPOINT_OPT,
    cells: str | None = CELLS_OPT,
    calibration: str | None = CALIBRATION_OPT,
) -> None:
    """Say where each image was taken. Bad files are reported per file; exit 1 if any failed."""
    import json

    from geoloc.data.images import expand_image_paths
    from geoloc.sources import load_predictor

    paths, notes = expand_image_paths(paths)
    for note in notes:
        typer.echo(note, err=True)
    source = source_from_options(model, zero_shot, pretrained, clip_checkpoint, cells, calibration)
    predictor = load_predictor(source, progress=len(paths) > 1)
    preds = predictor.predict(paths, layout=layout, views=views, top_k=top_k, refine=not no_refine,
                              progress=len(paths) > 1)
    if as_json:
        typer.echo(json.dumps([p.to_dict() for p in preds], indent=2))
    else:
        for p in preds:
            typer.echo("\n".join(format_prediction(p)))
    if any(not p.ok for p in preds):
        raise typer.Exit(1)


@app.command("eval")
def evaluate(
    manifest: str = typer.Argument(..., help="Manifest (CSV/Parquet: path, lat, lon[, id, view])."),
    model: str | None = MODEL_OPT,
    root: str | None = typer.Option(None, help="Folder that relative image paths start from."),
    out: str | None = typer.Option(None, help="Write metrics.json, metrics.md and PNG plots here."),
    layout: str = typer.Option("auto", "--layout", help="How a single-image location holds its views: auto | "
                                                        "single | panorama | strip."),
    views: int | None = typer.Option(None, help="Views a panorama or strip is cut into (default: the model's)."),
    record: str | None = typer.Option(None, "--record", help="Also record the metrics in the model card under "
                                                             "this name (with the data and this command)."),
    data: str | None = typer.Option(None, "--data", help="With --record: what the manifest holds (default: its "
                                                         "path and location count)."),
    zero_shot: str | None = ZERO_SHOT_OPT,
    pretrained: str | None = PRETRAINED_OPT,
    clip_checkpoint: str | None = CLIP_CHECKPOINT_OPT,
    cells: str | None = CELLS_OPT,
    calibration: str | None = CALIBRATION_OPT,
) -> None:
    """acc@1/25/200/750/2500 km, median/mean km, GeoScore, country and admin-1 accuracy on a manifest."""
    from geoloc.eval.run import evaluate_manifest
    from geoloc.sources import load_predictor

    source = source_from_options(model, zero_shot, pretrained, clip_checkpoint, cells, calibration)
    predictor = load_predictor(source)
    name = source.describe() if source.kind in ("zero-shot", "hub") else str(predictor.bundle.path)
    result = evaluate_manifest(predictor, manifest, root=root, views=views, out_dir=out, name=name, layout=layout)
    typer.echo(result.report.markdown)
    n_ok = result.n_locations - len(result.failed)
    typer.echo(f"{n_ok} of {result.n_locations} locations evaluated; "
               f"{result.invalid_rows} invalid manifest row(s) and {len(result.failed)} unreadable location(s) skipped")
    for source_name, reason in result.failed[:20]:
        typer.echo(f"  skipped {source_name}: {reason}")
    if record:
        from geoloc.bundle import record_evaluation

        if source.kind not in ("bundle", "default"):
            raise GeolocError("--record writes into a bundle folder's model card: give --model FOLDER")
        model = str(predictor.bundle.path)
        record_evaluation(model, record, metrics={"locations": n_ok, **result.report.metrics}, command=command_line(),
                          data=data or f"{manifest}: {n_ok} location(s)")
        typer.echo(f"recorded as evaluation {record!r} in {Path(model) / 'README.md'}")


def _register() -> None:
    for module, name, help_text in SUBCOMMANDS:
        try:
            sub = importlib.import_module(module).app
        except ModuleNotFoundError as exc:
            if exc.name and module.startswith(exc.name):
                continue
            raise
        app.add_typer(sub, name=name, help=help_text)


_register()


def main(argv: list[str] | None = None) -> None:
    """Console entry point: one line on stderr and exit code 1 for user errors."""
    from representation.distributed.launch import shutdown

    try:
        app(args=argv, standalone_mode=True)
    except (GeolocError, RepresentationError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
    finally:
        shutdown()  # a torchrun'd `geoloc train ...` leaves no process group behind


if __name__ == "__main__":  # pragma: no cover
    main()
