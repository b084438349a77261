"""`geoloc train` end to end under torchrun with 2 gloo processes on the CPU vs 1 process (issue 18).

Generates a small SynthWorld set (train + held-out test, rendered once, not timed), then runs the
same pipeline (caption pretraining -> fine-tuning -> prototypes -> held-out evaluation -> bundle) as
``python -m geoloc.train.cli preset synthworld-tiny --manifest ...`` in one process and under
``torchrun --standalone --nproc-per-node 2``, one after the other, each with one torch thread per
process. Prints wall seconds, the weight difference of the two bundles and both cards' metrics.
The global batch is the same in both (each of the 2 ranks holds half), so the runs train the same
recipe and should agree up to float summation order.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/bench_ddp.py --locations 96 --finetune-steps 20

On a machine with fewer than 2 free cores the 2-process run cannot be faster; the figure to read
there is "same result" (and the overhead of the process group and the rank-0 stages).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from machine import machine_summary  # noqa: E402


def _data(n: int, base: Path) -> tuple[Path, Path]:
    """SynthWorld train (n locations) and test (n // 4) manifests, 4 views x 64 px."""
    from geoloc.synth.generate import generate_dataset

    train = generate_dataset(n, base / "train", size=64, views=4, seed=1, progress=False)
    test = generate_dataset(max(8, n // 4), base / "test", size=64, views=4, seed=2, progress=False)
    for frame, folder in ((train, base / "train"), (test, base / "test")):
        frame = frame.copy()
        frame["path"] = [str((folder / p).resolve()) if not os.path.isabs(p) else p for p in frame["path"]]
        frame.to_csv(folder / "abs.csv", index=False)
    return base / "train" / "abs.csv", base / "test" / "abs.csv"


def _run(procs: int, train: Path, test: Path, out: Path, sets: dict) -> float:
    args = ["-m", "geoloc.train.cli", "preset", "synthworld-tiny", "--manifest", str(train), "--eval-manifest",
            str(test), "--out", str(out), "--work-dir", str(out.parent / (out.name + ".work")), "--quiet"]
    args += [a for k, v in sets.items() for a in ("--set", f"{k}={json.dumps(v)}")]
    cmd = [sys.executable, *(["-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(procs)]
                             if procs > 1 else []), *args]
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "NO_COLOR": "1"}
    t = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{procs} process(es) failed:\n{proc.stderr[-3000:]}")
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--locations", type=int, default=96, help="SynthWorld training locations (4 views x 64 px)")
    ap.add_argument("--pretrain-steps", type=int, default=4)
    ap.add_argument("--finetune-steps", type=int, default=20)
    ap.add_argument("--batch", type=int, default=32, help="GLOBAL batch (locations / caption pairs per step)")
    args = ap.parse_args()

    import torch
    from safetensors.torch import load_file

    from geoloc.bundle import load_bundle

    # the settings of tests/train/test_ddp_pipeline.py (all views every step: random view subsets would
    # be drawn per rank, and 2 processes could not train what 1 does)
    sets = {"tower": "geoloc-tiny-vit", "embedding": "tokens_mean", "train_views": None, "cells": "grid", "grid_deg": 45.0, "pretrain_steps": args.pretrain_steps,
            "pretrain_batch_size": args.batch, "finetune_steps": args.finetune_steps, "batch_size": args.batch,
            "warmup_steps": 1, "checkpoint_every": 10_000, "eval_batch_size": 32, "device": "cpu"}
    print(f"# bench_ddp: {machine_summary()}")
    print(f"load average at start: {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        train, test = _data(args.locations, base)
        secs, loads = {}, {}
        for procs in (1, 2):
            secs[procs] = _run(procs, train, test, base / f"p{procs}", sets)
            loads[procs] = os.getloadavg()[0]
        w1, w2 = (load_file(str(base / f"p{p}" / "model.safetensors")) for p in (1, 2))
        diff = torch.cat([(w1[k].double() - w2[k].double()).abs().flatten() for k in w1])
        m1, m2 = (load_bundle(base / f"p{p}").config["card"]["metrics"] for p in (1, 2))
    print(f"\n{args.locations} locations x 4 views (64 px), pretrain {args.pretrain_steps} + fine-tune "
          f"{args.finetune_steps} steps, global batch {args.batch}, 1 torch thread per process\n")
    print("| processes | wall s | load average (1 min) at the end |")
    print("|---|---|---|")
    for p in (1, 2):
        print(f"| {p} | {secs[p]:.1f} | {loads[p]:.2f} |")
    print(f"\nweights, 2 processes vs 1: mean |dw| {float(diff.mean()):.2e}, max |dw| {float(diff.max()):.2e} "
          f"(lr {2e-3:g}); ratio 1p/2p wall {secs[1] / secs[2]:.2f}")
    keys = [k for k in m1 if isinstance(m1[k], (int, float))][:8]
    print("\n| metric | 1 process | 2 processes |")
    print("|---|---|---|")
    for k in keys:
        print(f"| {k} | {m1[k]:.4g} | {m2[k]:.4g} |")
    same = all(np.isclose(m1[k], m2[k], rtol=1e-3, atol=1e-3) for k in keys)
    print(f"\nsame metrics (rel 1e-3): {same}")


if __name__ == "__main__":
    main()
