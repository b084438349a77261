"""Issue 15's geolocation options on SynthWorld, measured against the default heads on cached
tower embeddings (PIGEON's head stage on a frozen tower; the protocol of bench_ablations.py).

1. Data: a SynthWorld sample made beforehand (``geoloc synth generate --n 4000 --size 64 --views 4
   --seed 5 --out DIR``); its fixed ``split`` column gives train / val / test locations.
2. Tower: the preset ``synthworld-tiny`` (geoloc-tiny-rn) trained end to end on the train split for
   ``--tower-steps`` steps (``train_bundle``), or an existing bundle's tower (``--tower-bundle``),
   frozen; every view of every location is embedded once ([N, 4, D]).
3. Head variants, ``--seeds`` each, trained on the train rows' cache (``fit_heads``), evaluated on the
   test rows with refinement tuned on the val rows:
   ``default`` (the preset's heads: shared block + linear geocell / country / climate heads on the
   mean of the views), ``collap`` (CoLLAP cell-conditioned attention pooling over the views),
   ``collap_uniform`` (its control: the same cosine head on mean-pooled similarities),
   ``taskexpert`` (TaskExpert experts + gates + memory over the views for the three heads),
   ``sepclr`` (location / nuisance split with SepCLR's mutual-information term; nuisance heads
   for the hour and the season), ``whiten`` (default heads; ZCA-whitened embeddings for the
   retrieval refinement, WhitenedCSE / CCP's post-hoc whitening).
4. COCONUT (adding regions): heads trained on the old regions (Europe, Asia, Africa), then on the
   new ones (the Americas, Oceania) by fine-tuning, by rehearsal (a reservoir buffer of old
   locations), by COCONUT (rehearsal + the NSPT term with the old heads as the frozen teacher), and
   jointly (the upper bound); top-1 cell predictions on old- and new-region test locations.
5. Statistics: mean over seeds, 95 % bootstrap intervals over test locations and the paired
   difference to the baseline row (bench_ablations.bootstrap).

Run (caches in --work, a rerun resumes):

    PYTHONPATH=. nice python benchmarks/bench_methods_c_geo.py --synth /tmp/ma-synth --work /tmp/ma-geo
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import bench_ablations as ba
from machine import machine_summary

VARIANTS = ("default", "collap", "collap_uniform", "taskexpert", "sepclr", "whiten")
LABELS = {"full": "default heads (baseline)", "collap": "CoLLAP view attention", "collap_uniform":
          "cosine head, mean-pooled views (CoLLAP control)", "taskexpert": "TaskExpert heads",
          "sepclr": "SepCLR location / nuisance split", "whiten": "whitened embeddings for refinement",
          "replay": "rehearsal only", "coconut": "COCONUT (rehearsal + NSPT)", "joint": "joint training (upper bound)"}
OLD_REGIONS = ("Europe", "Asia", "Africa")


def load(args) -> dict[str, Any]:
    from geoloc.train.data import load_locations
    from geoloc.train.metadata import derive_metadata

    locs = load_locations(args.synth / "manifest.parquet", root=args.synth, views=4, what="synth")
    locs.frame, _ = derive_metadata(locs.frame, read_exif=False)
    split = locs.frame["split"].astype(str).to_numpy()
    return {"locs": locs, "tr": np.flatnonzero(split == "train"), "va": np.flatnonzero(split == "val"),
            "te": np.flatnonzero(split == "test")}


def tower_embeddings(args, d) -> np.ndarray:
    f = args.work / "emb.npy"
    if f.is_file():
        return np.load(f)
    import pandas as pd

    from geoloc.bundle import load_bundle
    from geoloc.train.data import LocationImages
    from geoloc.train.embed import embed_dataset, model_transform
    from geoloc.train.pipeline import train_bundle

    bundle_dir = args.tower_bundle or args.work / "tower-bundle"
    if not (bundle_dir / "config.json").is_file():
        frame = d["locs"].frame.iloc[d["tr"]]
        keep = ("country", "adm0_a3", "climate", "admin1", "adm1_code", "town", "drives_left", "split")
        rows = pd.DataFrame([{"id": r.id, "view": v, "path": p, "lat": r.lat, "lon": r.lon,
                              **{c: getattr(r, c) for c in keep if hasattr(r, c)}}
                             for r in frame.itertuples() for v, p in enumerate(r.paths)])
        t = time.perf_counter()
        train_bundle(rows, bundle_dir, "synthworld-tiny", progress=args.progress, work_dir=args.work / "tower-work",
                     command="bench_methods_c_geo (tower)", finetune_steps=args.tower_steps)
        print(f"[tower] {args.tower_steps} steps: {time.perf_counter() - t:.0f} s", flush=True)
    net = load_bundle(bundle_dir).model
    images = LocationImages(d["locs"], model_transform(net), progress=args.progress)
    emb, _ = embed_dataset(net, images, batch_size=128, device="cpu", progress=args.progress, per_view=True)
    np.save(f, emb)
    return emb


def setup(args, d, emb) -> dict[str, Any]:
    from geoloc.model import GEOCELL
    from geoloc.train.data import build_vocab, encode_labels
    from geoloc.train.pipeline import build_cells
    from geoloc.train.presets import get_preset

    preset = get_preset("synthworld-tiny")
    locs, tr = d["locs"], d["tr"]
    cells, _ = build_cells(preset, locs.lat[tr], locs.lon[tr], progress=False)
    labels = {GEOCELL: np.asarray(cells.assign(locs.lat, locs.lon), dtype=np.int64)}
    sizes = {GEOCELL: len(cells)}
    for t in preset.aux_heads:
        vocab = build_vocab(locs.frame.iloc[tr], t)
        labels[t], sizes[t] = encode_labels(locs.frame, t, vocab), len(vocab)
    frame = locs.frame
    nuisance = {"hour_bin": (np.asarray(frame["hour"], dtype=float) // 3).astype(np.int64).clip(0, 7),
                "season": np.unique(frame["season"].astype(str), return_inverse=True)[1].astype(np.int64)}
    print(f"[setup] {len(tr)} train / {len(d['va'])} val / {len(d['te'])} test locations, {len(cells)} cells, "
          f"embedding {emb.shape}", flush=True)
    return {"preset": preset, "cells": cells, "labels": labels, "sizes": sizes, "nuisance": nuisance}


def make_heads(variant: str, dim: int, s, args):
    from geoloc.model.heads import ClassificationHeads
    from geoloc.train.head_options import NuisanceSeparatedHeads, TaskExpertHeads, ViewAttentionHeads

    if variant in ("default", "whiten"):
        return ClassificationHeads(dim, s["sizes"], hidden=args.hidden), False
    if variant in ("collap", "collap_uniform"):
        return ViewAttentionHeads(dim, s["sizes"], hidden=args.hidden,
                                  attention="uniform" if variant == "collap_uniform" else "learned"), True
    if variant == "taskexpert":
        return TaskExpertHeads(dim, s["sizes"], hidden=args.hidden), True
    if variant == "sepclr":
        return NuisanceSeparatedHeads(dim, s["sizes"], {"hour_bin": 8, "season": 4}, hidden=args.hidden), False
    raise ValueError(variant)


def cell_probs(heads, emb: np.ndarray, per_view: bool) -> np.ndarray:
    import torch

    from geoloc.model import GEOCELL

    x = torch.from_numpy(emb).float()
    with torch.no_grad():
        out = heads(x) if per_view else heads(x.mean(1))
    return torch.softmax(out[GEOCELL].double(), 1).numpy()


_REFINERS: dict[str, Any] = {}


def refined(d, s, key: str, p_val, p_test, fused_train, fused_val, fused_test) -> np.ndarray:
    """Refinement tuned on val, applied to test; the prototypes (which depend on the embeddings,
    not on the heads) are built once per embedding ``key``."""
    from geoloc.model import GEOCELL
    from geoloc.refine import Refiner, build_prototypes
    from geoloc.refine.tune import tune_refinement

    pr = s["preset"]
    lat, lon, tr, va = d["locs"].lat, d["locs"].lon, d["tr"], d["va"]
    if key not in _REFINERS:
        protos = build_prototypes(s["labels"][GEOCELL][tr], lat[tr], lon[tr], fused_train, len(s["cells"]),
                                  min_samples=pr.refine_min_samples, xi=pr.refine_xi, progress=False)
        _REFINERS[key] = Refiner(protos, cell_centroids=s["cells"].centroids, within=pr.refine_within,
                                 max_km=pr.refine_max_km)
    refiner = _REFINERS[key]
    tune_refinement(refiner, fused_val, p_val, lat[va], lon[va])
    res = refiner.refine(fused_test, p_test)
    return np.c_[res.lat, res.lon]


def head_run(variant: str, seed: int, args, d, s, emb) -> np.ndarray:
    f = args.work / "pred" / f"{variant}-s{seed}.npy"
    if f.is_file():
        return np.load(f)
    import torch

    from geoloc.train.head_options import whitened_embeddings
    from geoloc.train.heads import fit_heads

    torch.manual_seed(seed)
    heads, per_view = make_heads(variant, emb.shape[-1], s, args)
    labels = dict(s["labels"])
    extra = None
    if variant == "sepclr":
        labels.update(s["nuisance"])

        def extra(out, j):
            return args.mi_weight * heads.mi_penalty(out)
    lat, lon, tr = d["locs"].lat, d["locs"].lon, d["tr"]
    fit_heads(heads, emb, lat, lon, labels, s["cells"].centroids, epochs=args.epochs, lr=args.lr,
              tau_km=s["preset"].tau_km, weights={k: v for k, v in s["preset"].loss_weights.items()}, seed=seed,
              per_view=per_view, extra_loss=extra, rows=tr)
    heads.eval()
    fused = emb.mean(1)
    f_tr, f_va, f_te = fused[tr], fused[d["va"]], fused[d["te"]]
    if variant == "whiten":
        f_tr, f_va, f_te = whitened_embeddings(f_tr, f_va, f_te)
    pred = refined(d, s, "whiten" if variant == "whiten" else "plain", cell_probs(heads, emb[d["va"]], per_view),
                   cell_probs(heads, emb[d["te"]], per_view), f_tr, f_va, f_te)
    f.parent.mkdir(parents=True, exist_ok=True)
    np.save(f, pred)
    return pred


def test_view(d, rows: np.ndarray) -> dict[str, Any]:
    """A ``d`` whose test set is ``rows`` (for bench_ablations.per_location)."""
    from geoloc.train.data import Locations

    sub = Locations(d["locs"].frame.iloc[rows].reset_index(drop=True), 4)
    return {"test": {"locs": sub}}


def coconut_runs(args, d, s, emb) -> dict[str, dict[str, list]]:
    """{"old": {row: [(err, hit) per seed]}, "new": {...}} of the region-incremental protocol."""
    import torch

    from geoloc.model import GEOCELL
    from geoloc.model.heads import ClassificationHeads
    from geoloc.train.heads import fit_heads, fuse_views
    from representation.losses import NSPTLoss
    from representation.memory import RehearsalBuffer

    cont = d["locs"].frame["continent"].astype(str).to_numpy()
    old = np.isin(cont, OLD_REGIONS)
    tr_old, tr_new = d["tr"][old[d["tr"]]], d["tr"][~old[d["tr"]]]
    te_old, te_new = d["te"][old[d["te"]]], d["te"][~old[d["te"]]]
    lat, lon, cent = d["locs"].lat, d["locs"].lon, s["cells"].centroids
    weights = dict(s["preset"].loss_weights)
    views = {"old": test_view(d, te_old), "new": test_view(d, te_new)}
    out: dict[str, dict[str, list]] = {"old": {}, "new": {}}
    x_all = torch.from_numpy(emb).float()
    nspt = NSPTLoss(temperature=args.nspt_tau)

    def fit(heads, rows, seed, extra=None, epochs=args.epochs):
        fit_heads(heads, emb, lat, lon, s["labels"], cent, epochs=epochs, lr=args.lr, tau_km=s["preset"].tau_km,
                  weights=weights, seed=seed, rows=rows, extra_loss=extra)
        heads.eval()

    for seed in args.seeds:
        f = args.work / "pred" / f"coconut-s{seed}.npz"
        if not f.is_file():
            torch.manual_seed(seed)
            stage1 = ClassificationHeads(emb.shape[-1], s["sizes"], hidden=args.hidden)
            fit(stage1, tr_old, seed)
            buf = RehearsalBuffer(args.buffer, seed=seed)
            buf.add(torch.from_numpy(tr_old).unsqueeze(1), torch.from_numpy(s["labels"][GEOCELL][tr_old]))
            buffer_rows = buf.items()[0][:, 0].numpy()
            is_buffer = torch.zeros(len(emb), dtype=torch.bool)
            is_buffer[torch.from_numpy(buffer_rows)] = True
            teacher = copy.deepcopy(stage1).requires_grad_(False)
            cells_t = torch.from_numpy(s["labels"][GEOCELL])
            preds = {}
            for name in ("full", "replay", "coconut"):
                heads = copy.deepcopy(stage1).train()
                rows = tr_new if name == "full" else np.concatenate([tr_new, buffer_rows])
                extra = None
                if name == "coconut":
                    def extra(out, j, heads=heads, is_buffer=is_buffer, teacher=teacher, cells_t=cells_t):
                        jb = j[is_buffer[j]]
                        if jb.numel() < 2:
                            return torch.zeros(())
                        fused = fuse_views(x_all[jb])
                        return args.nspt_weight * nspt(heads.trunk(fused), teacher.trunk(fused), cells_t[jb])
                fit(heads, rows, seed, extra, epochs=args.stage2_epochs)
                preds[name] = cent[cell_probs(heads, emb[d["te"]], False).argmax(1)]
            torch.manual_seed(seed)
            joint = ClassificationHeads(emb.shape[-1], s["sizes"], hidden=args.hidden)
            fit(joint, d["tr"], seed)
            preds["joint"] = cent[cell_probs(joint, emb[d["te"]], False).argmax(1)]
            f.parent.mkdir(parents=True, exist_ok=True)
            np.savez(f, **preds)
        z = np.load(f)
        pos = {r: i for i, r in enumerate(d["te"])}
        for part, rows in (("old", te_old), ("new", te_new)):
            idx = np.array([pos[r] for r in rows])
            for name in z.files:
                out[part].setdefault(name, []).append(ba.per_location(z[name][idx], views[part]))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--synth", type=Path, required=True)
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--tower-steps", type=int, default=1000)
    ap.add_argument("--tower-bundle", type=Path, help="embed with this trained bundle's (frozen) tower instead of "
                    "training one (e.g. geoloc/models/synthworld-tiny: trained on seed-0 scenes, disjoint from seed 5)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--stage2-epochs", type=int, default=15)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--mi-weight", type=float, default=1.0)
    ap.add_argument("--buffer", type=int, default=200, help="COCONUT / replay buffer size (old locations)")
    ap.add_argument("--nspt-weight", type=float, default=1.0)
    ap.add_argument("--nspt-tau", type=float, default=0.1)
    ap.add_argument("--boot", type=int, default=500)
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS))
    ap.add_argument("--no-coconut", action="store_true")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path)
    ap.add_argument("--progress", action="store_true")
    ap.add_argument("--table-only", action="store_true", help="no training: the table of the variants whose "
                    "predictions for every seed are already in --work (an interrupted run)")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    args.work.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    print(f"[machine] {machine_summary()}", flush=True)
    d = load(args)
    if args.table_only:
        args.variants = [v for v in args.variants
                         if all((args.work / "pred" / f"{v}-s{seed}.npy").is_file() for seed in args.seeds)]
        args.no_coconut = args.no_coconut or not all((args.work / "pred" / f"coconut-s{seed}.npz").is_file()
                                                     for seed in args.seeds)
        emb = np.load(args.work / "emb.npy")
        s = None if args.no_coconut else setup(args, d, emb)  # COCONUT's table needs the cells
    else:
        emb = tower_embeddings(args, d)
        s = setup(args, d, emb)
    ba.ROWS.clear()
    ba.ROWS.update(LABELS)
    runs: dict[str, list] = {}
    dtest = test_view(d, d["te"])
    for variant in args.variants:
        key = "full" if variant == "default" else variant
        runs[key] = [ba.per_location(head_run(variant, seed, args, d, s, emb), dtest) for seed in args.seeds]
        print(f"[heads] {variant} done ({time.time() - t0:.0f} s)", flush=True)
    text = [f"Setup: {len(d['tr'])} train / {len(d['va'])} val / {len(d['te'])} test SynthWorld locations "
            f"({args.synth}), 4 views at 64 px; frozen tower: "
            + (f"{args.tower_bundle}" if args.tower_bundle else f"geoloc-tiny-rn trained {args.tower_steps} steps end to "
               "end (preset synthworld-tiny)") + (f"; {len(s['cells'])} semantic cells" if s else "") + f"; heads {args.epochs} epochs x "
            f"seeds {args.seeds}; {args.boot} bootstrap resamples.", "", ba.markdown(ba.bootstrap(runs, args.boot)),
            "", ba.paired_table(ba.bootstrap(runs, args.boot))]
    if not args.no_coconut:
        cc = coconut_runs(args, d, s, emb)
        ba.ROWS["full"] = "fine-tuning on the new regions (baseline)"
        for part in ("old", "new"):
            st = ba.bootstrap(cc[part], args.boot)
            text += ["", f"COCONUT, {part}-region test locations ({'Europe, Asia, Africa' if part == 'old' else 'the Americas, Oceania'}; "
                         f"top-1 cell, no refinement; buffer {args.buffer}):", "", ba.markdown(st), "", ba.paired_table(st)]
    text += ["", f"Machine: {machine_summary()}; {time.time() - t0:.0f} s wall."]
    out = "\n".join(text)
    print(out)
    if args.out:
        args.out.write_text(out + "\n")
    (args.work / "done.json").write_text(json.dumps({"seconds": time.time() - t0}))


if __name__ == "__main__":
    sys.exit(main())
