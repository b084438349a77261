"""``geoloc refine``: build retrieval-refinement prototypes into a model bundle."""

from __future__ import annotations

from pathlib import Path

import typer

from geoloc.errors import GeolocError

app = typer.Typer(help="Retrieval refinement: location-cluster prototypes (PIGEON §1.5).", no_args_is_help=True,
                  add_completion=False)


@app.callback()
def _group() -> None:
    """Retrieval refinement: location-cluster prototypes (PIGEON §1.5)."""


def build_into_bundle(model: Path, manifest: Path, *, root: Path | None = None, out: Path | None = None,
                      min_samples: int = 3, xi: float = 0.15, noise: str = "drop", views: int | None = None,
                      batch_size: int = 128, progress: bool = True, command: str | None = None,
                      device: str | None = None, num_workers: int = 0) -> dict | None:
    """Embed ``manifest``'s locations with the bundle's model, cluster them per geocell (OPTICS on
    haversine km) and re-save the bundle (at ``out``, default in place) with the prototypes;
    the bundle is re-hashed. Returns counts ``{"locations", "skipped", "prototypes", "bundle"}``.

    The embedding runs on ``device`` (None = CUDA when usable, in bf16 autocast there) with
    ``num_workers`` decoding processes; under torchrun every rank embeds its share, rank 0 receives
    them once, clusters and writes the bundle (the other ranks return None)."""
    from geoloc.bundle import load_bundle
    from geoloc.train.embed import embed_manifest
    from representation.distributed.launch import barrier, init_from_env

    env = init_from_env(device or "auto")
    b = load_bundle(model)
    emb, lat, lon, ok, locs = embed_manifest(b, manifest, root=root, views=views or int(b.config["views"]),
                                             batch_size=batch_size, device=env.device,
                                             progress=progress and env.is_main, return_locations=True,
                                             num_workers=num_workers, gather="main")
    if not env.is_main:
        barrier()
        return None
    try:
        return _cluster_and_save(b, model, manifest, out, emb, lat, lon, ok, locs, min_samples=min_samples, xi=xi,
                                 noise=noise, progress=progress, command=command)
    finally:
        barrier()  # the other ranks leave once the bundle is written


def _cluster_and_save(b, model: Path, manifest: Path, out: Path | None, emb, lat, lon, ok, locs, *, min_samples: int,
                      xi: float, noise: str, progress: bool, command: str | None) -> dict:
    from geoloc.bundle import save_bundle
    from geoloc.refine import build_prototypes

    if not ok.any():
        raise GeolocError(f"{manifest}: no training location could be embedded (all images failed to decode)")
    cells = b.geocells.assign(lat[ok], lon[ok])
    protos = build_prototypes(cells, lat[ok], lon[ok], emb[ok], len(b.geocells), min_samples=min_samples, xi=xi,
                              noise=noise, progress=progress)
    card = dict(b.config["card"])
    card["prototypes"] = {"manifest": str(manifest), "locations": int(ok.sum()),
                          "skipped": int((~ok).sum()) + locs.invalid_rows + locs.rejected,
                          "min_samples": int(min_samples), "xi": float(xi), "noise": noise,
                          "command": command or f"geoloc refine build --model {model} --manifest {manifest}"}
    dest = Path(out) if out is not None else Path(model)
    b.model.to("cpu")
    save_bundle(dest, model=b.model, config=b.model.config, geocells=b.geocells, prototypes=protos, card=card,
                refine=dict(b.config["refine"]), views=int(b.config["views"]), overwrite=True)
    return {"locations": int(ok.sum()), "skipped": card["prototypes"]["skipped"],
            "prototypes": int(protos.num_prototypes), "bundle": str(dest)}


@app.command("build")
def build(
    model: Path = typer.Option(..., "--model", help="Model bundle folder (rewritten with the prototypes)."),
    manifest: Path = typer.Option(..., "--manifest", help="Training manifest whose locations become prototypes."),
    root: Path | None = typer.Option(None, "--root", help="Image root for relative paths."),
    out: Path | None = typer.Option(None, "--out", help="Write the bundle here instead of in place."),
    min_samples: int = typer.Option(3, "--min-samples", help="OPTICS min_samples (PIGEON 3, PIGEOTTO 100)."),
    xi: float = typer.Option(0.15, "--xi", help="OPTICS xi (PIGEON 0.15, PIGEOTTO 0.1)."),
    noise: str = typer.Option("drop", "--noise", help="OPTICS noise points: drop (PIGEON) or singleton."),
    views: int | None = typer.Option(None, "--views", help="Views per location (default: the bundle's)."),
    batch_size: int = typer.Option(128, "--batch-size", help="Locations per forward pass."),
    device: str | None = typer.Option(None, "--device", help="auto (default: CUDA when usable) | cpu | cuda."),
    workers: int = typer.Option(0, "--workers", help="DataLoader processes decoding the images."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bars."),
) -> None:
    """Embed the training set with the bundle's model and store location-cluster prototypes in the bundle."""
    from geoloc.frontend import command_line

    if min_samples < 1 or not xi > 0 or not xi < 1:
        raise GeolocError(f"need --min-samples >= 1 and 0 < --xi < 1, got {min_samples}, {xi}")
    info = build_into_bundle(model, manifest, root=root, out=out, min_samples=min_samples, xi=xi, noise=noise,
                             views=views, batch_size=batch_size, progress=not quiet,
                             command=command_line("refine"), device=device,
                             num_workers=workers)
    if info is None:  # a rank other than 0 under torchrun
        return
    typer.echo(f"{info['prototypes']} prototypes from {info['locations']} locations "
               f"({info['skipped']} skipped) -> {info['bundle']}")


__all__ = ["app", "build_into_bundle"]

