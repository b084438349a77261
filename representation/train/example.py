"""Runnable example: train a two-tower encoder on the synthetic geolocation toy with the
Trainer (InfoNCE with in-batch haversine soft targets, or SigLIP).

Single process:   python -m representation.train.example --out runs/toy
torchrun (CPU):   torchrun --standalone --nproc_per_node=2 -m representation.train.example --out runs/toy --device cpu
torchrun (GPUs):  torchrun --standalone --nproc_per_node=4 -m representation.train.example --out runs/toy --precision bf16
"""

from __future__ import annotations

import argparse
from typing import Any

import torch

from representation.distributed import gather_features
from representation.losses import InfoNCELoss, SigLIPLoss
from representation.targets import haversine_kernel_targets
from representation.testing.toys import GeoObserver, random_locations
from representation.train import PairLoss, TrainConfig, Trainer


class ToyGeoViews(torch.utils.data.Dataset):
    """Item i: (view1 [32], view2 [32], lat, lon) of training place i (degrees)."""

    def __init__(self, n: int = 4096, noise: float = 1.0, seed: int = 0) -> None:
        obs = GeoObserver(noise=noise, seed=seed)
        self.lat, self.lon = random_locations(n, seed + 1)
        self.v1 = obs.observe(self.lat, self.lon, seed=seed + 11)
        self.v2 = obs.observe(self.lat, self.lon, seed=seed + 12)

    def __len__(self) -> int:
        return self.lat.shape[0]

    def __getitem__(self, i: int) -> tuple[torch.Tensor, ...]:
        return self.v1[i], self.v2[i], self.lat[i].float(), self.lon[i].float()


class Siamese(torch.nn.Module):
    def __init__(self, d_in: int = 32, d: int = 64) -> None:
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Linear(d_in, 128), torch.nn.GELU(), torch.nn.Linear(128, d))

    def forward(self, batch: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, torch.Tensor]:
        return self.net(batch[0]), self.net(batch[1])


def geo_targets(tau_km: float) -> Any:
    """Global [W*n, W*n] haversine-kernel targets from the gathered batch coordinates."""
    def build(batch: tuple[torch.Tensor, ...]) -> dict[str, torch.Tensor]:
        lat, lon = gather_features(batch[2]), gather_features(batch[3])
        return {"targets": haversine_kernel_targets(lat, lon, lat, lon, tau_km)}
    return build


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="output directory (checkpoints, metrics.jsonl)")
    ap.add_argument("--loss", choices=["geo-infonce", "infonce", "siglip"], default="geo-infonce")
    ap.add_argument("--tau-km", type=float, default=600.0)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--batch-size", type=int, default=128, help="per rank")
    ap.add_argument("--micro-batch-size", type=int, default=None)
    ap.add_argument("--precision", choices=["fp32", "bf16", "fp16"], default="fp32")
    ap.add_argument("--device", default="auto")
    args = ap.parse_args(argv)
    loss: torch.nn.Module
    if args.loss == "siglip":
        loss = PairLoss(SigLIPLoss(chunk_size=256))
    elif args.loss == "infonce":
        loss = PairLoss(InfoNCELoss(temperature=0.1))
    else:
        loss = PairLoss(InfoNCELoss(temperature=0.1), target_fn=geo_targets(args.tau_km))
    torch.manual_seed(0)
    cfg = TrainConfig(out_dir=args.out, total_steps=args.steps, batch_size=args.batch_size,
                      micro_batch_size=args.micro_batch_size, lr=2e-3, warmup_steps=10, grad_clip=1.0,
                      precision=args.precision, device=args.device, checkpoint_every=100, log_every=10)
    result = Trainer(Siamese(), loss, ToyGeoViews(), cfg).fit()
    if torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
    print(f"done: step {result['step']}, last loss {result['last'].get('loss', float('nan')):.4f}")


if __name__ == "__main__":
    main()
