"""Representation-core benchmarks (CPU).

1. InfoNCE forward + backward at N x D (default 4096 x 512) vs a plain
   ``F.cross_entropy(q @ k.T)`` baseline, interleaved in the same run; prints the ratio
   (target: within 1.5x).
2. Blocked SigLIP peak memory vs N and chunk size, forward + backward, measured as the
   rise of the process peak RSS (Linux ``/proc/self/clear_refs`` reset of VmHWM) over the
   RSS before the call; compared with a naive autograd ``-logsigmoid(z * x).sum()``. It runs
   in a child process started with ``MALLOC_MMAP_THRESHOLD_=65536`` so that glibc returns
   every large freed buffer to the OS at once (otherwise freed memory stays resident and
   later measurements read 0).

Usage: .venv/bin/python benchmarks/bench_representation.py [--n 4096 --d 512 --repeats 5]
       [--siglip-n 1024 2048 4096 8192 --chunks 512 2048 0 --naive-max-n 4096 --memory-threads 1]
       [--skip-speed] [--skip-memory]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from functools import partial

import torch
import torch.nn.functional as F

from representation.functional.sigmoid import sigmoid_pairwise_sum
from representation.losses import InfoNCELoss


def _time(fn: Callable[[], None]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def bench_infonce(n: int, d: int, repeats: int) -> list[tuple[str, float, float, float]]:
    """Return rows (case, ours_s, baseline_s, ratio) with median seconds over ``repeats``."""
    g = torch.Generator().manual_seed(0)
    q0 = torch.randn(n, d, generator=g)
    k0 = torch.randn(n, d, generator=g)
    labels = torch.arange(n)
    scale = 1 / 0.07

    def run(loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> Callable[[], None]:
        def go() -> None:
            q = q0.clone().requires_grad_(True)
            k = k0.clone().requires_grad_(True)
            loss_fn(q, k).backward()
        return go

    cases = {
        "one-directional, dot": (
            run(lambda q, k: InfoNCELoss(temperature=0.07, symmetric=False, similarity="dot")(q, k)),
            run(lambda q, k: F.cross_entropy(q @ k.T * scale, labels))),
        "one-directional, cosine": (
            run(lambda q, k: InfoNCELoss(temperature=0.07, symmetric=False)(q, k)),
            run(lambda q, k: F.cross_entropy(F.normalize(q, dim=1) @ F.normalize(k, dim=1).T * scale, labels))),
        "CLIP symmetric, cosine": (
            run(lambda q, k: InfoNCELoss(temperature=0.07, symmetric=True)(q, k)),
            run(lambda q, k: _plain_clip(q, k, scale, labels))),
        "soft targets (identity) vs CE": (
            run(lambda q, k: InfoNCELoss(temperature=0.07, symmetric=False, similarity="dot")(
                q, k, targets=torch.eye(n))),
            run(lambda q, k: F.cross_entropy(q @ k.T * scale, labels))),
    }
    rows = []
    for name, (ours, base) in cases.items():
        ours()
        base()  # warm-up
        t_ours, t_base = [], []
        for _ in range(repeats):  # interleaved, so load changes hit both alike
            t_ours.append(_time(ours))
            t_base.append(_time(base))
        mo, mb = statistics.median(t_ours), statistics.median(t_base)
        rows.append((name, mo, mb, mo / mb))
    return rows


def _plain_clip(q: torch.Tensor, k: torch.Tensor, scale: float, labels: torch.Tensor) -> torch.Tensor:
    logits = F.normalize(q, dim=1) @ F.normalize(k, dim=1).T * scale
    return 0.5 * (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels))


def _status() -> dict[str, int]:
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(("VmRSS", "VmHWM")):
                key, val = line.split(":")
                out[key] = int(val.split()[0]) * 1024
    return out


def peak_rise_bytes(fn: Callable[[], None]) -> int:
    """Peak RSS during ``fn`` minus RSS before it (Linux only)."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    before = _status()["VmRSS"]
    fn()
    return _status()["VmHWM"] - before


def _blocked_siglip(q0: torch.Tensor, k0: torch.Tensor, chunk: int | None) -> None:
    q = q0.clone().requires_grad_(True)
    k = k0.clone().requires_grad_(True)
    sigmoid_pairwise_sum(q, k, 10.0, -10.0, chunk_size=chunk).backward()


def _naive_siglip(q0: torch.Tensor, k0: torch.Tensor) -> None:
    q = q0.clone().requires_grad_(True)
    k = k0.clone().requires_grad_(True)
    z = 2 * torch.eye(q.shape[0]) - 1
    (-F.logsigmoid(z * (10.0 * q @ k.T - 10.0)).sum()).backward()


def bench_siglip_memory(ns: list[int], chunks: list[int], d: int, naive_max_n: int
                        ) -> list[tuple[int, str, float, float]]:
    """Rows (N, variant, peak rise MiB, seconds) for forward + backward."""
    rows = []
    _blocked_siglip(torch.randn(64, d), torch.randn(64, d), 16)  # warm-up: first-call allocations
    _naive_siglip(torch.randn(64, d), torch.randn(64, d))
    for n in ns:
        g = torch.Generator().manual_seed(0)
        q0 = F.normalize(torch.randn(n, d, generator=g), dim=1)
        k0 = F.normalize(torch.randn(n, d, generator=g), dim=1)
        variants: list[tuple[str, Callable[[], None]]] = [
            (f"blocked chunk={c or 'N (one block)'}", partial(_blocked_siglip, q0, k0, c or None)) for c in chunks]
        if n <= naive_max_n:
            variants.append(("naive autograd", partial(_naive_siglip, q0, k0)))
        for name, fn in variants:
            t = time.perf_counter()
            rise = peak_rise_bytes(fn)
            rows.append((n, name, rise / 2**20, time.perf_counter() - t))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=4096)
    ap.add_argument("--d", type=int, default=512)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--siglip-n", type=int, nargs="+", default=[1024, 2048, 4096, 8192])
    ap.add_argument("--siglip-d", type=int, default=256)
    ap.add_argument("--chunks", type=int, nargs="+", default=[512, 2048, 0], help="0 = one block")
    ap.add_argument("--memory-threads", type=int, default=1,
                    help="torch threads in the memory child (small blocks + busy shared cores: 1 is faster)")
    ap.add_argument("--memory-worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--naive-max-n", type=int, default=4096)
    ap.add_argument("--skip-speed", action="store_true")
    ap.add_argument("--skip-memory", action="store_true")
    args = ap.parse_args()
    if not args.memory_worker:
        print(f"torch {torch.__version__}, threads {torch.get_num_threads()}", flush=True)
    if not args.skip_speed and not args.memory_worker:
        print(f"\nInfoNCE forward+backward, N={args.n}, D={args.d}, median of {args.repeats} (interleaved)")
        print(f"{'case':34s} {'ours s':>8s} {'plain CE s':>10s} {'ratio':>6s}")
        for name, mo, mb, r in bench_infonce(args.n, args.d, args.repeats):
            print(f"{name:34s} {mo:8.3f} {mb:10.3f} {r:6.2f}", flush=True)
    if args.memory_worker:
        torch.set_num_threads(args.memory_threads)
        print(f"{'N':>6s} {'variant':28s} {'peak MiB':>9s} {'NxN MiB':>8s} {'s':>7s}", flush=True)
        for n in args.siglip_n:
            for n_, name, mib, sec in bench_siglip_memory([n], args.chunks, args.siglip_d, args.naive_max_n):
                print(f"{n_:6d} {name:28s} {mib:9.1f} {4 * n_ * n_ / 2**20:8.1f} {sec:7.2f}", flush=True)
        return
    if not args.skip_memory:
        print(f"\nSigLIP forward+backward peak memory rise (D={args.siglip_d}, {args.memory_threads} thread(s)); "
              "N x N float32 = 4 N^2 bytes", flush=True)
        cmd = [sys.executable, __file__, "--memory-worker", "--siglip-d", str(args.siglip_d),
               "--naive-max-n", str(args.naive_max_n), "--memory-threads", str(args.memory_threads),
               "--siglip-n", *map(str, args.siglip_n), "--chunks", *map(str, args.chunks)]
        subprocess.run(cmd, check=True, env={**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536"})

if __name__ == "__main__":
    main()
