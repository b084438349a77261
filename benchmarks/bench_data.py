"""Data-layer throughput: decoding, EXIF, validation, panorama split, shards, loaders.

    .venv/bin/python benchmarks/bench_data.py [--images 64] [--size 512] [--rows 200000]
        [--workers 2] [--pano 2048]

Everything runs on data the script makes in a temporary folder (and, if present, the 14
real photos in ../shared/data/exif-photos). Prints one table: operation, items, seconds,
items per second.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from geoloc.data.datasets import ManifestDataset, ShardDataset, make_loader
from geoloc.data.exif import read_exif_gps
from geoloc.data.images import load_image
from geoloc.data.manifest import validate_manifest
from geoloc.data.panorama import split_panorama
from geoloc.data.shards import manifest_to_shards, read_shards

EXIF_DIR = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "exif-photos"


def _image(size: int, seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size]
    base = np.stack([x, y, (x + y) // 2], -1) * (255.0 / size)
    noise = rng.normal(0, 12, base.shape)
    return Image.fromarray(np.clip(base + noise, 0, 255).astype(np.uint8))


def _timed(rows: list, name: str, n: int, fn) -> None:
    t0 = time.perf_counter()
    fn()
    dt = time.perf_counter() - t0
    rows.append((name, n, dt, n / dt if dt > 0 else float("inf")))
    print(f"  {name}: {dt:.2f} s", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=64, help="images per format / locations (x4 views)")
    ap.add_argument("--size", type=int, default=512, help="image side in pixels")
    ap.add_argument("--rows", type=int, default=200_000, help="manifest rows for validation")
    ap.add_argument("--workers", type=int, default=2, help="DataLoader workers")
    ap.add_argument("--pano", type=int, default=2048, help="equirectangular panorama width")
    args = ap.parse_args()
    rows: list[tuple[str, int, float, float]] = []

    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        (tmp / "img").mkdir()
        n = args.images
        for fmt, ext in (("JPEG", "jpg"), ("PNG", "png"), ("WEBP", "webp"), ("HEIF", "heic")):
            if fmt == "HEIF":
                import pillow_heif

                pillow_heif.register_heif_opener()
            paths = []
            for i in range(n):
                p = tmp / "img" / f"{fmt}_{i}.{ext}"
                _image(args.size, i).save(p, format=fmt, **({"quality": 90} if fmt != "PNG" else {}))
                paths.append(p)
            _timed(rows, f"load_image {fmt} {args.size}px", n, lambda ps=paths: [load_image(p) for p in ps])

        if (EXIF_DIR / "manifest.csv").is_file():
            files = pd.read_csv(EXIF_DIR / "manifest.csv")["file"].tolist() * 10
            _timed(rows, "read_exif_gps (14 real photos x10)", len(files),
                   lambda: [read_exif_gps(EXIF_DIR / f) for f in files])

        rng = np.random.default_rng(0)
        big = pd.DataFrame({"id": np.arange(args.rows).astype(str), "lat": rng.uniform(-95, 95, args.rows),
                            "lon": rng.uniform(-185, 185, args.rows),
                            "path": [f"img/{i}.jpg" for i in range(args.rows)], "country": "XX"})
        _timed(rows, "validate_manifest (no file check)", args.rows,
               lambda: validate_manifest(big, check_files=False))
        small = big.iloc[: 20_000].copy()
        small.attrs["root"] = str(tmp)
        _timed(rows, "validate_manifest (file check, missing)", len(small), lambda: validate_manifest(small))

        pano = _image(args.pano // 2, 0).resize((args.pano, args.pano // 2))
        reps = 5
        _timed(rows, f"split_panorama {args.pano}x{args.pano // 2} -> 4 views (per pano)", reps,
               lambda: [split_panorama(pano, 4) for _ in range(reps)])

        manifest = []
        for i in range(n):
            for v in range(4):
                manifest.append({"id": f"loc{i}", "view": v, "lat": float(i % 90), "lon": float(-i % 180),
                                 "path": f"img/JPEG_{(i + v) % n}.jpg", "country": "XX"})
        mdf = pd.DataFrame(manifest)
        mdf.attrs["root"] = str(tmp)
        clean, _ = validate_manifest(mdf)
        _timed(rows, "manifest_to_shards (4-view locations)", n,
               lambda: manifest_to_shards(clean, tmp / "shards", maxcount=16, progress=False))
        _timed(rows, "read_shards (decode 4 views)", n, lambda: list(read_shards(tmp / "shards")))

        for workers in sorted({0, args.workers}):
            ds = ManifestDataset(clean, views=4, image_size=224)
            _timed(rows, f"ManifestDataset 4x224 batches, {workers} workers", n,
                   lambda ds=ds, w=workers: [b for b in make_loader(ds, batch_size=16, num_workers=w)])
            sds = ShardDataset(tmp / "shards", views=4, image_size=224, shuffle=32)
            _timed(rows, f"ShardDataset 4x224 batches, {workers} workers", n,
                   lambda s=sds, w=workers: [b for b in make_loader(s, batch_size=16, num_workers=w)])

    print()
    print(f"| {'operation':<58} | {'items':>7} | {'seconds':>8} | {'items/s':>9} |")
    print(f"|{'-' * 60}|{'-' * 9}|{'-' * 10}|{'-' * 11}|")
    for name, count, dt, rate in rows:
        print(f"| {name:<58} | {count:>7} | {dt:>8.2f} | {rate:>9.1f} |")


if __name__ == "__main__":
    main()
