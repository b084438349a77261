"""Is SynthWorld a real learning problem? A small CNN from scratch, baselines and cue ablations.

Protocol (all deterministic by ``--seed``):

1. Sample locations, keep the ``--countries`` most frequent countries and draw a balanced
   set: up to ``--train-per-country`` scenes from the ``train`` split and
   ``--test-per-country`` from the ``test`` split of each (majority baseline ~ 1/countries).
2. Render every scene as four ``--size`` px views (all cue families on).
3. Train a small CNN (shared view encoder, mean over the four views, 128-d embedding) from
   scratch with three heads: country, admin-1 and town (towns with >= 2 training scenes),
   for ``--epochs`` epochs on the CPU (``--train-views`` random views per step) (the time is printed; the budget is 15 CPU minutes).
4. Measure on held-out scenes: country accuracy of the classifier; kNN retrieval over the
   training embeddings (nearest training scene's coordinates): accuracy within 25 km and
   within the country.
5. Baselines: majority class; a linear probe (logistic regression) on raw colour
   histograms (8x8x8 RGB bins averaged over the views).
6. Cue ablations at test time (``--off`` instead switches families off for training and
   testing alike: a train-time ablation, compared with a run without it): the test scenes re-rendered with ``motif`` off (-> 25 km
   retrieval should fall) and with ``road`` + ``furniture`` off (-> country accuracy should
   fall), plus ``signs`` and ``buildings``+``palette`` off for reference.

Run:  .venv/bin/python benchmarks/bench_synth_learnability.py  [--size 64 --epochs 12 ...]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import time

import numpy as np
import pandas as pd
import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm import tqdm

from geoloc.geo.distance import haversine_km
from geoloc.synth.locations import sample_locations
from geoloc.synth.render import HEADINGS, render_view
from geoloc.synth.scene import CUE_FAMILIES, build_scene

ABLATIONS = {
    "full": (),
    "-motif": ("motif",),
    "-road-furniture": ("road", "furniture"),
    "-signs": ("signs",),
    "-buildings-palette": ("buildings", "palette"),
}


def _render_one(task):
    attrs, size, off = task
    cues = frozenset(CUE_FAMILIES) - set(off)
    scene = build_scene(attrs, cues)
    return np.stack([render_view(scene, h, size) for h in HEADINGS])


def render_all(rows: list[dict], size: int, off: tuple[str, ...], workers: int, desc: str) -> np.ndarray:
    """uint8 [N, 4, size, size, 3]."""
    tasks = [(r, size, off) for r in rows]
    if workers <= 1:
        out = [_render_one(t) for t in tqdm(tasks, desc=desc, unit="scene")]
    else:
        with mp.get_context("fork").Pool(workers) as pool:
            out = list(tqdm(pool.imap(_render_one, tasks, chunksize=16), total=len(tasks), desc=desc,
                            unit="scene"))
    return np.stack(out)


class ViewNet(nn.Module):
    """Shared conv encoder per view -> mean over views -> 128-d embedding -> heads."""

    def __init__(self, n_country: int, n_admin1: int, n_town: int, width: int = 32):
        super().__init__()
        w = width

        def block(i, o, s):
            return nn.Sequential(nn.Conv2d(i, o, 3, s, 1, bias=False), nn.BatchNorm2d(o), nn.ReLU(inplace=True))

        self.enc = nn.Sequential(
            nn.Conv2d(3, w, 5, 2, 2, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True),
            block(w, 2 * w, 2), block(2 * w, 3 * w, 2), block(3 * w, 4 * w, 2),
        )
        self.proj = nn.Linear(8 * w, 128)
        self.country = nn.Linear(128, n_country)
        self.admin1 = nn.Linear(128, n_admin1)
        self.town = nn.Linear(128, n_town)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        b, v = x.shape[:2]
        h = self.enc(x.flatten(0, 1))
        h = torch.cat([h.mean((2, 3)), h.amax((2, 3))], 1)
        return F.relu(self.proj(h.view(b, v, -1).mean(1)))

    def forward(self, x):
        e = self.embed(x)
        return e, self.country(e), self.admin1(e), self.town(e)


def to_tensor(imgs: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(imgs).permute(0, 1, 4, 2, 3).float().div_(127.5).sub_(1.0)


def codes(series: pd.Series, min_count: int = 1) -> tuple[np.ndarray, int]:
    vc = series.value_counts()
    keep = vc.index[vc >= min_count]
    lut = {k: i for i, k in enumerate(sorted(keep))}  # labels below min_count -> -100 (ignored)
    return np.array([lut.get(k, -100) for k in series]), len(lut)


def colour_histograms(imgs: np.ndarray, bins: int = 8) -> np.ndarray:
    """[N, bins^3] joint RGB histograms averaged over the views (fractions)."""
    q = (imgs // (256 // bins)).astype(np.int64)
    idx = (q[..., 0] * bins + q[..., 1]) * bins + q[..., 2]
    idx = idx.reshape(imgs.shape[0], -1)
    out = np.zeros((imgs.shape[0], bins**3), np.float32)
    for i in range(imgs.shape[0]):
        out[i] = np.bincount(idx[i], minlength=bins**3) / idx.shape[1]
    return out


def _cosine_nn(q: np.ndarray, g: np.ndarray) -> np.ndarray:
    qn = q / np.linalg.norm(q, axis=1, keepdims=True).clip(1e-9)
    gn = g / np.linalg.norm(g, axis=1, keepdims=True).clip(1e-9)
    return (qn @ gn.T).argmax(1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pool", type=int, default=40000, help="locations sampled to choose from")
    ap.add_argument("--countries", type=int, default=15)
    ap.add_argument("--train-per-country", type=int, default=100)
    ap.add_argument("--test-per-country", type=int, default=30)
    ap.add_argument("--size", type=int, default=48)
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--width", type=int, default=16)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--train-views", type=int, default=2, help="random views per training step (1..4)")
    ap.add_argument("--town-weight", type=float, default=1.0, help="weight of the town head's loss")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--off", default="", help="cue families switched off everywhere (train and test), "
                    "e.g. 'motif' or 'road,furniture': a train-time ablation")
    ap.add_argument("--out", default="", help="write the results as JSON here")
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    t_all = time.time()

    locs = sample_locations(args.pool, args.seed)
    locs = locs[locs["adm0_a3"] != "none"]
    top = locs["adm0_a3"].value_counts().index[: args.countries]
    rng = np.random.default_rng(args.seed)

    def take(split: str, k: int) -> pd.DataFrame:
        parts = []
        for c in top:
            sub = locs[(locs["adm0_a3"] == c) & (locs["split"] == split)]
            parts.append(sub.iloc[np.sort(rng.permutation(len(sub))[:k])])
        return pd.concat(parts).reset_index(drop=True)

    train, test = take("train", args.train_per_country), take("test", args.test_per_country)
    print(f"{len(train)} train / {len(test)} test scenes, {len(top)} countries, size {args.size}px")
    tr_rows, te_rows = train.to_dict("records"), test.to_dict("records")
    always_off = tuple(c for c in args.off.split(",") if c)
    ablations = ABLATIONS if not always_off else {"full": ()}
    t0 = time.time()
    x_tr = render_all(tr_rows, args.size, always_off, args.workers, "render train")
    x_te = {name: render_all(te_rows, args.size, off + always_off, args.workers, f"render test {name}")
            for name, off in ablations.items()}
    t_render = time.time() - t0

    y_country, n_country = codes(pd.concat([train["adm0_a3"], test["adm0_a3"]]))
    y_admin1, n_admin1 = codes(pd.concat([train["adm1_code"], test["adm1_code"]]))
    # The town head learns the motif's unit (admin-2 district) seen at least twice; others ignored.
    y_town, n_town = codes(train["district_id"], min_count=2)
    n_tr = len(train)
    yc_tr, ya_tr, yt_tr = (torch.from_numpy(a) for a in (y_country[:n_tr], y_admin1[:n_tr], y_town))
    yc_te = y_country[n_tr:]

    model = ViewNet(n_country, n_admin1, n_town, args.width)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4)
    steps = args.epochs * ((n_tr + args.batch - 1) // args.batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps, pct_start=0.15)
    xt = to_tensor(x_tr)
    cpu0 = time.process_time()
    t0 = time.time()
    for ep in range(args.epochs):
        model.train()
        perm = torch.randperm(n_tr)
        tot = 0.0
        for i in range(0, n_tr, args.batch):
            b = perm[i : i + args.batch]
            # A random subset of the views per step (cheaper; all four views at test time).
            views = torch.randperm(4)[: args.train_views]
            _, lc, la, lt = model(xt[b][:, views])
            loss = F.cross_entropy(lc, yc_tr[b]) + 0.5 * F.cross_entropy(la, ya_tr[b], ignore_index=-100)
            if (yt_tr[b] >= 0).any():
                loss = loss + args.town_weight * F.cross_entropy(lt, yt_tr[b], ignore_index=-100)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            tot += float(loss.detach()) * len(b)
        print(f"epoch {ep + 1}/{args.epochs} loss {tot / n_tr:.3f} ({time.time() - t0:.0f}s)")
    t_train, cpu_train = time.time() - t0, time.process_time() - cpu0

    @torch.no_grad()
    def infer(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        model.eval()
        es, ps = [], []
        for i in range(0, len(x), 128):
            e, lc, _, _ = model(to_tensor(x[i : i + 128]))
            es.append(F.normalize(e, dim=1).numpy())
            ps.append(lc.argmax(1).numpy())
        return np.concatenate(es), np.concatenate(ps)

    e_tr, _ = infer(x_tr)
    h_train = colour_histograms(x_tr)
    results: dict = {"off_everywhere": list(always_off), "n_train": n_tr, "n_test": len(test), "countries": len(top), "size": args.size,
                     "epochs": args.epochs, "train_wall_s": round(t_train, 1),
                     "train_cpu_s": round(cpu_train, 1), "render_wall_s": round(t_render, 1)}
    majority = np.bincount(y_country[:n_tr]).argmax()
    results["majority_country_acc"] = float((yc_te == majority).mean())
    for name, x in x_te.items():
        e_te, pred = infer(x)
        nn_idx = (e_te @ e_tr.T).argmax(1)
        d = haversine_km(test["lat"].to_numpy(), test["lon"].to_numpy(), train["lat"].to_numpy()[nn_idx],
                         train["lon"].to_numpy()[nn_idx])
        results[name] = {
            "country_acc": float((pred == yc_te).mean()),
            "knn_country_acc": float((train["adm0_a3"].to_numpy()[nn_idx] == test["adm0_a3"].to_numpy()).mean()),
            "knn_acc_25km": float((d <= 25).mean()),
            "knn_acc_200km": float((d <= 200).mean()),
            "knn_median_km": float(np.median(d)),
            "knn_same_town": float((train["district_id"].to_numpy()[nn_idx] == test["district_id"].to_numpy()).mean()),
        }
        # The same retrieval on raw colour histograms (no learning): does the cue carry
        # town-level information at all?
        h_q = colour_histograms(x)
        nn_h = _cosine_nn(h_q, h_train)
        dh = haversine_km(test["lat"].to_numpy(), test["lon"].to_numpy(), train["lat"].to_numpy()[nn_h],
                          train["lon"].to_numpy()[nn_h])
        results[name]["hist_knn_acc_25km"] = float((dh <= 25).mean())
        results[name]["hist_knn_same_town"] = float(
            (train["district_id"].to_numpy()[nn_h] == test["district_id"].to_numpy()).mean())
    # Upper bound for 25 km: a test scene whose town occurs in the training set.
    results["test_town_seen_in_train"] = float(test["district_id"].isin(train["district_id"]).mean())
    # Oracle: nearest training scene by true coordinates within 25 km at all.
    from geoloc.geo.distance import pairwise_haversine_km

    dmin = pairwise_haversine_km(test["lat"].to_numpy(), test["lon"].to_numpy(), train["lat"].to_numpy(),
                                 train["lon"].to_numpy()).min(1)
    results["oracle_acc_25km"] = float((np.asarray(dmin) <= 25).mean())

    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    h_tr, h_te = h_train, colour_histograms(x_te["full"])
    sc = StandardScaler().fit(h_tr)
    probe = LogisticRegression(max_iter=2000, C=0.5).fit(sc.transform(h_tr), y_country[:n_tr])
    results["colour_hist_probe_country_acc"] = float((probe.predict(sc.transform(h_te)) == yc_te).mean())
    results["total_wall_s"] = round(time.time() - t_all, 1)

    print()
    print(f"{'test set':22s} {'country':>8s} {'kNN country':>12s} {'kNN 25km':>9s} {'kNN 200km':>10s} "
          f"{'median km':>10s} {'same town':>9s} {'hist 25km':>9s} {'hist town':>9s}")
    for name in ablations:
        r = results[name]
        print(f"{name:22s} {r['country_acc']:8.3f} {r['knn_country_acc']:12.3f} {r['knn_acc_25km']:9.3f} "
              f"{r['knn_acc_200km']:10.3f} {r['knn_median_km']:10.0f} {r['knn_same_town']:9.3f} "
              f"{r['hist_knn_acc_25km']:9.3f} {r['hist_knn_same_town']:9.3f}")
    print(f"majority-class country accuracy     {results['majority_country_acc']:.3f}")
    print(f"colour-histogram linear probe       {results['colour_hist_probe_country_acc']:.3f}")
    print(f"test districts seen in training     {results['test_town_seen_in_train']:.3f}")
    print(f"oracle 25 km (any train scene near) {results['oracle_acc_25km']:.3f}")
    print(f"training: {t_train:.0f}s wall, {cpu_train:.0f}s CPU (all threads); rendering {t_render:.0f}s wall")
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as fh:
            json.dump(results, fh, indent=2)


if __name__ == "__main__":
    main()
