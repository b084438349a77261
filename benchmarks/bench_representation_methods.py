"""Timing of the contrastive-family losses (methods A) against a plain cross-entropy.

Run: ``.venv/bin/python benchmarks/bench_representation_methods.py [--reps 5]``. Prints a Markdown
table of median forward+backward milliseconds (one torch thread) and the SupCon / CE ratio.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

from representation.losses import DreamLIPLoss, NegCLIPLoss, SupConLoss, SupReMixLoss
from representation.miners import FalseNegativeMasker
from representation.targets import hierarchy_jaccard_targets


def median_ms(fn: Callable[[], object], reps: int) -> float:
    fn()
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args()
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(0)

    def leaf(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=g, requires_grad=True)

    z, y = leaf(1024, 2, 256), torch.randint(0, 100, (1024,), generator=g)
    ref = leaf(2048, 256)
    img, txt, pat = leaf(256, 256), leaf(256, 4, 256), leaf(256, 49, 256)
    i2, t2, n2 = leaf(1024, 256), leaf(1024, 256), leaf(1024, 256)
    zz, yy = leaf(512, 128), torch.randint(0, 20, (512,), generator=g).float()
    rng = random.Random(0)
    paths = [(rng.randrange(6), rng.randrange(40), rng.randrange(200), rng.randrange(2000)) for _ in range(1024)]
    ll = torch.stack([torch.rand(1024, generator=g) * 180 - 90, torch.rand(1024, generator=g) * 360 - 180], 1)

    cases: list[tuple[str, Callable[[], object]]] = [
        ("SupConLoss fwd+bwd, N=1024 x 2 views, D=256", lambda: SupConLoss()(z, y).backward()),
        ("F.cross_entropy(q @ k.T) fwd+bwd, 2048 x 2048, D=256 (reference)",
         lambda: F.cross_entropy(ref @ ref.T / 0.07, torch.arange(2048)).backward()),
        ("DreamLIPLoss fwd+bwd, B=256, K=4, M=49, D=256", lambda: DreamLIPLoss()(img, txt, patches=pat).backward()),
        ("NegCLIPLoss fwd+bwd, B=1024 (+1024 negatives), D=256",
         lambda: NegCLIPLoss()(i2, t2, neg_text=n2).backward()),
        ("SupReMixLoss fwd+bwd, N=512, D=128", lambda: SupReMixLoss()(zz, yy).backward()),
        ("hierarchy_jaccard_targets, N=1024, 4 levels", lambda: hierarchy_jaccard_targets(paths)),
        ("FalseNegativeMasker('km', 25), N=1024", lambda: FalseNegativeMasker("km", 25.0)(ll)),
    ]
    print("| case | median ms |\n|---|---:|")
    results = {}
    for name, fn in cases:
        results[name] = median_ms(fn, args.reps)
        print(f"| {name} | {results[name]:.1f} |")
    print(f"\nSupCon / cross-entropy ratio: {results[cases[0][0]] / results[cases[1][0]]:.2f}")


if __name__ == "__main__":
    main()
