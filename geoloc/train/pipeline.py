"""End-to-end training: manifest -> geocells -> (pretraining) -> fine-tuning -> prototypes -> bundle.

``train_bundle(train_manifest, out_dir, preset, **overrides)`` runs the whole PIGEON recipe on
a manifest and writes a model bundle (``geoloc.bundle``) whose card names the data and the
exact command. ``train_preset(name, out_dir)`` also produces the data: for
``synthworld-tiny`` it generates SynthWorld scenes, trains on the train + val split and
evaluates on the held-out test split (metrics in the card).

Intermediate state (pretraining / fine-tuning checkpoints, generated scenes) lives in a work
folder next to ``out_dir`` (``.<name>.work``); rerunning the same command resumes there, and
the folder is removed after success unless ``keep_work=True``.
"""

from __future__ import annotations

import json
import shlex
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from geoloc.errors import GeolocError
from geoloc.train.data import LocationImages, Locations, build_vocab, encode_labels, load_locations
from geoloc.train.metadata import derive_metadata
from geoloc.train.presets import TrainPreset, get_preset
from representation.train.checkpoint import write_text_atomic

SYNTH_NOTE = ("Trained on procedurally generated SynthWorld street scenes only (geoloc.synth), not on photos: "
              "it locates SynthWorld scenes; real photos need a model trained on real photos "
              "(`geoloc train` with a photo manifest).")


def resolve_preset(preset: str | TrainPreset | dict[str, Any], overrides: dict[str, Any]) -> TrainPreset:
    """A validated preset from a name, a TrainPreset or a dict, with ``overrides`` applied."""
    if isinstance(preset, str):
        return get_preset(preset, **overrides)
    if isinstance(preset, dict):
        preset = TrainPreset.from_dict(preset)
    if not isinstance(preset, TrainPreset):
        raise GeolocError(f"preset must be a name, a TrainPreset or a dict, got {type(preset).__name__}")
    return preset.replace(**overrides) if overrides else preset


def build_cells(preset: TrainPreset, lat: np.ndarray, lon: np.ndarray, *, progress: bool = True):
    """(GeocellSet, cell index [N] of every training location) for the preset's cell kind."""
    from geoloc.cells import build_geocells
    from geoloc.cells.baselines import grid_cells, quadtree_cells
    from geoloc.cells.partition import OPTICS_PARAM_SETS

    if preset.cells == "semantic":
        cells, report = build_geocells(lat, lon, min_size=preset.cell_min_size, max_size=preset.cell_max_size,
                                       seed=preset.seed, optics_params=OPTICS_PARAM_SETS[preset.cell_optics],
                                       progress=progress)
        return cells, np.asarray(report.labels, dtype=np.int64)
    cells = grid_cells(preset.grid_deg, lat, lon) if preset.cells == "grid" else \
        quadtree_cells(lat, lon, max_points=preset.cell_max_size)
    return cells, np.asarray(cells.assign(lat, lon), dtype=np.int64)


MIN_VALIDATION = 50
"""Fewer held-out validation locations than this: the refinement settings are not tuned."""
MAX_VALIDATION = 5000


def validation_mask(frame: pd.DataFrame, preset: TrainPreset) -> np.ndarray:
    """Locations [N] held out of fine-tuning and of the prototypes to tune refinement on: the
    manifest's ``split == "val"`` rows when it has them, else a seeded ``val_fraction`` sample
    (at most :data:`MAX_VALIDATION`); all False when ``refine_tune`` is off or too few would remain."""
    n = len(frame)
    none = np.zeros(n, dtype=bool)
    if not (preset.refine and preset.refine_tune):
        return none
    if "split" in frame.columns and (frame["split"].astype(str) == "val").any():
        mask = (frame["split"].astype(str) == "val").to_numpy()
    else:
        k = min(MAX_VALIDATION, round(preset.val_fraction * n))
        mask = none.copy()
        mask[np.random.default_rng([preset.seed, 7]).choice(n, size=max(k, 0), replace=False)] = True
    if mask.sum() < MIN_VALIDATION or (~mask).sum() < MIN_VALIDATION:
        return none
    return mask


def default_command(fn: str, args: dict[str, Any]) -> str:
    """A copy-pasteable Python call for the card when no CLI command is given."""
    parts = ", ".join(f"{k}={v!r}" for k, v in args.items())
    return f"python -c \"from geoloc.train.pipeline import {fn}; {fn}({parts})\""


def current_command() -> str:
    """The command line of this process (``geoloc train ...`` when run from the CLI)."""
    argv = list(sys.argv)
    if argv and Path(argv[0]).name in ("geoloc", "__main__.py"):
        argv[0] = "geoloc"
    return " ".join(shlex.quote(a) for a in argv)


def _prepare_work(work: Path, preset: TrainPreset, data_key: str) -> None:
    """Reuse ``work`` only for the same preset and data (else a resume would continue another run)."""
    stamp = {"preset": preset.to_dict(), "data": data_key}
    f = work / "run.json"
    if f.is_file():
        try:
            same = json.loads(f.read_text()) == json.loads(json.dumps(stamp))
        except ValueError:
            same = False
        if not same:
            for sub in ("pretrain", "finetune"):
                shutil.rmtree(work / sub, ignore_errors=True)
    work.mkdir(parents=True, exist_ok=True)
    write_text_atomic(f, json.dumps(stamp, indent=1, sort_keys=True))  # a concurrent reader never sees half a stamp


def _data_key(manifest: Any, locs: Locations) -> str:
    import hashlib

    h = hashlib.sha256()
    h.update(str(manifest if isinstance(manifest, str | Path) else "frame").encode())
    h.update(np.ascontiguousarray(locs.lat).tobytes())
    h.update(np.ascontiguousarray(locs.lon).tobytes())
    h.update("\n".join("|".join(p) for p in locs.frame["paths"]).encode())
    return h.hexdigest()[:16]


def check_work_visible(work: Path) -> None:
    """Every rank must see the work folder rank 0 prepared (checkpoints hold one RNG file per rank,
    and the data generated there is read by all): multi-node runs need it on a shared filesystem.
    Raises :class:`GeolocError` on every rank, naming the ranks that do not see it."""
    from representation.distributed.launch import all_gather_objects

    seen = all_gather_objects((work / "run.json").is_file())
    blind = [r for r, ok in enumerate(seen) if not ok]
    if blind:
        raise GeolocError(f"the work folder {work} is not visible on rank(s) {blind}: a multi-node run needs "
                          f"--work-dir (and --out) on a filesystem every node shares (docs/gpu.md)")


def evaluate_locations(bundle: Any, locs: Locations, *, eval_dir: str | Path | None = None,
                       cache: bool = True, batch_size: int = 128, progress: bool = True,
                       train_cells: np.ndarray | None = None, return_predictions: bool = False,
                       device: str | Any | None = None, num_workers: int = 0) -> dict[str, Any] | None:
    """Metrics of an in-memory bundle on ``locs`` (held-out locations).

    Returns ``{"refined": metrics, "no_refinement": metrics, "majority_cell": metrics | None,
    "n_locations", "n_failed"}``; country / admin-1 accuracy from Natural Earth lookups of the
    true and predicted points. ``train_cells`` [N_train] (cell of every training location)
    adds the majority-cell baseline (always guess the centroid of the most frequent cell).
    With ``eval_dir``: metrics.json/md, error histogram and map of the refined predictions.
    ``return_predictions``: also ``"predictions"``, the refined (lat, lon) [N, 2] (NaN where the
    images did not decode).

    The forward pass runs on ``device`` (None = CUDA when usable; the tower in bf16 autocast there)
    with ``num_workers`` decoding processes; under torchrun every rank predicts its share of the
    locations, the embeddings and cell probabilities are gathered once to rank 0, which refines,
    scores and returns the metrics (the other ranks return None).
    """
    from geoloc.eval import report
    from geoloc.predict import Geolocator
    from geoloc.refine.hedge import apply_hedge
    from geoloc.train.embed import gather_rows, model_transform, shard_loader, shard_rows
    from representation.distributed.gather import world

    rank = world()[0]
    main = rank == 0
    geo = Geolocator(bundle, device=device, batch_size=batch_size, refine=main)
    rows = shard_rows(len(locs))
    ds = LocationImages(locs.subset(np.isin(np.arange(len(locs)), rows)), model_transform(bundle.model),
                        cache=cache and num_workers == 0, progress=progress and main)
    n_cells = len(bundle.geocells)
    emb = np.full((rows.size, bundle.model.embed_dim), np.nan, dtype=np.float32)
    probs = np.full((rows.size, n_cells), np.nan, dtype=np.float64)
    ok = np.zeros(rows.size, dtype=bool)
    from tqdm.auto import tqdm

    loader = shard_loader(ds, np.arange(len(ds)), batch_size, num_workers=num_workers,
                          pin_memory=geo.device.type == "cuda")
    done = 0
    for b in tqdm(loader, desc="evaluate", unit="batch", disable=not (progress and main)):
        e, p, _, _ = geo.forward(b["images"])
        sl = slice(done, done + len(e))
        emb[sl], probs[sl], ok[sl] = e, p, b["ok"].numpy()
        done += len(e)
    full = gather_rows(len(locs), rows, (emb, probs, ok), (np.nan, np.nan, False), to="main")
    if full is None:
        return None
    emb, probs, ok = full
    if not ok.any():
        raise GeolocError("evaluation: no held-out location could be decoded")
    n = len(locs)
    cent = bundle.geocells.centroids
    ref_lat, ref_lon = np.full(n, np.nan), np.full(n, np.nan)
    top = np.where(ok, np.nan_to_num(probs, nan=-1.0).argmax(1), 0)
    top_lat, top_lon = cent[top, 0].astype(np.float64), cent[top, 1].astype(np.float64)
    good = np.flatnonzero(ok)
    for s in range(0, good.size, batch_size):
        sel = good[s:s + batch_size]
        if geo.refiner is not None:
            res = geo.refiner.refine(emb[sel], probs[sel])
            ref_lat[sel], ref_lon[sel], chosen = res.lat, res.lon, res.cell
        else:
            ref_lat[sel], ref_lon[sel], chosen = top_lat[sel], top_lon[sel], top[sel]
        if geo.hedge:
            ref_lat[sel], ref_lon[sel], _ = apply_hedge(ref_lat[sel], ref_lon[sel], chosen, probs[sel], cent)
    tl, tn = locs.lat[ok], locs.lon[ok]
    out: dict[str, Any] = {"n_locations": int(ok.sum()), "n_failed": int((~ok).sum())}
    if return_predictions:
        out["predictions"] = np.c_[np.where(ok, ref_lat, np.nan), np.where(ok, ref_lon, np.nan)]
    out["refined"] = report(ref_lat[ok], ref_lon[ok], tl, tn, out_dir=eval_dir, name="refined",
                            admin_from_coordinates=True).metrics
    out["no_refinement"] = report(top_lat[ok], top_lon[ok], tl, tn, admin_from_coordinates=True).metrics
    out["majority_cell"] = None
    if train_cells is not None and len(train_cells):
        c = int(np.bincount(train_cells, minlength=len(cent)).argmax())
        k = int(ok.sum())
        out["majority_cell"] = report(np.full(k, cent[c, 0]), np.full(k, cent[c, 1]), tl, tn,
                                      admin_from_coordinates=True).metrics
    return out


def card_metrics(ev: dict[str, Any]) -> dict[str, Any]:
    """Flat ``{name: value}`` metrics for the model card table."""
    keys = ("acc@1km", "acc@25km", "acc@200km", "acc@750km", "acc@2500km", "median_km", "mean_km",
            "geoguessr_score", "country_acc", "admin1_acc")
    out: dict[str, Any] = {"held-out locations": ev["n_locations"]}
    for label, m in (("", ev["refined"]), ("no refinement ", ev["no_refinement"]),
                     ("majority cell ", ev.get("majority_cell"))):
        if not m:
            continue
        for k in keys:
            if k in m and m[k] is not None:
                v = m[k]
                out[f"{label}{k}"] = round(float(v), 4) if isinstance(v, float | np.floating) else v
    return out


def train_bundle(train_manifest: str | Path | pd.DataFrame, out_dir: str | Path,
                 preset: str | TrainPreset | dict[str, Any] = "synthworld-tiny", *, root: str | Path | None = None,
                 progress: bool = True, eval_manifest: str | Path | pd.DataFrame | None = None,
                 eval_root: str | Path | None = None, eval_dir: str | Path | None = None,
                 work_dir: str | Path | None = None, keep_work: bool = False, command: str | None = None,
                 data_description: str | None = None, card_extra: dict[str, Any] | None = None,
                 shards: Any = None, **overrides: Any) -> Path:
    """Train a PIGEON model on ``train_manifest`` and write a bundle to ``out_dir``.

    Steps: validate + group the manifest (``preset.views`` images per location; bad rows are
    skipped and counted in the card) -> geocells (``semantic`` / ``grid`` / ``quadtree``) ->
    optional contrastive caption pretraining (``pretrain_steps > 0``) -> geocell fine-tuning
    (haversine-smoothed or one-hot loss, auxiliary heads, freezing policy) -> embed the training
    set -> OPTICS prototypes per cell (``refine=True``) -> ``save_bundle`` (overwrites ``out_dir``).

    Args:
        train_manifest: manifest path or DataFrame (``lat``, ``lon``, ``path``; ``id``/``view``
            for multi-view locations; label columns for the auxiliary heads).
        out_dir: bundle folder to write.
        preset: preset name, :class:`TrainPreset` or dict; ``**overrides`` replace its fields
            (e.g. ``cells="grid", loss="onehot", views=1, pretrain_steps=0``).
        root: image root for relative paths (default: the manifest's folder).
        eval_manifest, eval_root: held-out locations; their metrics go into the card (and
            ``eval_dir`` gets metrics files and plots).
        work_dir: checkpoints and intermediate files (default ``<out_dir parent>/.<out name>.work``).
        keep_work: keep ``work_dir`` after success.
        command: the command recorded in the card (default: this process's command line).
        data_description: what the data is (default: the manifest and its counts).
        card_extra: more card fields.
        shards: WebDataset shards of the training manifest's locations (``geoloc data shard``: a
            folder, a brace pattern or a list): the images are read from them
            (:func:`geoloc.train.data.attach_shards`); the manifest still gives the coordinates and
            labels, its image files need not exist.

    Returns:
        ``Path(out_dir)``.
    """
    from geoloc.bundle import bundle_in_memory, save_bundle
    from geoloc.model import GeoModel, GeoModelConfig
    from geoloc.refine import build_prototypes
    from geoloc.train.embed import embed_dataset, model_transform
    from geoloc.train.finetune import finetune
    from geoloc.train.pretrain import pretrain
    from representation.distributed.launch import barrier, init_from_env, on_main
    from representation.train import seed_everything

    t_start, cpu_start = time.time(), time.process_time()
    p = resolve_preset(preset, overrides)
    env = init_from_env(p.device)  # the process group first: every rank must know its rank from here on
    out = Path(out_dir)
    work = Path(work_dir) if work_dir is not None else out.parent / f".{out.name}.work"
    seed_everything(p.seed)
    # Rank 0 reads the manifest, stamps the work folder and builds the geocells and label vocabularies;
    # the other ranks wait and receive the same objects (never rebuilt per rank, so labels agree)
    plan = on_main(_training_plan, train_manifest, root, p, work, progress, shards)
    check_work_visible(work)
    locs, meta_report, val, cells, cell_ids, vocabs, labels, skipped_tasks = (
        plan[k] for k in ("locs", "meta_report", "val", "cells", "cell_ids", "vocabs", "labels", "skipped_tasks"))
    cfg = GeoModelConfig(num_cells=len(cells), tower=p.tower, pretrained=p.pretrained, image_size=p.image_size,
                         embedding=p.embedding, fusion=p.fusion, aux_heads={t: len(v) for t, v in vocabs.items()},
                         head_hidden=p.head_hidden,
                         loss_weights={k: float(v) for k, v in p.loss_weights.items()
                                       if k in vocabs or k == "geocell"})
    images = LocationImages(locs, model_transform(cfg), labels=labels, cache=p.cache_images,
                            progress=progress and env.is_main)
    if images.failed and env.is_main:
        print(f"[train] {len(images.failed)} location(s) with undecodable images are skipped "
              f"(first: {images.failed[0][0]}: {images.failed[0][1]})", file=sys.stderr)
    checkpoint = p.checkpoint
    t_pre = time.time()
    if p.pretrain_steps > 0:
        checkpoint = str(pretrain(images, p, work / "pretrain", progress=progress))
    t_pre = time.time() - t_pre
    torch.manual_seed(p.seed)
    if checkpoint is not None and cfg.pretrained:
        # the tower starts from the (caption-pretrained) checkpoint, not from the tag's weights; the config
        # keeps the tag (its preprocessing is the one the images were normalised with)
        from geoloc.model import build_vision_tower

        tower = build_vision_tower(cfg.tower, checkpoint=checkpoint, image_size=cfg.image_size,
                                   custom_cfg=cfg.custom_cfg, embedding=cfg.embedding)
        net = GeoModel(cfg, tower=tower)
    else:
        net = GeoModel(cfg, checkpoint=checkpoint)
    fit_rows = np.flatnonzero(~val)
    fit_data = images if not val.any() else torch.utils.data.Subset(images, fit_rows.tolist())
    t_ft = time.time()
    ft = finetune(net, fit_data, cells.centroids, p, work / "finetune", progress=progress) if p.finetune_steps else {}
    t_ft = time.time() - t_ft
    net = net.cpu().eval()
    protos, tuning, head_fit = None, None, None
    refine_cfg = {"top_k": p.refine_top_k, "temperature": p.refine_temperature, "within": p.refine_within,
                  "max_km": p.refine_max_km}
    emb, embedded = None, False
    if p.head_epochs:
        emb, ok, head_fit = refit_heads(net, images, p, cell_ids, labels, cells.centroids, ~val, progress=progress,
                                        device=env.device)
        embedded = True
    if p.refine:
        if not embedded:  # every rank embeds its share on its device; the embeddings travel once, to rank 0
            emb, ok = embed_dataset(net, images, batch_size=p.eval_batch_size, device=env.device, progress=progress,
                                    num_workers=p.num_workers, gather="main")
        net = net.cpu()
        if env.is_main:
            ok &= images.ok.numpy()
            keep = ok & ~val
            protos = build_prototypes(cell_ids[keep], locs.lat[keep], locs.lon[keep], emb[keep], len(cells),
                                      min_samples=p.refine_min_samples, xi=p.refine_xi, progress=progress)
            if (val & ok).any():
                tuning = tune_on_validation(net, protos, cells, emb[val & ok], locs.lat[val & ok],
                                            locs.lon[val & ok], refine_cfg)
                refine_cfg.update(top_k=tuning.top_k, temperature=tuning.temperature, hedge=tuning.hedge)
                if progress:
                    print(f"[train] refinement tuned on {tuning.n_validation} validation locations: T = "
                          f"{tuning.temperature:.3g}, top-k = {tuning.top_k}; GeoScore "
                          f"{tuning.unrefined['geoguessr_score']:.0f} -> {tuning.refined['geoguessr_score']:.0f}, "
                          f"acc@25km {tuning.unrefined['acc@25km']:.3f} -> {tuning.refined['acc@25km']:.3f}; "
                          f"hedging {'on' if tuning.hedge else 'off'} (GeoScore "
                          f"{tuning.hedged['geoguessr_score']:.0f})", file=sys.stderr)
    n_used = int(images.ok.sum())
    name = str(train_manifest) if isinstance(train_manifest, str | Path) else "a manifest DataFrame"
    card: dict[str, Any] = {
        "title": f"geoloc {p.name} model",
        "description": p.description or f"geoloc model trained with the {p.name} preset",
        "data": data_description or (f"{name}: {n_used} training locations x {p.views} view(s) "
                                     f"({locs.invalid_rows} invalid row(s), {locs.rejected} location(s) with the "
                                     f"wrong view count and {len(images.failed)} undecodable location(s) skipped)"),
        "training_command": command or current_command(),
        "preset": p.to_dict(),
        "started_from": {"pretrained": p.pretrained, "checkpoint": p.checkpoint,
                         "caption_pretraining_steps": p.pretrain_steps},
        "aux_labels": vocabs,
        "metadata": meta_report.summary(),
        "validation": {"locations": int(val.sum()), "source": "split column" if "split" in locs.frame.columns
                       and val.any() else ("random" if val.any() else "none")},
        "head_refit": head_fit,
        "refinement_tuning": None if tuning is None else {k: v for k, v in tuning.to_dict().items() if k != "grid"},
        "skipped_aux_heads": skipped_tasks,
        "training": {"finetune_last": ft.get("last", {}) if ft else {}, "pretrain_s": round(t_pre, 1),
                     "finetune_s": round(t_ft, 1), "processes": env.world_size, "device": env.device.type},
        **(card_extra or {}),
    }
    if eval_manifest is not None:
        test = on_main(load_locations, eval_manifest, root=eval_root, views=p.views, what="evaluation manifest")
        mem = bundle_in_memory(model=net, geocells=cells, prototypes=protos, refine=refine_cfg, views=p.views,
                               card={"data": card["data"], "training_command": card["training_command"]})
        ev = evaluate_locations(mem, test, eval_dir=eval_dir, cache=True, batch_size=p.eval_batch_size,
                                progress=progress, train_cells=cell_ids[images.ok.numpy() & ~val],
                                device=env.device, num_workers=p.num_workers)
        net = net.cpu()
        if ev is not None:  # rank 0
            card["metrics"] = card_metrics(ev)
            card["metrics_command"] = card["training_command"] + "  (held-out evaluation inside the same run)"
            card["evaluation"] = {k: ev[k] for k in ("refined", "no_refinement", "majority_cell", "n_locations",
                                                     "n_failed")}
    card["training"]["wall_s"] = round(time.time() - t_start, 1)
    card["training"]["cpu_s_main_process"] = round(time.process_time() - cpu_start, 1)
    if env.is_main:
        save_bundle(out, model=net, config=cfg, geocells=cells, prototypes=protos, card=_jsonable(card),
                    refine=refine_cfg, views=p.views, overwrite=True)
    barrier()  # every rank is done with the work folder (checkpoints, generated images) before it goes
    if env.is_main and not keep_work:
        shutil.rmtree(work, ignore_errors=True)
    return out


def refit_heads(net: Any, images: LocationImages, preset: TrainPreset, cell_ids: np.ndarray,
                labels: dict[str, np.ndarray], centroids: np.ndarray, rows: np.ndarray, *,
                progress: bool = True, device: Any = None) -> tuple[np.ndarray | None, np.ndarray | None,
                                                                    dict[str, Any]]:
    """PIGEON's heads-on-a-frozen-tower stage after end-to-end fine-tuning: embed every view of every
    location once, train ``net``'s heads further on the training ``rows`` [N] bool for
    ``preset.head_epochs`` epochs (:func:`geoloc.train.heads.fit_heads`, ``head_view_dropout``).
    Returns (fused embeddings [N, D] = the mean of the views, as the mean fusion computes them, ok [N],
    the fit summary).

    Under torchrun every rank embeds its share on ``device``; rank 0 alone fits the heads and sends
    them to the others (which get None for the embeddings and ok)."""
    from geoloc.model import GEOCELL
    from geoloc.train.embed import embed_dataset
    from geoloc.train.heads import fit_heads
    from representation.distributed.launch import on_main

    if preset.fusion != "mean":
        raise GeolocError(f"head_epochs needs fusion='mean' (cached view embeddings are averaged), got "
                          f"{preset.fusion!r}")
    views, ok = embed_dataset(net, images, batch_size=preset.eval_batch_size, progress=progress, per_view=True,
                              device=device, num_workers=preset.num_workers, gather="main")
    net.cpu()

    def fit() -> tuple[dict[str, Any], dict[str, Any]]:
        fit = ok & images.ok.numpy() & rows
        task_labels = {GEOCELL: cell_ids[fit], **{t: v[fit] for t, v in labels.items() if t != "cell"}}
        summary = fit_heads(net.heads, views[fit], images.lat.numpy()[fit], images.lon.numpy()[fit], task_labels,
                            centroids, epochs=preset.head_epochs, lr=preset.head_lr, tau_km=preset.tau_km,
                            smooth=preset.loss == "haversine", target_form=preset.target_form,
                            weights={k: float(v) for k, v in preset.loss_weights.items()},
                            view_dropout=preset.head_view_dropout, seed=preset.seed, progress=progress)
        return net.heads.state_dict(), summary

    state, summary = on_main(fit)
    net.heads.load_state_dict(state)  # the other ranks evaluate with rank 0's heads
    if views is None:
        return None, None, summary
    return views.mean(axis=1), ok & images.ok.numpy(), summary


def _training_plan(train_manifest: Any, root: Any, p: TrainPreset, work: Path, progress: bool,
                   shards: Any = None) -> dict[str, Any]:
    """Rank 0's shared work of :func:`train_bundle`: the validated locations and their metadata, the
    work folder's stamp, the validation split, the geocells and cell of every location, the label
    vocabularies and labels."""
    from geoloc.train.data import attach_shards

    locs = load_locations(train_manifest, root=root, views=p.views, what="training manifest",
                          check_files=shards is None)
    if shards is not None:
        locs = attach_shards(locs, shards)
    locs.frame, meta_report = derive_metadata(locs.frame)
    if progress:
        print(f"[train] {locs.summary()}", file=sys.stderr)
        print(f"[train] caption/label metadata: {meta_report.summary()}", file=sys.stderr)
    _prepare_work(work, p, _data_key(train_manifest, locs))
    val = validation_mask(locs.frame, p)
    cells, fit_cells = build_cells(p, locs.lat[~val], locs.lon[~val], progress=progress)
    cell_ids = np.empty(len(locs), dtype=np.int64)
    cell_ids[~val] = fit_cells
    if val.any():
        cell_ids[val] = np.asarray(cells.assign(locs.lat[val], locs.lon[val]), dtype=np.int64)
    vocabs: dict[str, list[str]] = {}
    skipped_tasks: list[str] = []
    labels: dict[str, np.ndarray] = {"cell": cell_ids}
    for task in p.aux_heads:
        vocab = build_vocab(locs.frame, task)
        if not vocab:
            skipped_tasks.append(task)
            continue
        vocabs[task] = vocab
        labels[task] = encode_labels(locs.frame, task, vocab)
    return {"locs": locs, "meta_report": meta_report, "val": val, "cells": cells, "cell_ids": cell_ids,
            "vocabs": vocabs, "labels": labels, "skipped_tasks": skipped_tasks}


def tune_on_validation(net: Any, protos: Any, cells: Any, emb: np.ndarray, lat: np.ndarray, lon: np.ndarray,
                       refine_cfg: dict[str, Any]):
    """Refinement temperature and top-k chosen on validation embeddings [N, D] (degrees ``lat``/``lon``)
    with ``net``'s cell probabilities (:func:`geoloc.refine.tune.tune_refinement`)."""
    from geoloc.refine import Refiner
    from geoloc.refine.tune import tune_refinement

    with torch.no_grad():
        logits = net.heads(torch.from_numpy(emb).float())["geocell"]
        probs = torch.softmax(logits.double(), dim=1).numpy()
    refiner = Refiner(protos, cell_centroids=cells.centroids, top_k=refine_cfg["top_k"],
                      temperature=refine_cfg["temperature"], within=refine_cfg["within"],
                      max_km=refine_cfg["max_km"])
    return tune_refinement(refiner, emb, probs, lat, lon)


def _jsonable(obj: Any) -> Any:
    def conv(o: Any) -> Any:
        if isinstance(o, np.integer):
            return int(o)
        if isinstance(o, np.floating):
            return None if not np.isfinite(o) else float(o)
        if isinstance(o, float) and not np.isfinite(o):
            return None
        if isinstance(o, torch.Tensor):
            return o.item() if o.numel() == 1 else o.tolist()
        if isinstance(o, dict):
            return {str(k): conv(v) for k, v in o.items()}
        if isinstance(o, list | tuple):
            return [conv(v) for v in o]
        return o

    return conv(obj)


def synthworld_split(preset: TrainPreset, data_dir: Path, *, progress: bool = True) -> tuple[pd.DataFrame,
                                                                                            pd.DataFrame]:
    """Generate (or reuse) the preset's SynthWorld scenes in ``data_dir``; returns the
    (train + val, test) manifest rows (paths relative to ``data_dir``)."""
    from geoloc.synth import generate_dataset

    if preset.synth_scenes < 10:
        raise GeolocError(f"synth_scenes must be >= 10 to have a held-out split, got {preset.synth_scenes}")
    manifest = generate_dataset(preset.synth_scenes, data_dir, size=preset.synth_image_size, views=preset.views,
                                seed=preset.synth_seed, progress=progress)
    test_mask = manifest["split"].astype(str) == "test"
    train, test = manifest[~test_mask].reset_index(drop=True), manifest[test_mask].reset_index(drop=True)
    if len(test) == 0 or len(train) == 0:
        raise GeolocError("the SynthWorld sample has an empty train or test split; raise synth_scenes")
    return train, test


def train_preset(name: str, out_dir: str | Path, *, progress: bool = True, manifest: str | Path | None = None,
                 root: str | Path | None = None, eval_manifest: str | Path | None = None,
                 eval_dir: str | Path | None = None, work_dir: str | Path | None = None, keep_work: bool = False,
                 command: str | None = None, **overrides: Any) -> Path:
    """Train the named preset into a bundle at ``out_dir``.

    Presets with ``synth_scenes > 0`` (``synthworld-tiny``) generate their SynthWorld data in
    the work folder, train on the train + val split and evaluate on the held-out test split;
    the metrics (refined, without refinement, majority-cell baseline) and the command go into
    the card, which also says the model was trained on synthetic scenes. Other presets
    (``pigeon``, ``pigeotto``) need ``manifest=`` (real data).
    """
    from representation.distributed.launch import init_from_env, on_main

    p = get_preset(name, **overrides)
    init_from_env(p.device)
    out = Path(out_dir)
    work = Path(work_dir) if work_dir is not None else out.parent / f".{out.name}.work"
    cmd = command or (current_command() if Path(sys.argv[0]).name == "geoloc" else
                      default_command("train_preset", {"name": name, "out_dir": str(out_dir), **overrides}))
    if p.synth_scenes > 0 and manifest is None:
        data_dir = work / "synth"
        t0 = time.time()
        # rank 0 renders the scenes (the others would race on the same files) and shares the split
        train, test = on_main(synthworld_split, p, data_dir, progress=progress)
        gen_s = time.time() - t0
        desc = (f"SynthWorld (geoloc.synth) scenes: {p.synth_scenes} locations sampled with seed {p.synth_seed} from "
                f"the photo-density prior, {p.views} view(s) of {p.synth_image_size} px each; trained on the train + "
                f"val split ({train['id'].nunique() if 'id' in train else len(train)} locations), evaluated on the "
                f"held-out test split ({test['id'].nunique() if 'id' in test else len(test)} locations). "
                + SYNTH_NOTE)
        return train_bundle(train, out, p, root=data_dir, progress=progress, eval_manifest=test, eval_root=data_dir,
                            eval_dir=eval_dir, work_dir=work, keep_work=keep_work, command=cmd,
                            data_description=desc, card_extra={"synthworld_generation_s": round(gen_s, 1),
                                                               "trained_on": "SynthWorld synthetic scenes"})
    if manifest is None:
        raise GeolocError(f"preset {name!r} trains on real data: pass a training manifest "
                          f"(geoloc train run --preset {name} --manifest TRAIN.csv --out DIR)")
    return train_bundle(manifest, out, p, root=root, progress=progress, eval_manifest=eval_manifest,
                        eval_dir=eval_dir, work_dir=work, keep_work=keep_work, command=cmd)


__all__ = ["SYNTH_NOTE", "build_cells", "card_metrics", "evaluate_locations", "refit_heads", "resolve_preset",
           "train_bundle", "train_preset", "tune_on_validation", "validation_mask"]
