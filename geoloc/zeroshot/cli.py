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

from geoloc.zeroshot.predictor import ZeroShotGeolocator, ZeroShotPrediction

app = typer.Typer(help="Zero-shot geolocation with CLIP text prompts (no training).", no_args_is_help=True)


def default_cache_dir() -> Path:
    """``$GEOLOC_CACHE/zeroshot`` (default ``~/.cache/geoloc/zeroshot``)."""
    from geoloc.default_model import cache_dir

    return cache_dir() / "zeroshot"


def build_zero_shot(clip_name: str, *, pretrained: str | None = None, clip_checkpoint: str | Path | None = None,
                    cells: str | Path | None = None, device: str | None = None, cache: bool | str | Path = True,
                    progress: bool = True) -> ZeroShotGeolocator:
    """A :class:`ZeroShotGeolocator` from the CLI's arguments: ``cells`` is a geocell file, a bundle
    folder, or None (the default model's geocells); ``cache``: True = :func:`default_cache_dir`,
    False = no cache file, or a folder."""
    cache_dir = default_cache_dir() if cache is True else (Path(cache) if cache else None)
    return ZeroShotGeolocator.from_clip(clip_name, pretrained=pretrained, checkpoint=clip_checkpoint, cells=cells,
                                        device=device, cache_dir=cache_dir, progress=progress)


def zero_shot_predict(paths: list[str], clip_name: str, *, pretrained: str | None = None,
                      clip_checkpoint: str | Path | None = None, cells: str | Path | None = None, top_k: int = 5,
                      views: int | None = None, device: str | None = None, cache: bool | str | Path = True,
                      progress: bool | None = None, layout: str = "auto") -> list[ZeroShotPrediction]:
    """Predict every path zero-shot (the wiring of ``geoloc predict --zero-shot CLIP_NAME
    [--pretrained TAG | --clip-checkpoint FILE] [--cells FILE|BUNDLE]``). ``progress`` None: bars
    when there is more than one path."""
    show = len(paths) > 1 if progress is None else progress
    zs = build_zero_shot(clip_name, pretrained=pretrained, clip_checkpoint=clip_checkpoint, cells=cells,
                         device=device, cache=cache, progress=show)
    return zs.predict(list(paths), layout=layout, views=views, top_k=top_k, progress=show)  # type: ignore[return-value]


def format_prediction(p: ZeroShotPrediction) -> list[str]:
    """Text lines for one prediction (as ``geoloc predict`` prints them, plus the country prompts' pick)."""
    if not p.ok:
        return [f"{p.source}: error: {p.error}"]
    country = p.countries[0].name if p.countries else "?"
    text = f"{p.countries_text[0].name} {p.countries_text[0].probability:.3f}" if p.countries_text else "?"
    place = p.top_k[0].place.name if p.top_k and p.top_k[0].place else ""
    lines = [f"{p.source}: {p.lat:.4f}, {p.lon:.4f}  {country}  {place}  (country prompts: {text}; "
             f"{p.timings_ms.get('total', 0.0):.0f} ms)"]
    lines += [f"  {rank}. cell {t.cell} {t.cell_name}  {t.lat:.3f}, {t.lon:.3f}  p={t.probability:.3f}"
              for rank, t in enumerate(p.top_k, 1)]
    return lines


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
) -> None:
    """Say where each image was taken from CLIP text prompts alone; exit 1 if any file failed."""
    preds = zero_shot_predict(paths, clip, pretrained=pretrained, clip_checkpoint=clip_checkpoint, cells=cells,
                              top_k=top_k, views=views, device=device, cache=not no_cache, layout=layout)
    if as_json:
        typer.echo(json.dumps([p.to_dict() for p in preds], indent=2))
    else:
        for p in preds:
            typer.echo("\n".join(format_prediction(p)))
    if any(not p.ok for p in preds):
        raise typer.Exit(1)


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


__all__ = ["app", "build_zero_shot", "default_cache_dir", "format_prediction", "zero_shot_predict"]
