"""GPU checks and measurements of issue 18, in one script (prints tables, writes JSON).

Sections (``--sections``, default all, in this order):

  tests      ``pytest -m gpu`` over the test files that hold a CUDA-marked test (passes, fails, skips)
  flops      forward FLOPs and saved-activation bytes per image of the tower, measured on the CPU
             (torch.utils.flop_counter; autograd saved-tensor hooks under bf16 autocast): the basis
             of the estimates in benchmarks/RESULTS.md (runs anywhere)
  memory     ViT-L/14-336 peak memory and step time: caption pretraining (full CLIP, InfoNCE) at
             per-GPU batches 32..256 with and without gradient checkpointing and with GradCache
             micro-batches, and PIGEON fine-tuning (4 views, all_but_last) at 64..256 locations
  inference  images/s of the GeoModel forward in bf16 autocast vs fp32 (TF32 off), and their agreement
  finetune   5 fine-tuning steps on CUDA (bf16) through geoloc.train.finetune, and the same run stopped
             at step 3 and resumed: weights compared
  refine     retrieval refinement over 1M prototypes (float16 members) on the GPU: ms/query at
             batch 1 and 256, memory
  loader     training input pipeline on the host cores: locations/s of LocationImages (4 views of
             2048x1536 JPEGs -> 336 px; draft decoding reads them at 1/2 scale) through the Trainer's
             DataLoader with 0..16 workers, with and without JPEG draft decoding

Device machine (torch 2.11, no open_clip, no geo stack, no network). Only open_clip and its two
small pure-Python dependencies travel; every section avoids the geo stack (synthetic cells).
Here, in the repository root:

    echo /.whl/ >> .git/info/exclude
    python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \\
        --platform manylinux2014_x86_64 -d .whl open_clip_torch==3.3.0 ftfy==6.3.1 wcwidth==0.2.13

There (one `run`, carry [".whl"], timeout_s 600):

    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \\
        .whl/*.whl && export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 && nvidia-smi -L && \\
        python3 benchmarks/bench_gpu.py --out $OUT 2>&1 | tee $OUT/bench_gpu.log

(The ``tests`` section reports the tests that need the geo stack as collection errors there; they
run on a machine with the full install. ``--sections memory,inference`` reruns a part.)

CPU dry run of every section at tiny sizes (tiny tower, small batches, 20k prototypes), and the
loader section alone at full photo size on this machine's cores:

    PYTHONPATH=$PWD .venv/bin/python benchmarks/bench_gpu.py --tiny --device cpu
    PYTHONPATH=$PWD .venv/bin/python benchmarks/bench_gpu.py --device cpu --sections loader \
        --loader-workers 0,1,2 --loader-locations 32
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
from contextlib import nullcontext, suppress
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from machine import machine_summary  # noqa: E402

SECTIONS = ("tests", "flops", "memory", "inference", "finetune", "refine", "loader")


def sizes(tiny: bool) -> dict[str, Any]:
    """Every size of the run; ``tiny`` = the CPU dry run."""
    if tiny:
        return {"tower": "geoloc-tiny-vit", "image": 64, "pretrain_batches": [4, 8], "finetune_batches": [2, 4],
                "micro": 2, "views": 4, "infer_batch": 8, "infer_iters": 2, "warm": 1, "iters": 2,
                "ft_batch": 4, "prototypes": 20_000, "dim": 128, "members": 2, "cells": 200,
                "loader_locations": 16, "loader_workers": [0, 2], "photo": (640, 480), "input": 64}
    return {"tower": "ViT-L-14-336", "image": 336, "pretrain_batches": [32, 64, 128, 256],
            "finetune_batches": [64, 128, 256], "micro": 64, "views": 4, "infer_batch": 64, "infer_iters": 10,
            "warm": 2, "iters": 4, "ft_batch": 16, "prototypes": 1_000_000, "dim": 1024, "members": 1,
            "cells": 2203, "loader_locations": 128, "loader_workers": [0, 2, 4, 8, 16], "photo": (2048, 1536),
            "input": 336}


# --------------------------------------------------------------------------- helpers


def sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def peak_reset(dev: torch.device) -> None:
    gc.collect()
    if dev.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(dev)


def peak_gb(dev: torch.device) -> float | None:
    return torch.cuda.max_memory_allocated(dev) / 2**30 if dev.type == "cuda" else None


def timed(fn, dev: torch.device, warm: int, iters: int) -> float:
    """Median seconds of ``fn()`` over ``iters`` calls after ``warm`` warm-up calls."""
    for _ in range(warm):
        fn()
    sync(dev)
    out = []
    for _ in range(iters):
        t = time.perf_counter()
        fn()
        sync(dev)
        out.append(time.perf_counter() - t)
    return float(np.median(out))


def is_oom(exc: BaseException) -> bool:
    return isinstance(exc, torch.OutOfMemoryError) or "out of memory" in str(exc).lower()


def fmt(x: float | None, spec: str = ".2f") -> str:
    return "-" if x is None else format(x, spec)


def print_rows(title: str, header: list[str], rows: list[list[Any]]) -> None:
    print(f"\n## {title}\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for r in rows:
        print("| " + " | ".join(str(v) for v in r) + " |")
    sys.stdout.flush()


# --------------------------------------------------------------------------- sections


def gpu_test_files() -> list[str]:
    """The test files holding a ``gpu``-marked test (collecting only these keeps the section short)."""
    return sorted(str(p) for p in (REPO / "tests").rglob("test_*.py") if "mark.gpu" in p.read_text(errors="replace"))


def section_tests(args, sz, dev) -> dict[str, Any]:
    """Every test marked ``gpu`` (pytest -m gpu over the files that have one), summarised."""
    t = time.time()
    files = gpu_test_files()
    try:
        proc = subprocess.run([sys.executable, "-m", "pytest", "-m", "gpu", "-q", "-p", "no:cacheprovider", "-rfEs",
                               "--continue-on-collection-errors", "-o", "addopts=", *files],
                              capture_output=True, text=True, cwd=REPO, timeout=args.tests_timeout)
        code, text = proc.returncode, proc.stdout + proc.stderr
    except subprocess.TimeoutExpired as exc:
        code = "timeout"
        text = (exc.stdout or b"").decode(errors="replace") if isinstance(exc.stdout, bytes) else (exc.stdout or "")
    tail = text.strip().splitlines()[-40:]
    summary = next((line for line in reversed(tail) if " in " in line and ("passed" in line or "failed" in line
                                                                            or "error" in line)), "")
    print_rows(f"pytest -m gpu ({len(files)} files)", ["exit code", "summary", "seconds"],
               [[code, summary, f"{time.time() - t:.0f}"]])
    print("\n".join(tail))
    return {"returncode": code, "summary": summary, "tail": tail, "files": files}


def _saved_bytes(fn) -> int:
    """Bytes autograd keeps for the backward of ``fn()`` under CPU bf16 autocast (saved-tensor hooks;
    each storage counted once, so views of one tensor are not double counted)."""
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        with suppress(RuntimeError, NotImplementedError):   # storages without a data pointer
            seen[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), torch.autocast("cpu", dtype=torch.bfloat16):
        fn().float().sum()
    return sum(seen.values())


def section_flops(args, sz, dev) -> dict[str, Any]:
    """Forward FLOPs of one image (FlopCounterMode) and the bytes autograd saves for its backward under
    bf16 autocast (saved-tensor hooks, storage counted once; per image = batch 2 minus batch 1, the
    remainder is saved once per step), for the tower and the CLIP text tower; on the CPU (exact
    counts, no timing)."""
    from torch.utils.flop_counter import FlopCounterMode

    from geoloc.model import build_clip

    torch.manual_seed(0)
    clip = build_clip(sz["tower"], image_size=sz["image"])
    x = torch.randn(2, 3, sz["image"], sz["image"])
    tok = torch.randint(1, 1000, (2, 77))
    out: dict[str, Any] = {}
    for name, fn in (("vision", lambda b: clip.encode_image(x[:b])), ("text", lambda b: clip.encode_text(tok[:b]))):
        with torch.no_grad(), FlopCounterMode(display=False) as fc:
            fn(1)
        one, two = _saved_bytes(lambda f=fn: f(1)), _saved_bytes(lambda f=fn: f(2))
        # per image = what a second image adds; the rest (bf16 weight copies autocast saves) is per step
        out[name] = {"gflop_forward": fc.get_total_flops() / 1e9, "saved_mb_bf16": (two - one) / 2**20,
                     "saved_mb_per_step": (2 * one - two) / 2**20}
    params = {"vision": sum(p.numel() for p in clip.visual.parameters()) / 1e6,
              "all": sum(p.numel() for p in clip.parameters()) / 1e6}
    out["params_m"] = params
    print_rows(f"FLOPs and saved activations per image ({sz['tower']} at {sz['image']} px; CPU, exact)",
               ["tower", "forward GFLOP", "saved for backward per image (MB, bf16 autocast)",
                "saved once per step (MB)"],
               [[k, f"{v['gflop_forward']:.4g}", f"{v['saved_mb_bf16']:.4g}", f"{v['saved_mb_per_step']:.4g}"]
                for k, v in out.items()
                if k != "params_m"])
    print(f"parameters: vision {params['vision']:.1f} M, whole CLIP {params['all']:.1f} M")
    return out


def _pretrain_step_fn(clip, loss_fn, batch_size: int, micro: int | None, checkpointing: bool, dev, image: int):
    """A Trainer configured like geoloc.train.pretrain (bf16, ClipPair, InfoNCE), returning a step closure."""
    from geoloc.model.unused import freeze_unused
    from geoloc.train.pretrain import ClipPair
    from representation.train import TrainConfig, Trainer

    freeze_unused(clip)
    clip.set_grad_checkpointing(checkpointing)
    cfg = TrainConfig(out_dir=tempfile.mkdtemp(), total_steps=100, batch_size=batch_size, micro_batch_size=micro,
                      precision="bf16", device=str(dev), progress=False, lr=1e-6)
    trainer = Trainer(ClipPair(clip), loss_fn, [0] * batch_size, cfg)
    batch = {"images": torch.randn(batch_size, 3, image, image, device=dev),
             "tokens": torch.randint(1, 1000, (batch_size, 1, 77), device=dev)}
    return lambda: trainer.train_step(batch)


def section_memory(args, sz, dev) -> dict[str, Any]:
    from geoloc.model import GeoModel, GeoModelConfig, build_clip
    from geoloc.model.unused import freeze_unused
    from geoloc.train.finetune import BatchGeoModel, GeocellTrainingLoss
    from geoloc.train.presets import get_preset
    from geoloc.train.pretrain import build_pretrain_loss
    from representation.train import TrainConfig, Trainer

    rows, out = [], []
    torch.manual_seed(0)
    clip = build_clip(sz["tower"], image_size=sz["image"]).to(dev)
    loss_fn = build_pretrain_loss(get_preset("pigeon"))
    for b in sz["pretrain_batches"]:
        modes = [("full", False, None), ("checkpointing", True, None)]
        if b > sz["micro"]:
            modes.append((f"GradCache {sz['micro']}", False, sz["micro"]))
        for label, ckpt, micro in modes:
            peak_reset(dev)
            try:
                step = _pretrain_step_fn(clip, loss_fn, b, micro, ckpt, dev, sz["image"])
                s = timed(step, dev, sz["warm"], sz["iters"])
                rec = {"stage": "pretrain", "batch": b, "mode": label, "s_per_step": s, "peak_gb": peak_gb(dev),
                       "images_per_s": b / s}
            except Exception as exc:  # OOM is a result here
                if not is_oom(exc):
                    raise
                rec = {"stage": "pretrain", "batch": b, "mode": label, "s_per_step": None, "peak_gb": None,
                       "images_per_s": None, "oom": True}
            step = None
            out.append(rec)
            rows.append([rec["stage"], b, label, fmt(rec["s_per_step"], ".3f"), fmt(rec["peak_gb"], ".1f"),
                         fmt(rec["images_per_s"], ".0f"), "OOM" if rec.get("oom") else ""])
    clip.set_grad_checkpointing(False)
    del clip
    cells = np.c_[np.linspace(-60, 60, 500), np.linspace(-170, 170, 500)]
    cfg = GeoModelConfig(num_cells=len(cells), tower=sz["tower"], image_size=sz["image"], embedding="tokens_mean")
    torch.manual_seed(0)
    net = GeoModel(cfg)
    net.freeze("all_but_last")
    freeze_unused(net)
    for b in sz["finetune_batches"]:
        for ckpt in (False, True):
            peak_reset(dev)
            net.tower.visual.set_grad_checkpointing(ckpt)
            try:
                tc = TrainConfig(out_dir=tempfile.mkdtemp(), total_steps=100, batch_size=b, precision="bf16",
                                 device=str(dev), progress=False, lr=2e-5)
                trainer = Trainer(BatchGeoModel(net), GeocellTrainingLoss(cells), [0] * b, tc)
                g = torch.Generator().manual_seed(0)
                batch = {"images": torch.randn(b, sz["views"], 3, sz["image"], sz["image"], generator=g).to(dev),
                         "lat": torch.zeros(b, device=dev), "lon": torch.zeros(b, device=dev),
                         "cell": torch.randint(0, len(cells), (b,), generator=g).to(dev),
                         "ok": torch.ones(b, dtype=torch.bool, device=dev)}
                s = timed(lambda: trainer.train_step(batch), dev, sz["warm"], sz["iters"])  # noqa: B023
                rec = {"stage": "finetune", "batch": b, "mode": "checkpointing" if ckpt else "full", "s_per_step": s,
                       "peak_gb": peak_gb(dev), "images_per_s": b * sz["views"] / s}
            except Exception as exc:
                if not is_oom(exc):
                    raise
                rec = {"stage": "finetune", "batch": b, "mode": "checkpointing" if ckpt else "full", "oom": True,
                       "s_per_step": None, "peak_gb": None, "images_per_s": None}
            trainer = batch = None
            out.append(rec)
            rows.append(["finetune", f"{b} x {sz['views']} views", rec["mode"], fmt(rec["s_per_step"], ".3f"),
                         fmt(rec["peak_gb"], ".1f"), fmt(rec["images_per_s"], ".0f"), "OOM" if rec.get("oom") else ""])
    print_rows(f"memory and step time ({sz['tower']}, bf16 autocast, {dev})",
               ["stage", "per-GPU batch", "mode", "s/step", "peak GiB", "images/s", ""], rows)
    return {"runs": out}


def section_inference(args, sz, dev) -> dict[str, Any]:
    from geoloc.model import GeoModel, GeoModelConfig
    from geoloc.model.precision import inference_autocast

    torch.manual_seed(0)
    net = GeoModel(GeoModelConfig(num_cells=2000, tower=sz["tower"], image_size=sz["image"])).to(dev).eval()
    x = torch.randn(sz["infer_batch"], 1, 3, sz["image"], sz["image"], device=dev)
    res, embs = {}, {}
    assert not torch.backends.cuda.matmul.allow_tf32, "TF32 must stay off (refinement needs float32)"
    for prec in ("fp32", "bf16"):
        def fwd(p=prec):
            with torch.no_grad(), inference_autocast(dev, p):
                return net.embed(x).float()
        s = timed(fwd, dev, sz["warm"], sz["infer_iters"])
        embs[prec] = fwd()
        res[prec] = {"images_per_s": sz["infer_batch"] / s}
    a, b = embs["fp32"], embs["bf16"]
    cos = torch.nn.functional.cosine_similarity(a, b, dim=1)
    with torch.no_grad():
        pa = torch.softmax(net.heads(a)["geocell"].double(), 1)
        pb = torch.softmax(net.heads(b)["geocell"].double(), 1)
    res["agreement"] = {"min_cosine": float(cos.min()), "max_prob_diff": float((pa - pb).abs().max()),
                        "top1_equal": float((pa.argmax(1) == pb.argmax(1)).float().mean())}
    print_rows(f"inference ({sz['tower']}, batch {sz['infer_batch']}, {dev})", ["precision", "images/s"],
               [[k, f"{v['images_per_s']:.1f}"] for k, v in res.items() if k != "agreement"])
    print(f"bf16 vs fp32: min cosine {res['agreement']['min_cosine']:.5f}, max |dp| "
          f"{res['agreement']['max_prob_diff']:.2e}, top-1 equal {res['agreement']['top1_equal']:.3f} "
          f"(random weights: near-uniform probabilities, a strict test of the top-1)")
    return res


def _photo_folder(n_locations: int, views: int, size: tuple[int, int], folder: Path, distinct: int = 16) -> Any:
    """Manifest of ``n_locations`` x ``views`` smooth photo-like JPEGs (no geo stack). Only ``distinct``
    locations' photos are rendered; the others reuse them cyclically (decoding costs the same, and
    rendering a few thousand multi-megapixel photos would take minutes of the device slot)."""
    import pandas as pd
    from PIL import Image

    rng = np.random.default_rng(0)
    w, h = size
    y, x = np.mgrid[0:h, 0:w] / max(w, h)
    rows = []
    for i in range(n_locations):
        lat, lon = float(rng.uniform(-50, 50)), float(rng.uniform(-170, 170))  # one place, all its views
        for v in range(views):
            path = folder / f"{i % distinct:05d}_{v}.jpg"
            if i < distinct:
                f = rng.uniform(2, 8, 3)
                img = np.stack([np.sin(f[0] * x + i), np.cos(f[1] * y + v), np.sin(f[2] * (x + y))], -1) * 100 + 128
                img = np.clip(img + rng.normal(0, 6, img.shape), 0, 255).astype(np.uint8)
                Image.fromarray(img).save(path, quality=90)
            rows.append({"id": f"l{i}", "view": v, "path": str(path), "lat": lat, "lon": lon})
    return pd.DataFrame(rows)


def section_finetune(args, sz, dev) -> dict[str, Any]:
    from geoloc.model import GeoModel, GeoModelConfig
    from geoloc.train.data import LocationImages, load_locations
    from geoloc.train.embed import model_transform
    from geoloc.train.finetune import finetune
    from geoloc.train.presets import get_preset

    work = Path(tempfile.mkdtemp())
    frame = _photo_folder(sz["ft_batch"] * 3, sz["views"], (sz["image"] * 2, sz["image"] * 2), work)
    locs = load_locations(frame, views=sz["views"])
    cells = np.c_[np.linspace(-60, 60, 20), np.linspace(-170, 170, 20)]
    preset = get_preset("pigeon", tower=sz["tower"], image_size=sz["image"], finetune_steps=5,
                        batch_size=sz["ft_batch"], warmup_steps=1, checkpoint_every=100, device=str(dev.type),
                        aux_heads=[], loss_weights={}, num_workers=2)
    cfg = GeoModelConfig(num_cells=len(cells), tower=sz["tower"], image_size=sz["image"])
    labels = {"cell": np.arange(len(locs)) % len(cells)}
    data = LocationImages(locs, model_transform(cfg), labels=labels, cache=False, progress=False)

    def run(out: str, stop: int | None) -> tuple[dict, float]:
        torch.manual_seed(0)
        net = GeoModel(cfg)
        t = time.perf_counter()
        finetune(net, data, cells, preset, out, progress=False, stop_at_step=stop)
        return net.state_dict(), time.perf_counter() - t

    full, t_full = run(str(work / "a"), None)
    run(str(work / "b"), 3)
    resumed, _ = run(str(work / "b"), None)
    diff = max(float((full[k].double() - resumed[k].double()).abs().max()) for k in full)
    res = {"steps": 5, "seconds": t_full, "max_abs_diff_resumed": diff,
           "bit_identical": all(torch.equal(full[k], resumed[k]) for k in full)}
    print_rows(f"fine-tuning on {dev} ({sz['tower']}, {sz['ft_batch']} locations x {sz['views']} views, bf16)",
               ["steps", "seconds", "resumed vs uninterrupted: max |dw|", "bit-identical"],
               [[5, f"{t_full:.1f}", f"{diff:.2e}", res["bit_identical"]]])
    return res


def section_refine(args, sz, dev) -> dict[str, Any]:
    from bench_refine import synthetic_prototypes

    from geoloc.refine import Refiner

    protos = synthetic_prototypes(sz["prototypes"], sz["cells"], sz["dim"], sz["members"], seed=0)
    rng = np.random.default_rng(1)
    q = rng.standard_normal((1024, sz["dim"]), dtype=np.float32)
    logits = rng.standard_normal((1024, sz["cells"])) * 3
    probs = np.exp(logits - logits.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    peak_reset(dev)
    t = time.perf_counter()
    ref = Refiner(protos, top_k=5, temperature=1.6, backend="torch", device=dev)
    build_s = time.perf_counter() - t
    rows, res = [], {"build_s": build_s}
    for batch in (1, 256):
        s = timed(lambda b=batch: ref.refine(q[:b], probs[:b]), dev, 2, 10)
        res[f"ms_per_query_b{batch}"] = s * 1e3 / batch
        rows.append([batch, f"{s * 1e3 / batch:.3f}"])
    res["peak_gb"] = peak_gb(dev)
    print_rows(f"refinement, {sz['prototypes']:,} prototypes x {sz['dim']} (float16 members), torch backend on {dev}",
               ["batch", "ms/query"], rows)
    print(f"refiner set-up {build_s:.1f} s, peak GPU memory {fmt(res['peak_gb'], '.2f')} GiB")
    return res


def _cpu_seconds() -> float:
    """CPU seconds of this process and of its exited, reaped children (DataLoader workers)."""
    import resource

    ch = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + ch.ru_utime + ch.ru_stime


def section_loader(args, sz, dev) -> dict[str, Any]:
    """Locations/s of the Trainer's DataLoader over streamed JPEG locations (decode + resize + normalise)."""
    from geoloc.data import images as images_mod
    from geoloc.data.datasets import open_clip_transform
    from geoloc.model import register_model_configs
    from geoloc.train.data import LocationImages, collate_locations, load_locations
    from representation.train.trainer import EpochBatches

    register_model_configs()
    work = Path(tempfile.mkdtemp())
    frame = _photo_folder(sz["loader_locations"], sz["views"], sz["photo"], work)
    locs = load_locations(frame, views=sz["views"])
    ds = LocationImages(locs, open_clip_transform("ViT-L-14-336" if not args.tiny else "geoloc-tiny-vit",
                                                  sz["input"]), cache=False, progress=False)
    rows, res = [], {}
    margin = images_mod.DRAFT_MARGIN
    for draft in (True, False):
        images_mod.DRAFT_MARGIN = margin if draft else 10**6   # a huge margin = no DCT reduction
        for w in sz["loader_workers"]:
            batches = EpochBatches(ds, 1, 0, 0, 8)
            loader = torch.utils.data.DataLoader(ds, batch_sampler=batches, collate_fn=collate_locations,
                                                 num_workers=w, pin_memory=dev.type == "cuda",
                                                 prefetch_factor=4 if w else None, persistent_workers=False)
            t, c = time.perf_counter(), _cpu_seconds()
            n = sum(len(b["ok"]) for b in loader)
            del loader                                   # workers exit, so their CPU time is counted
            s, cpu = time.perf_counter() - t, _cpu_seconds() - c
            res[f"draft={draft},workers={w}"] = {"locations_per_s": n / s, "cpu_ms_per_location": cpu * 1e3 / n}
            rows.append([w, "on" if draft else "off", f"{n / s:.1f}", f"{n * sz['views'] / s:.0f}",
                         f"{cpu * 1e3 / n:.1f}"])
    images_mod.DRAFT_MARGIN = margin
    print_rows(f"input pipeline: {sz['views']} views of {sz['photo'][0]}x{sz['photo'][1]} JPEG -> {sz['input']} px "
               f"({os.cpu_count()} host cores)", ["workers", "JPEG draft", "locations/s", "images/s",
                                                  "CPU ms / location (all processes)"], rows)
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sections", default=",".join(SECTIONS), help=f"comma list of {', '.join(SECTIONS)}")
    ap.add_argument("--tiny", action="store_true", help="tiny sizes (the CPU dry run)")
    ap.add_argument("--device", default="cuda", help="cuda (default) or cpu (dry run)")
    ap.add_argument("--out", default=None, help="folder for bench_gpu.json (default: $OUT or nothing)")
    ap.add_argument("--tests-timeout", type=int, default=150, help="seconds for the pytest section")
    ap.add_argument("--loader-workers", default=None, help="comma list of worker counts (loader section)")
    ap.add_argument("--loader-locations", type=int, default=None, help="locations read per pass (loader section)")
    args = ap.parse_args()
    dev = torch.device(args.device)
    sz = sizes(args.tiny)
    if args.loader_workers:
        sz["loader_workers"] = [int(w) for w in args.loader_workers.split(",")]
    if args.loader_locations:
        sz["loader_locations"] = args.loader_locations
    print(f"# bench_gpu: {machine_summary()}")
    print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, device {dev}"
          + (f" ({torch.cuda.get_device_name(dev)})" if dev.type == "cuda" else ""))
    results: dict[str, Any] = {"machine": machine_summary(), "torch": torch.__version__, "tiny": args.tiny}
    out = args.out or os.environ.get("OUT")
    scratch = tempfile.TemporaryDirectory(prefix="bench_gpu-")
    tempfile.tempdir = scratch.name  # every mkdtemp of the sections lands here and goes at the end
    for name in [s.strip() for s in args.sections.split(",") if s.strip()]:
        if name not in SECTIONS:
            raise SystemExit(f"unknown section {name!r}; known: {', '.join(SECTIONS)}")
        t = time.time()
        try:
            with nullcontext():
                results[name] = globals()[f"section_{name}"](args, sz, dev)
        except Exception as exc:  # one broken section must not hide the others' results
            import traceback

            traceback.print_exc()
            results[name] = {"error": f"{type(exc).__name__}: {exc}"}
        results[name + "_seconds"] = round(time.time() - t, 1)
        print(f"[{name}: {time.time() - t:.0f} s]")
        if out:
            Path(out).mkdir(parents=True, exist_ok=True)
            (Path(out) / "bench_gpu.json").write_text(json.dumps(results, indent=1, default=str))
    tempfile.tempdir = None
    scratch.cleanup()


if __name__ == "__main__":
    main()
