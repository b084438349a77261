"""Language-model options on SynthWorld (issue 16), on cached embeddings of the default model's tower.

Stages (cached under ``--work``): the SynthWorld sample (``geoloc synth generate``), per-view
embeddings of its scenes by the shipped default bundle's tower, the bundle's geocells; then, for
``--seeds`` seeds, on the manifest's fixed train / val / test split:

* **task hinting**: a shared hidden block + geocell head, with the country head as the hint at
  weights lambda in {0 (no hint), 0.5, 1} (:func:`geoloc.train.heads.fit_heads`);
* **UGR**: the generative geolocator (continent > country > admin-1 > cell tokens) decoded under
  the trie of valid ids (beam 5) vs freely (greedy), beside the classifier (lambda 0.5);
* **UDR**: re-ranking the 16 location clusters (OPTICS prototypes of half the training rows)
  retrieved by cosine for each query, with a listwise LambdaMRR ranker vs an in-batch-CE (top-1)
  ranker vs the cosine order; trained on the other half;
* **contrastive search**: a location-caption decoder, greedy vs contrastive search (alpha 0.6, k 4).

Run: ``python benchmarks/bench_lm_geo.py --synth /tmp/mb-synth --work /tmp/mb-lmgeo --seeds 3``
(``geoloc synth generate --n 4000 --size 64 --views 4 --seed 6 --out /tmp/mb-synth`` first).
Prints Markdown tables: mean over seeds with a 95 % t interval (half-width).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import torch
from machine import machine_summary

T95 = {2: 12.706, 3: 4.303, 4: 3.182, 5: 2.776}


def embeddings(args) -> dict[str, Any]:
    from geoloc.bundle import load_bundle
    from geoloc.train.data import LocationImages, load_locations
    from geoloc.train.embed import embed_dataset, model_transform

    bundle = load_bundle(args.bundle)
    locs = load_locations(args.synth / "manifest.parquet", root=args.synth, views=4)
    f = args.work / "emb.npz"
    # the cache is valid for one bundle's files only (a retrained default model has another tower)
    key = "|".join(f"{p.name}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in sorted(args.bundle.iterdir())
                   if p.is_file())
    if not f.is_file() or str(np.load(f).get("bundle_key", "")) != key:
        t = time.perf_counter()
        images = LocationImages(locs, model_transform(bundle.model), progress=False)
        emb, _ = embed_dataset(bundle.model, images, batch_size=128, device="cpu", progress=False, per_view=True)
        np.savez(f, emb=emb, bundle_key=np.array(key))
        (args.work / "protos.npz").unlink(missing_ok=True)
        print(f"[embed] {emb.shape} in {time.perf_counter() - t:.0f} s", flush=True)
    emb = np.load(f)["emb"]
    frame = locs.frame.reset_index(drop=True)
    cells = np.asarray(bundle.geocells.assign(locs.lat, locs.lon), dtype=np.int64)
    split = frame["split"].astype(str).to_numpy()
    return {"bundle": bundle, "frame": frame, "lat": locs.lat, "lon": locs.lon, "emb": emb, "cells": cells,
            "centroids": np.asarray(bundle.geocells.centroids), "tower": bundle.config["model"]["tower"],
            "train": np.flatnonzero(split == "train"), "val": np.flatnonzero(split == "val"),
            "test": np.flatnonzero(split == "test")}


def metrics(d, rows, plat, plon, pcountry=None) -> dict[str, float]:
    from geoloc.eval.metrics import geolocation_metrics

    m = geolocation_metrics(plat, plon, d["lat"][rows], d["lon"][rows], pred_country=pcountry,
                            true_country=None if pcountry is None else d["frame"]["adm0_a3"].to_numpy()[rows])
    keep = ("median_km", "acc@25km", "acc@200km", "acc@750km", "geoguessr_score", "country_acc")
    return {k: float(m[k]) for k in keep if k in m}


def country_of_cells(d) -> np.ndarray:
    """Majority training country of each geocell (for the classifier's country prediction)."""
    tr = d["train"]
    out = np.array(["none"] * len(d["centroids"]), dtype=object)
    cc = d["frame"]["adm0_a3"].to_numpy()
    for c in np.unique(d["cells"][tr]):
        vals, counts = np.unique(cc[tr][d["cells"][tr] == c], return_counts=True)
        out[c] = vals[counts.argmax()]
    return out


def heads_run(d, seed: int, hint_weight: float, args) -> dict[str, float]:
    from geoloc.model import GEOCELL
    from geoloc.model.heads import ClassificationHeads
    from geoloc.train.data import build_vocab, encode_labels
    from geoloc.train.heads import fit_heads

    tr, te = d["train"], d["test"]
    labels = {GEOCELL: d["cells"]}
    sizes = {GEOCELL: len(d["centroids"])}
    if hint_weight > 0:
        vocab = build_vocab(d["frame"].iloc[tr], "country")
        labels["country"] = encode_labels(d["frame"], "country", vocab)
        sizes["country"] = len(vocab)
    torch.manual_seed(seed)
    heads = ClassificationHeads(d["emb"].shape[-1], sizes, hidden=256)
    fit_heads(heads, d["emb"][tr], d["lat"][tr], d["lon"][tr], {k: v[tr] for k, v in labels.items()}, d["centroids"],
              epochs=args.head_epochs, lr=3e-3, tau_km=75.0,
              weights={"country": hint_weight} if hint_weight > 0 else None, seed=seed)
    with torch.no_grad():
        p = heads(torch.from_numpy(d["emb"][te].mean(1)).float())[GEOCELL].argmax(1).numpy()
    c = d["centroids"][p]
    return metrics(d, te, c[:, 0], c[:, 1], country_of_cells(d)[p])


def ugr_run(d, seed: int, args) -> dict[str, dict[str, float]]:
    from geoloc.train.generative import GenerativeGeolocator, hierarchy_codes

    tr, te = d["train"], d["test"]
    codes, vocabs = hierarchy_codes(d["frame"].iloc[tr], d["cells"][tr])
    sizes = [len(v) for v in vocabs[:3]] + [len(d["centroids"])]
    gen = GenerativeGeolocator(sizes).fit(d["emb"][tr], codes, steps=args.gen_steps, seed=seed)
    out = {}
    for name, constrained in (("UGR trie-constrained (beam 5)", True), ("free decoding (greedy)", False)):
        t = time.perf_counter()
        pc = gen.predict(d["emb"][te], constrained=constrained)
        valid = np.array([bool((r >= 0).all()) and gen.ids.encode(r.tolist()) in gen.ids.trie for r in pc])
        cell = np.where(pc[:, 3] >= 0, pc[:, 3], 0)
        c = d["centroids"][cell]
        country = np.array([vocabs[1][i] if i >= 0 else "none" for i in pc[:, 1]], dtype=object)
        m = metrics(d, te, c[:, 0], c[:, 1], country)
        m["valid_id"] = float(valid.mean())
        m["decode_s"] = time.perf_counter() - t
        out[name] = m
    return out


def udr_run(d, seed: int, args) -> dict[str, dict[str, float]]:
    from geoloc.geo.distance import haversine_km
    from geoloc.refine import build_prototypes
    from geoloc.train.generative import candidate_clusters, fit_cluster_ranker, rerank

    rng = np.random.default_rng(0)  # the bank / ranker-training halves are fixed across seeds
    tr = rng.permutation(d["train"])
    bank, fit_rows = tr[: tr.size // 2], tr[tr.size // 2:]
    fused = d["emb"].mean(1)
    f = args.work / "protos.npz"
    if f.is_file():
        z = np.load(f)
        pe, pc = z["emb"], z["centroid"]
    else:
        protos = build_prototypes(d["cells"][bank], d["lat"][bank], d["lon"][bank], fused[bank],
                                  len(d["centroids"]), progress=False)
        pe, pc = protos.embeddings, protos.centroid
        np.savez(f, emb=pe, centroid=pc)
    k = args.clusters
    cand_fit = candidate_clusters(fused[fit_rows], pe, k)
    km_fit = haversine_km(d["lat"][fit_rows, None], d["lon"][fit_rows, None], pc[cand_fit, 0], pc[cand_fit, 1])
    te = d["test"]
    cand_te = candidate_clusters(fused[te], pe, k)
    out = {}
    for name, listwise in (("cosine order (no ranker)", None), ("in-batch CE, top-1 positive (DPR)", False),
                           ("UDR: LambdaMRR + in-batch CE", True)):
        ranker = None if listwise is None else fit_cluster_ranker(fused[fit_rows], cand_fit, km_fit, pe,
                                                                   listwise=listwise, seed=seed,
                                                                   steps=args.ranker_steps)
        best = rerank(ranker, fused[te], cand_te, pe)
        out[name] = metrics(d, te, pc[best, 0], pc[best, 1])
    oracle = haversine_km(d["lat"][te, None], d["lon"][te, None], pc[cand_te, 0], pc[cand_te, 1]).argmin(1)
    ob = cand_te[np.arange(te.size), oracle]
    out[f"oracle (best of {k})"] = metrics(d, te, pc[ob, 0], pc[ob, 1])
    return out


def caption_run(d, seed: int, args) -> dict[str, dict[str, float]]:
    from geoloc.train.captions import location_caption
    from geoloc.train.generative import CaptionDecoder

    tr, te = d["train"], d["test"][: args.caption_test]
    rng = np.random.default_rng(seed)
    fr = d["frame"]
    caps = [location_caption(fr.iloc[i].to_dict(), rng) for i in tr]
    dec = CaptionDecoder().fit(d["emb"][tr], caps, steps=args.caption_steps, seed=seed)
    out = {}
    for name, kw in (("greedy", {"method": "greedy"}), ("contrastive search (alpha 0.6, k 4)",
                                                        {"method": "contrastive", "alpha": 0.6, "k": 4})):
        gen = dec.generate(d["emb"][te], **kw)
        words = [g.split() for g in gen]
        rep2 = np.mean([1 - len(set(pairwise(w))) / max(1, len(w) - 1) for w in words])
        grams = [b for w in words for b in pairwise(w)]
        out[name] = {"country_named": float(np.mean([str(fr.iloc[i]["country"]) in g for i, g in zip(te, gen, strict=True)])),
                     "admin1_named": float(np.mean([str(fr.iloc[i]["admin1"]) in g for i, g in zip(te, gen, strict=True)])),
                     "rep-2": float(rep2), "distinct-2": len(set(grams)) / max(1, len(grams)),
                     "words": float(np.mean([len(w) for w in words]))}
    return out


def summarise(runs: list[dict[str, float]]) -> dict[str, tuple[float, float]]:
    out = {}
    for k in runs[0]:
        v = np.array([r[k] for r in runs], dtype=np.float64)
        half = T95.get(len(v), 1.96) * v.std(ddof=1) / math.sqrt(len(v)) if len(v) > 1 else float("nan")
        out[k] = (float(v.mean()), float(half))
    return out


def table(title: str, rows: dict[str, list[dict[str, float]]]) -> str:
    names = list(rows)
    keys = list(rows[names[0]][0])
    lines = [f"\n**{title}**\n", "| variant | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
    for n in names:
        s = summarise(rows[n])
        cells = []
        for k in keys:
            m, h = s[k]
            pct = k.startswith("acc") or k.endswith("_acc") or k in ("valid_id", "country_named", "admin1_named")
            cells.append(f"{100 * m:.1f} ± {100 * h:.1f}" if pct else f"{m:.3g} ± {h:.2g}")
        lines.append(f"| {n} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--synth", type=Path, default=Path("/tmp/mb-synth"))
    ap.add_argument("--work", type=Path, default=Path("/tmp/mb-lmgeo"))
    ap.add_argument("--bundle", type=Path, default=Path(__file__).resolve().parents[1] / "geoloc/models/synthworld-tiny")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--only", default="hint,ugr,udr,caption")
    ap.add_argument("--head-epochs", type=int, default=30)
    ap.add_argument("--gen-steps", type=int, default=1500)
    ap.add_argument("--ranker-steps", type=int, default=600)
    ap.add_argument("--clusters", type=int, default=16)
    ap.add_argument("--caption-steps", type=int, default=1200)
    ap.add_argument("--caption-test", type=int, default=200)
    args = ap.parse_args()
    if not (args.synth / "manifest.parquet").is_file():
        raise SystemExit(f"no SynthWorld sample at {args.synth}: run `geoloc synth generate --n 4000 --size 64 "
                         f"--views 4 --seed 6 --out {args.synth}` first")
    args.work.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    print(machine_summary(), flush=True)
    d = embeddings(args)
    print(f"tower {d['tower']}: train {d['train'].size}, val {d['val'].size}, test {d['test'].size} locations, "
          f"{len(d['centroids'])} geocells (the bundle's)", flush=True)
    only = set(args.only.split(","))
    results: dict[str, dict[str, list[dict[str, float]]]] = {}
    for seed in range(args.seeds):
        t = time.perf_counter()
        if "hint" in only:
            for w in (0.0, 0.5, 1.0):
                name = "geocell head only (no hint)" if w == 0 else f"+ country hint, lambda {w}"
                results.setdefault("Task hinting (shared 256-d block)", {}).setdefault(name, []).append(
                    heads_run(d, seed, w, args))
        if "ugr" in only:
            cls = heads_run(d, seed, 0.5, args)
            results.setdefault("UGR generative geolocator vs classifier", {}).setdefault(
                "classifier (geocell + country 0.5)", []).append({**cls, "valid_id": 1.0, "decode_s": 0.0})
            for k, v in ugr_run(d, seed, args).items():
                results["UGR generative geolocator vs classifier"].setdefault(k, []).append(v)
        if "udr" in only:
            for k, v in udr_run(d, seed, args).items():
                results.setdefault(f"UDR re-ranking of {args.clusters} retrieved location clusters", {}).setdefault(
                    k, []).append(v)
        if "caption" in only:
            for k, v in caption_run(d, seed, args).items():
                results.setdefault("Location captions: greedy vs contrastive search", {}).setdefault(k, []).append(v)
        print(f"[seed {seed}] {time.perf_counter() - t:.0f} s", flush=True)
        (args.work / "results.json").write_text(json.dumps(results, indent=1))
    for title, rows in results.items():
        print(table(title, rows))
    print("\n" + machine_summary())


if __name__ == "__main__":
    main()
