"""Expected GPU time and memory of the real-data recipe (PIGEOTTO on OSV-5M), from FLOP counts.

No GPU is lent to this project's machine, so nothing here is a GPU measurement. The FLOPs are counted
exactly by ``torch.utils.flop_counter.FlopCounterMode`` on the real open_clip architecture built on
PyTorch's ``meta`` device (shapes only: no weights, no compute, no download); the times divide them by a
GPU's dense bf16 peak times an assumed model-FLOP utilisation (MFU, ``--mfu``); the memory is the
parameter, gradient and AdamW state bytes plus the activation bytes per sample of a transformer layer
from Korthikanti et al. 2022 (``s*b*h*(34 + 5*a*s/h)`` bytes in 16-bit, without / with recomputation).

Steps counted (the ``pigeotto`` preset; ``--tower``, ``--image-size`` to change):

* pretraining: image + caption forward and backward through both towers (InfoNCE), ``pretrain_batch_size``
  per step;
* fine-tuning: forward through the whole image tower, backward only through the last block, the final
  norm / projection and the geocell head (PIGEON's ``freeze=all_but_last``), ``batch_size`` per step;
* inference (refine build over the training set, evaluation): image forward only.

Run:  .venv/bin/python benchmarks/bench_recipe.py [--gpus 8] [--mfu 0.35] [--train-images 4894685]
"""

from __future__ import annotations

import argparse

import torch
from machine import machine_summary

GPUS = {  # dense bf16 peak TFLOP/s (vendor data sheets) and memory GiB
    "A100 80GB SXM": (312.0, 80),
    "H100 80GB SXM": (989.0, 80),
    "H200 141GB SXM": (989.0, 141),
}


def meta_clip(tower: str, image_size: int):
    import open_clip
    from open_clip.model import CLIP

    cfg = open_clip.get_model_config(tower)
    if cfg is None:
        raise SystemExit(f"unknown open_clip architecture {tower!r}")
    cfg = dict(cfg)
    cfg["vision_cfg"] = {**cfg["vision_cfg"], "image_size": image_size}
    with torch.device("meta"):
        return CLIP(**cfg), cfg


def flops(fn) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as fc:
        fn()
    return float(fc.get_total_flops())


def count(model, image_size: int, n_head_classes: int) -> dict[str, float]:
    """FLOPs per sample: image forward, caption forward, pretraining (both, fwd + bwd), fine-tuning step
    (fwd through all, bwd through the last block + head)."""
    b = 2
    x = torch.empty(b, 3, image_size, image_size, device="meta")
    t = torch.zeros(b, 77, dtype=torch.long, device="meta")
    for p in model.parameters():
        p.requires_grad_(False)
    img = flops(lambda: model.encode_image(x)) / b
    txt = flops(lambda: model.encode_text(t)) / b
    for p in model.parameters():
        p.requires_grad_(True)
    pre = flops(lambda: (model.encode_image(x).sum() + model.encode_text(t).sum()).backward()) / b
    for p in model.parameters():
        p.requires_grad_(False)
    visual = model.visual
    trainable = [visual.transformer.resblocks[-1], visual.ln_post]
    for mod in trainable:
        for p in mod.parameters():
            p.requires_grad_(True)
    if isinstance(visual.proj, torch.nn.Parameter):
        visual.proj.requires_grad_(True)
    width = visual.transformer.width
    with torch.device("meta"):
        head = torch.nn.Linear(width, n_head_classes)

    def finetune():
        visual.output_tokens = True
        _, tokens = visual(x)
        visual.output_tokens = False
        head(tokens.mean(1)).sum().backward()

    ft = flops(finetune) / b
    return {"image_fwd": img, "text_fwd": txt, "pretrain": pre, "finetune": ft}


def activation_bytes(model, image_size: int) -> tuple[float, float]:
    """Bytes per sample of the image tower's activations kept for the backward pass (16-bit): all layers
    (no recomputation), and with recomputation (one layer's plus each layer's input)."""
    v = model.visual
    patch = v.conv1.kernel_size[0]
    s = (image_size // patch) ** 2 + 1
    h = v.transformer.width
    a = v.transformer.resblocks[0].attn.num_heads
    n_layers = len(v.transformer.resblocks)
    per_layer = s * h * (34 + 5 * a * s / h)
    return n_layers * per_layer, per_layer + n_layers * 2 * s * h


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tower", default="ViT-L-14-336")
    ap.add_argument("--image-size", type=int, default=336)
    ap.add_argument("--gpus", type=int, default=8, help="GPUs in the job (data parallel)")
    ap.add_argument("--mfu", type=float, default=0.35, help="assumed model-FLOP utilisation")
    ap.add_argument("--pretrain-steps", type=int, default=20_000)
    ap.add_argument("--pretrain-batch", type=int, default=256, help="per GPU")
    ap.add_argument("--finetune-steps", type=int, default=20_000)
    ap.add_argument("--finetune-batch", type=int, default=256, help="per GPU")
    ap.add_argument("--train-images", type=int, default=4_894_685, help="OSV-5M train (refine build embeds all)")
    ap.add_argument("--eval-images", type=int, default=210_122, help="OSV-5M test")
    ap.add_argument("--cells", type=int, default=2_000, help="geocell head classes")
    args = ap.parse_args()
    print(f"machine: {machine_summary()}")
    model, _ = meta_clip(args.tower, args.image_size)
    n_params = sum(p.numel() for p in model.parameters())
    n_visual = sum(p.numel() for p in model.visual.parameters())
    c = count(model, args.image_size, args.cells)
    full, recompute = activation_bytes(model, args.image_size)
    print(f"\n## {args.tower} at {args.image_size} px: FLOPs counted on the meta device\n")
    print(f"parameters: {n_params / 1e6:.1f} M (image tower {n_visual / 1e6:.1f} M)\n")
    print("| per sample | GFLOP |")
    print("|---|---:|")
    for k, label in (("image_fwd", "image forward"), ("text_fwd", "caption forward (77 tokens)"),
                     ("pretrain", "pretraining: image + caption, forward + backward"),
                     ("finetune", "fine-tuning (freeze all but the last block): forward + backward")):
        print(f"| {label} | {c[k] / 1e9:.1f} |")
    stages = [
        ("caption pretraining", args.pretrain_steps * args.pretrain_batch * args.gpus * c["pretrain"]),
        ("geocell fine-tuning", args.finetune_steps * args.finetune_batch * args.gpus * c["finetune"]),
        (f"refine build (embed {args.train_images:,} train images)", args.train_images * c["image_fwd"]),
        (f"evaluation ({args.eval_images:,} test images)", args.eval_images * c["image_fwd"]),
    ]
    print(f"\n## Expected wall time on {args.gpus} GPUs at an assumed {args.mfu:.0%} MFU (estimate, not measured)\n")
    print("| stage | total PFLOP | " + " | ".join(GPUS) + " |")
    print("|---|---:|" + "---:|" * len(GPUS))
    totals = dict.fromkeys(GPUS, 0.0)
    for label, total in stages:
        cells = []
        for name, (tflops, _) in GPUS.items():
            hours = total / (args.gpus * tflops * 1e12 * args.mfu) / 3600
            totals[name] += hours
            cells.append(f"{hours:.1f} h")
        print(f"| {label} | {total / 1e15:,.0f} | " + " | ".join(cells) + " |")
    print("| **all** | | " + " | ".join(f"**{h:.1f} h**" for h in totals.values()) + " |")
    state_gb = n_params * 16 / 2**30            # fp32 weights + grads + AdamW m, v
    print("\n## Memory per GPU (estimate)\n")
    print(f"weights + gradients + AdamW state (fp32, all parameters trained): {state_gb:.1f} GiB; "
          f"activations per image, bf16: {full / 2**20:.0f} MiB without recomputation, {recompute / 2**20:.0f} "
          f"MiB with gradient checkpointing\n")
    print("| pretraining micro-batch (images per forward) | activations, no recomputation | with recomputation |")
    print("|---:|---:|---:|")
    for mb in (16, 32, 64, 128, 256):
        print(f"| {mb} | {state_gb + mb * full / 2**30:.0f} GiB | {state_gb + mb * recompute / 2**30:.0f} GiB |")


if __name__ == "__main__":
    main()
