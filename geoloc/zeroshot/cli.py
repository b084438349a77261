"""Zero-shot command line: the function behind ``geoloc predict --zero-shot CLIP_NAME`` and a
small ``zeroshot`` sub-app (``predict``, ``prompts``).

``zero_shot_predict(paths, "ViT-B-32", pretrained="openai", cells="bundles/synthworld-tiny")``
returns one :class:`~geoloc.zeroshot.ZeroShotPrediction` per path (bad files get ``error``).
Prompt embeddings are cached under ``$GEOLOC_CACHE/zeroshot`` (default ``~/.cache/geoloc``)
unless ``cache=False``.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from geoloc.errors import GeolocError
from geoloc.frontend import format_prediction
from geoloc.zeroshot.predictor import ZeroShotGeolocator, ZeroShotPrediction

app = typer.Typer(help="Zero-shot geolocation with CLIP text prompts (no training).", no_args_is_help=True)


def default_cache_dir() -> Path:
    """``$GEOLOC_CACHE/zeroshot`` (default ``~/.cache/geoloc/zeroshot``)."""
    from geoloc.default_model import cache_dir

    return cache_dir() / "zeroshot"


def build_zero_shot(clip_name: str, *, pretrained: str | None = None, clip_checkpoint: str | Path | None = None,
                    cells: str | Path | None = None, calibration: str | Path | None = None, prior: str | None = None,
                    device: str | None = None, cache: bool | str | Path = True, progress: bool = True,
                    **kwargs) -> ZeroShotGeolocator:
    """A :class:`ZeroShotGeolocator` from the CLI's arguments: ``cells`` is a geocell file, a bundle
    folder, ``hf-hub:`` bundle, or None (the default model's geocells); ``calibration`` a fusion file
    (``geoloc zeroshot calibrate``; None = the default fusion with ``prior``, ``density`` unless given);
    ``cache``: True = :func:`default_cache_dir`, False = no cache file, or a folder."""
    cache_dir = default_cache_dir() if cache is True else (Path(cache) if cache else None)
    if calibration and prior:
        raise GeolocError("give either a calibration file or a prior; the calibration file names its prior")
    extra = dict(kwargs)
    if calibration:
        extra["fusion"] = Path(calibration)
    elif prior:
        extra["prior"] = prior
    return ZeroShotGeolocator.from_clip(clip_name, pretrained=pretrained, checkpoint=clip_checkpoint, cells=cells,
                                        device=device, cache_dir=cache_dir, progress=progress, **extra)


def zero_shot_predict(paths: list[str], clip_name: str, *, pretrained: str | None = None,
                      clip_checkpoint: str | Path | None = None, cells: str | Path | None = None, top_k: int = 5,
                      views: int | None = None, device: str | None = None, cache: bool | str | Path = True,
                      progress: bool | None = None, layout: str = "auto", calibration: str | Path | None = None,
                      ) -> list[ZeroShotPrediction]:
    """Predict every path zero-shot (the wiring of ``geoloc predict --zero-shot CLIP_NAME
    [--pretrained TAG | --clip-checkpoint FILE] [--cells FILE|BUNDLE]``). ``progress`` None: bars
    when there is more than one path."""
    show = len(paths) > 1 if progress is None else progress
    zs = build_zero_shot(clip_name, pretrained=pretrained, clip_checkpoint=clip_checkpoint, cells=cells,
                         calibration=calibration, device=device, cache=cache, progress=show)
    return zs.predict(list(paths), layout=layout, views=views, top_k=top_k, progress=show)  # type: ignore[return-value]


@app.command("predict")
def predict_command(
    paths: list[str] = typer.Argument(..., help="Image files."),
    clip: str = typer.Option(..., "--clip", help="open_clip architecture (e.g. ViT-B-32) or hf-hub:org/repo."),
    pretrained: str | None = typer.Option(None, help="open_clip pretrained tag (needs the network or its cache)."),
    clip_checkpoint: str | None = typer.Option(None, help="Local full CLIP checkpoint (safetensors or state dict)."),
    cells: str | None = typer.Option(None, help="Geocell file or model bundle folder; default: the default model's."),
    top_k: int = typer.Option(5, "--top-k", "-k", min=1, help="How many geocells to list per image."),
    layout: str = typer.Option("auto", "--layout", help="auto | single | panorama | strip (see geoloc predict)."),
    views: int | None = typer.Option(None, help="Views a panorama or strip is cut into (default 4)."),
    device: str | None = typer.Option(None, help="torch device (default: CUDA if available)."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Do not read or write the prompt-embedding cache."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document instead of a table."),
    calibration: str | None = typer.Option(None, "--calibration", help="Fusion weights from `geoloc zeroshot "
                                           "calibrate` (default: uncalibrated, density prior)."),
) -> None:
    """Say where each image was taken from CLIP text prompts and a geographic prior; exit 1 if any file failed."""
    preds = zero_shot_predict(paths, clip, pretrained=pretrained, clip_checkpoint=clip_checkpoint, cells=cells,
                              top_k=top_k, views=views, device=device, cache=not no_cache, layout=layout,
                              calibration=calibration)
    if as_json:
        typer.echo(json.dumps([p.to_dict() for p in preds], indent=2))
    else:
        for p in preds:
            typer.echo("\n".join(format_prediction(p)))
    if any(not p.ok for p in preds):
        raise typer.Exit(1)


@app.command("calibrate")
def calibrate_command(
    manifest: str = typer.Argument(..., help="Held-out manifest (path, lat, lon[, id, view]) NOT used to train the CLIP."),
    out: Path = typer.Option(..., "--out", help="Calibration file to write (JSON)."),
    clip: str = typer.Option(..., "--clip", help="open_clip architecture (e.g. ViT-B-32) or hf-hub:org/repo."),
    pretrained: str | None = typer.Option(None, help="open_clip pretrained tag."),
    clip_checkpoint: str | None = typer.Option(None, help="Local full CLIP checkpoint (safetensors or state dict)."),
    cells: str | None = typer.Option(None, help="Geocell file or model bundle folder; default: the default model's."),
    prior: str = typer.Option("density", "--prior", help="density (photo-density prior) | cells (training counts "
                              "per cell) | uniform."),
    fit: str = typer.Option("cell,admin1,country,prior", "--fit", help="Weights to fit (comma list of cell, admin1, "
                            "country, prior); the others keep their default."),
    root: str | None = typer.Option(None, help="Folder that relative image paths start from."),
    layout: str = typer.Option("auto", "--layout", help="auto | single | panorama | strip."),
    views: int | None = typer.Option(None, help="Views a panorama or strip is cut into."),
    device: str | None = typer.Option(None, help="torch device (default: CUDA if available)."),
) -> None:
    """Fit the zero-shot fusion weights (prompt temperatures, prior weight) by maximum likelihood on held-out
    locations; use the file with --calibration."""
    from geoloc.zeroshot.calibrate import calibrate_manifest

    zs = build_zero_shot(clip, pretrained=pretrained, clip_checkpoint=clip_checkpoint, cells=cells, prior=prior,
                         device=device)
    fusion, info = calibrate_manifest(zs, manifest, fit=[f.strip() for f in fit.split(",") if f.strip()], root=root,
                                      views=views, layout=layout)
    fusion.save(out)
    w = ", ".join(f"{k} {v:.3f}" for k, v in zip(("cell", "admin1", "country", "prior"), fusion.weights(), strict=True))
    typer.echo(f"{out}: weights {w}; {fusion.note}; {len(info['failed'])} location(s) skipped")


@app.command("prompts")
def prompts_command(
    cells: str | None = typer.Option(None, help="Geocell file or model bundle folder; default: the default model's."),
    limit: int = typer.Option(10, min=0, help="Cells to show (0: all)."),
    no_towns: bool = typer.Option(False, "--no-towns", help="Do not name the nearest town."),
) -> None:
    """Print the prompt ensemble of the first cells and of every country's template."""
    from geoloc.predict import region_index
    from geoloc.zeroshot.predictor import load_geocells
    from geoloc.zeroshot.prompts import cell_prompts, country_prompts

    gs = load_geocells(cells)
    n = len(gs) if limit == 0 else min(limit, len(gs))
    sub = gs.frame.iloc[:n]
    from geoloc.cells.geocell_set import GeocellSet

    prompts = cell_prompts(GeocellSet(sub, gs.meta), towns=not no_towns)
    for i, group in enumerate(prompts):
        typer.echo(f"cell {i} {sub['name'].iloc[i]}:")
        typer.echo("\n".join(f"  {t}" for t in group))
    keys, _ = region_index(gs.frame["country"].astype(str).tolist())
    typer.echo(f"{len(keys)} countries, e.g.: " + " | ".join(country_prompts([gs.frame['country_name'].iloc[0]])[0]))


__all__ = ["app", "build_zero_shot", "default_cache_dir", "zero_shot_predict"]
