"""The ``geoloc`` command. Each package owns its sub-command group (``<pkg>/cli.py``
exposing ``app: typer.Typer``); this module only assembles them.

Errors a user can cause (bad files, bad coordinates) exit non-zero with one line on
stderr, never a traceback: raise :class:`geoloc.errors.GeolocError` subclasses.
"""

from __future__ import annotations

import importlib
import sys

import typer

from geoloc import __version__
from geoloc.errors import GeolocError

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
    try:
        app(args=argv, standalone_mode=True)
    except GeolocError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":  # pragma: no cover
    main()
