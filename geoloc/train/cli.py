"""``geoloc train``: presets, the end-to-end pipeline, pretraining and fine-tuning.

Every training command takes ``--set FIELD=VALUE`` (repeatable; VALUE is JSON, else a string)
to override preset fields, e.g. ``--set cells=grid --set loss=onehot --set views=1``. Runs
under ``torchrun`` as well (``torchrun --nproc_per_node=4 -m geoloc.train.cli run ...``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from geoloc.errors import GeolocError
from geoloc.frontend import command_line
from representation.errors import RepresentationError

app = typer.Typer(help="Train PIGEON-style geolocation models (presets, pretraining, fine-tuning).",
                  no_args_is_help=True, add_completion=False)

SET_HELP = "Override a preset field: FIELD=VALUE (VALUE parsed as JSON, else a string); repeatable."
# Options shared by the training commands (typer reads them; they are never mutated).
PRESET_OPT = typer.Option("synthworld-tiny", "--preset", help="Preset to start from.")
PRESET_FILE_OPT = typer.Option(None, "--preset-file", help="Preset JSON (edit `geoloc train presets NAME`).")
ROOT_OPT = typer.Option(None, "--root", help="Image root for relative paths.")
EVAL_MANIFEST_OPT = typer.Option(None, "--eval-manifest", help="Held-out manifest for the card.")
EVAL_DIR_OPT = typer.Option(None, "--eval-dir", help="Write metrics and error plots here.")
SETS_OPT = typer.Option(None, "--set", help=SET_HELP)
THREADS_OPT = typer.Option(None, "--threads", help="torch intra-op threads (1 is best on a busy CPU).")
QUIET_OPT = typer.Option(False, "--quiet", help="No progress bars.")
SHARDS_OPT = typer.Option(None, "--shards", help="WebDataset shards of the manifest's locations (geoloc data shard: "
                          "a folder, a brace pattern or a .tar): images are read from them, not from the files.")
DEVICE_OPT = typer.Option(None, "--device", help="auto (CUDA when usable, else the CPU, loudly where a GPU was "
                          "expected) | cpu | cuda (fails with one line when CUDA is not usable); preset field device.")
TOWER_OPT = typer.Option(None, "--tower", help="open_clip architecture of the image tower (e.g. ViT-L-14-336); "
                         "same as --set tower=NAME.")
PRETRAINED_OPT = typer.Option(None, "--pretrained", help="open_clip pretrained tag or hf-hub: name of the tower's "
                              "weights (e.g. openai); same as --set pretrained=TAG.")
STRICT_OPT = typer.Option(False, "--strict", help="Refuse data that would train on little signal (e.g. < 10 %% "
                          "distinct captions) instead of warning (preset field strict).")


def parse_sets(items: list[str] | None) -> dict[str, Any]:
    """``["cells=grid", "views=1", "refine_max_km=null"]`` -> ``{"cells": "grid", "views": 1, ...}``."""
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise GeolocError(f"--set {item!r}: expected FIELD=VALUE")
        try:
            out[key.strip()] = json.loads(raw)
        except ValueError:
            out[key.strip()] = raw
    return out


def _threads(n: int | None) -> None:
    if n:
        import torch

        torch.set_num_threads(int(n))


def _overrides(sets: list[str] | None, strict: bool = False, device: str | None = None, *,
               tower: str | None = None, pretrained: str | None = None) -> dict[str, Any]:
    named = {k: v for k, v in (("tower", tower), ("pretrained", pretrained)) if v}
    return (parse_sets(sets) | named | ({"strict": True} if strict else {})
            | ({"device": device} if device else {}))


def _load_preset(name: str, preset_file: Path | None, sets: list[str] | None, strict: bool = False,
                 device: str | None = None, *, tower: str | None = None, pretrained: str | None = None):
    from geoloc.train.presets import TrainPreset, get_preset

    overrides = _overrides(sets, strict, device, tower=tower, pretrained=pretrained)
    if preset_file is not None:
        return TrainPreset.from_json(preset_file).replace(**overrides)
    return get_preset(name, **overrides)


@app.command("presets")
def presets_cmd(name: str | None = typer.Argument(None, help="Show this preset's fields as JSON."),
                ) -> None:
    """List the presets, or print one as JSON (a starting point for --preset-file)."""
    from geoloc.train.presets import PRESET_NAMES, get_preset

    if name is None:
        for n in PRESET_NAMES:
            typer.echo(f"{n}: {get_preset(n).description}")
        return
    typer.echo(get_preset(name).to_json())


@app.command("preset")
def preset_cmd(
    name: str = typer.Argument(..., help="Preset name: synthworld-tiny, pigeon or pigeotto."),
    out: Path = typer.Option(..., "--out", help="Bundle folder to write (replaced if it exists)."),
    manifest: Path | None = typer.Option(None, "--manifest", help="Training manifest (presets without SynthWorld "
                                         "data need one)."),
    root: Path | None = ROOT_OPT,
    eval_manifest: Path | None = EVAL_MANIFEST_OPT,
    eval_dir: Path | None = EVAL_DIR_OPT,
    sets: list[str] | None = SETS_OPT,
    keep_work: bool = typer.Option(False, "--keep-work", help="Keep checkpoints and generated data."),
    work_dir: Path | None = typer.Option(None, "--work-dir", help="Checkpoints and generated data "
                                         "(default: OUT's parent/.NAME.work; a rerun resumes there)."),
    threads: int | None = THREADS_OPT,
    quiet: bool = QUIET_OPT,
    strict: bool = STRICT_OPT,
    device: str | None = DEVICE_OPT,
) -> None:
    """Train a preset end to end (synthworld-tiny generates its SynthWorld data and evaluates held out)."""
    from geoloc.train.pipeline import train_preset

    _threads(threads)
    path = train_preset(name, out, progress=not quiet, manifest=manifest, root=root, eval_manifest=eval_manifest,
                        eval_dir=eval_dir, keep_work=keep_work, work_dir=work_dir, command=command_line("train"),
                        **_overrides(sets, strict, device))
    typer.echo(str(path))


@app.command("run")
def run_cmd(
    manifest: Path = typer.Option(..., "--manifest", help="Training manifest (CSV/TSV/Parquet)."),
    out: Path = typer.Option(..., "--out", help="Bundle folder to write."),
    preset: str = PRESET_OPT,
    preset_file: Path | None = PRESET_FILE_OPT,
    root: Path | None = ROOT_OPT,
    eval_manifest: Path | None = EVAL_MANIFEST_OPT,
    eval_dir: Path | None = EVAL_DIR_OPT,
    sets: list[str] | None = SETS_OPT,
    tower: str | None = TOWER_OPT,
    pretrained: str | None = PRETRAINED_OPT,
    keep_work: bool = typer.Option(False, "--keep-work", help="Keep checkpoints."),
    threads: int | None = THREADS_OPT,
    quiet: bool = QUIET_OPT,
    strict: bool = STRICT_OPT,
    device: str | None = DEVICE_OPT,
    shards: str | None = SHARDS_OPT,
) -> None:
    """The whole pipeline on a manifest: geocells, pretraining, fine-tuning, prototypes, bundle."""
    from geoloc.train.pipeline import train_bundle

    _threads(threads)
    p = _load_preset(preset, preset_file, sets, strict, device, tower=tower, pretrained=pretrained)
    path = train_bundle(manifest, out, p, root=root, progress=not quiet, eval_manifest=eval_manifest,
                        eval_dir=eval_dir, keep_work=keep_work, command=command_line("train"), shards=shards)
    typer.echo(str(path))


@app.command("pretrain")
def pretrain_cmd(
    manifest: Path = typer.Option(..., "--manifest", help="Training manifest; caption facts missing from it "
                                  "(town, admin1, country, climate, driving side, month) are derived from the "
                                  "coordinates, dates and EXIF."),
    out: Path = typer.Option(..., "--out", help="Folder for checkpoints and clip.safetensors."),
    preset: str = PRESET_OPT,
    preset_file: Path | None = PRESET_FILE_OPT,
    steps: int | None = typer.Option(None, "--steps", help="Pretraining steps (default: the preset's, at least 1)."),
    loss: str | None = typer.Option(None, "--loss", help="infonce | dreamlip | multicsr."),
    root: Path | None = ROOT_OPT,
    sets: list[str] | None = SETS_OPT,
    tower: str | None = TOWER_OPT,
    pretrained: str | None = PRETRAINED_OPT,
    threads: int | None = THREADS_OPT,
    quiet: bool = QUIET_OPT,
    strict: bool = STRICT_OPT,
    device: str | None = DEVICE_OPT,
    shards: str | None = SHARDS_OPT,
) -> None:
    """Contrastive image <-> caption pretraining; writes OUT/clip.safetensors (build_clip loads it)."""
    from geoloc.train.data import LocationImages, load_locations
    from geoloc.train.embed import model_transform
    from geoloc.train.metadata import derive_metadata
    from geoloc.train.pretrain import pretrain

    _threads(threads)
    p = _load_preset(preset, preset_file, sets, strict, device, tower=tower, pretrained=pretrained)
    extra: dict[str, Any] = {"pretrain_steps": steps or max(1, p.pretrain_steps)}
    if loss:
        extra["pretrain_loss"] = loss
    p = p.replace(**extra)
    locs = load_locations(manifest, root=root, views=p.views, check_files=shards is None)
    if shards is not None:
        from geoloc.train.data import attach_shards

        locs = attach_shards(locs, shards)
    locs.frame, _ = derive_metadata(locs.frame)
    from geoloc.model import GeoModelConfig

    cfg = GeoModelConfig(num_cells=1, tower=p.tower, pretrained=p.pretrained, image_size=p.image_size,
                         embedding=p.embedding)
    images = LocationImages(locs, model_transform(cfg), cache=p.cache_images, progress=not quiet)
    typer.echo(str(pretrain(images, p, out, progress=not quiet)))


@app.command("finetune")
def finetune_cmd(
    manifest: Path = typer.Option(..., "--manifest", help="Training manifest."),
    out: Path = typer.Option(..., "--out", help="Bundle folder to write."),
    preset: str = PRESET_OPT,
    preset_file: Path | None = PRESET_FILE_OPT,
    checkpoint: Path | None = typer.Option(None, "--checkpoint", help="CLIP checkpoint to start from "
                                           "(e.g. OUT/clip.safetensors of geoloc train pretrain)."),
    steps: int | None = typer.Option(None, "--steps", help="Fine-tuning steps (default: the preset's)."),
    root: Path | None = ROOT_OPT,
    eval_manifest: Path | None = EVAL_MANIFEST_OPT,
    sets: list[str] | None = SETS_OPT,
    tower: str | None = TOWER_OPT,
    pretrained: str | None = PRETRAINED_OPT,
    threads: int | None = THREADS_OPT,
    quiet: bool = QUIET_OPT,
    strict: bool = STRICT_OPT,
    device: str | None = DEVICE_OPT,
    shards: str | None = SHARDS_OPT,
) -> None:
    """Geocell fine-tuning (no pretraining) from a checkpoint or the preset's tower, then prototypes and bundle."""
    from geoloc.train.pipeline import train_bundle

    _threads(threads)
    p = _load_preset(preset, preset_file, sets, strict, device, tower=tower, pretrained=pretrained)
    extra: dict[str, Any] = {"pretrain_steps": 0}
    if checkpoint is not None:
        extra.update(checkpoint=str(checkpoint), pretrained=None)
    if steps is not None:
        extra["finetune_steps"] = steps
    path = train_bundle(manifest, out, p.replace(**extra), root=root, progress=not quiet,
                        eval_manifest=eval_manifest, command=command_line("train"), shards=shards)
    typer.echo(str(path))


def main() -> None:
    """``python -m geoloc.train.cli`` (also under torchrun): user errors -> one line, exit 1; the
    process group (if any) is destroyed at the end."""
    from representation.distributed.launch import shutdown

    try:
        app()
    except (GeolocError, RepresentationError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise SystemExit(1) from exc
    finally:
        shutdown()


if __name__ == "__main__":
    main()
