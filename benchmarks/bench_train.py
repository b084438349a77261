"""Training speed on the CPU: fine-tuning and caption-pretraining steps, embedding throughput.

Random pixels (speed does not depend on content). Reports wall and CPU seconds per step
(CPU time counts every thread of this process, so on a shared machine it is the better
measure of work). Optionally prints the model card numbers of a trained bundle.

    .venv/bin/python benchmarks/bench_train.py --steps 5 --batch 64 --views 4 --threads 1 2
    .venv/bin/python benchmarks/bench_train.py --bundle geoloc/models/synthworld-tiny
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch


def _timed(fn, steps: int) -> tuple[float, float]:
    fn()  # warm-up
    w, c = time.perf_counter(), time.process_time()
    for _ in range(steps):
        fn()
    return (time.perf_counter() - w) / steps, (time.process_time() - c) / steps


def finetune_step(batch: int, views: int, cells: int, tower: str):
    from geoloc.model import GeoModel, GeoModelConfig
    from geoloc.train.finetune import GeocellTrainingLoss

    net = GeoModel(GeoModelConfig(num_cells=cells, tower=tower, aux_heads={"country": 150, "climate": 8}))
    size = net.tower.image_size
    cent = torch.stack([torch.rand(cells) * 140 - 60, torch.rand(cells) * 360 - 180], 1).numpy()
    loss_fn = GeocellTrainingLoss(cent, target_form="softmax")
    opt = torch.optim.AdamW([p for p in net.parameters() if p.requires_grad], 1e-4)
    x = torch.randn(batch, views, 3, size, size)
    b = {"lat": torch.rand(batch) * 120 - 60, "lon": torch.rand(batch) * 360 - 180,
         "cell": torch.randint(0, cells, (batch,)), "country": torch.randint(0, 150, (batch,)),
         "climate": torch.randint(0, 8, (batch,)), "ok": torch.ones(batch, dtype=torch.bool)}

    def step() -> None:
        out = loss_fn(net(x), b)
        loss = sum(v for k, v in out.items() if k.endswith("_loss"))
        opt.zero_grad()
        loss.backward()
        opt.step()

    return step


def pretrain_step(batch: int, tower: str):
    import open_clip

    from geoloc.model import build_clip
    from representation.losses import InfoNCELoss

    clip = build_clip(tower)
    size = clip.visual.image_size[0] if isinstance(clip.visual.image_size, tuple) else clip.visual.image_size
    loss = InfoNCELoss.clip()
    opt = torch.optim.AdamW(list(clip.parameters()) + list(loss.parameters()), 1e-4)
    x = torch.randn(batch, 3, size, size)
    tok = open_clip.get_tokenizer(tower)(
        ["A street view photo close to the town of Arles in the region of Provence in France. "
         "This location has a Mediterranean climate."] * batch)

    def step() -> None:
        out = loss(clip.encode_image(x), clip.encode_text(tok))
        opt.zero_grad()
        out.backward()
        opt.step()

    return step


def embed_fn(batch: int, views: int, tower: str):
    from geoloc.model import GeoModel, GeoModelConfig

    net = GeoModel(GeoModelConfig(num_cells=100, tower=tower)).eval()
    size = net.tower.image_size
    x = torch.randn(batch, views, 3, size, size)

    @torch.no_grad()
    def step() -> None:
        net.embed(x)

    return step


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tower", default="geoloc-tiny-vit")
    ap.add_argument("--steps", type=int, default=5, help="timed steps per row")
    ap.add_argument("--batch", type=int, default=64, help="locations per fine-tuning step")
    ap.add_argument("--views", type=int, default=4)
    ap.add_argument("--cells", type=int, default=250)
    ap.add_argument("--pretrain-batch", type=int, default=128)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--bundle", type=Path, default=None, help="also print this bundle's card metrics")
    ap.add_argument("--json", type=Path, default=None, help="write the rows as JSON")
    args = ap.parse_args(argv)
    rows = []
    for t in args.threads:
        torch.set_num_threads(t)
        torch.manual_seed(0)
        for name, fn, unit in (
            (f"fine-tune step (B={args.batch} x {args.views} views)", finetune_step(args.batch, args.views,
                                                                                   args.cells, args.tower), "step"),
            (f"pretrain step (B={args.pretrain_batch} image+caption)", pretrain_step(args.pretrain_batch, args.tower),
             "step"),
            (f"embed (B={args.batch} x {args.views} views, no grad)", embed_fn(args.batch, args.views, args.tower),
             "batch"),
        ):
            wall, cpu = _timed(fn, args.steps)
            rows.append({"threads": t, "what": name, "wall_s": wall, "cpu_s": cpu, "unit": unit})
            print(f"| {t} | {name} | {wall:.3f} | {cpu:.3f} |", file=sys.stderr)
    print("| threads | what | wall s / unit | CPU s / unit |")
    print("|---:|---|---:|---:|")
    for r in rows:
        print(f"| {r['threads']} | {r['what']} | {r['wall_s']:.3f} | {r['cpu_s']:.3f} |")
    if args.bundle is not None:
        cfg = json.loads((args.bundle / "config.json").read_text())
        card = cfg["card"]
        print("\n| metric | value |\n|---|---|")
        for k, v in (card.get("metrics") or {}).items():
            print(f"| {k} | {v} |")
        print("\ntraining:", json.dumps(card.get("training", {})))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
