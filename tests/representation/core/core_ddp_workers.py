"""Module-level helpers of the core tests and of the W = 2 / W = 3 DDP suite (tests/representation/ddp;
importable by spawn)."""

from __future__ import annotations

import torch

from representation.distributed import all_reduce_sum, gather_features, world
from representation.losses.infonce import InfoNCELoss


def rank_info_and_gather(rank: int, world_size: int, x: torch.Tensor) -> dict[str, object]:
    r, w = world()
    total = all_reduce_sum(torch.tensor(float(rank + 1)))
    n = x.shape[0] // world_size
    return {"rank": r, "world": w, "total": float(total), "gathered": gather_features(x[rank * n:(rank + 1) * n])}


class TwoTower(torch.nn.Module):
    """Tiny image/text two-tower model that owns its loss (so DDP also syncs the loss's
    learnable scale / bias)."""

    def __init__(self, loss: torch.nn.Module, d_img: int = 8, d_txt: int = 5, d: int = 6) -> None:
        super().__init__()
        self.img = torch.nn.Sequential(torch.nn.Linear(d_img, 16), torch.nn.Tanh(), torch.nn.Linear(16, d))
        self.txt = torch.nn.Linear(d_txt, d)
        self.loss = loss

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.loss(self.img(x), self.txt(y))


def make_two_tower(kind: str, seed: int = 0) -> TwoTower:
    from representation.losses.siglip import SigLIPLoss

    torch.manual_seed(seed)
    if kind == "infonce":
        loss: torch.nn.Module = InfoNCELoss.clip()
    else:
        loss = SigLIPLoss(chunk_size=3, dist_impl="ring" if kind == "siglip_ring" else "gather")
    return TwoTower(loss)


def train_two_tower(kind: str, xs: torch.Tensor, ys: torch.Tensor, lr: float = 0.2,
                    rank: int = 0, world_size: int = 1) -> dict[str, torch.Tensor]:
    """SGD on batches xs[s], ys[s] ([steps, B, d]); under DDP each rank takes its B/W shard."""
    model = make_two_tower(kind)
    run = model
    if world_size > 1:
        run = torch.nn.parallel.DistributedDataParallel(model)
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    n = xs.shape[1] // world_size
    for s in range(xs.shape[0]):
        opt.zero_grad()
        run(xs[s, rank * n:(rank + 1) * n], ys[s, rank * n:(rank + 1) * n]).backward()
        opt.step()
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def ddp_train_two_tower(rank: int, world_size: int, kinds: list[str], xs: torch.Tensor,
                        ys: torch.Tensor) -> dict[str, dict[str, torch.Tensor]]:
    return {kind: train_two_tower(kind, xs, ys, rank=rank, world_size=world_size) for kind in kinds}


class PairTowers(torch.nn.Module):
    """Two-tower model for the Trainer: batch (x [n, 8], y [n, 5]) -> (img [n, 6], txt [n, 6])."""

    def __init__(self, dropout: float = 0.0) -> None:
        super().__init__()
        self.img = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.Tanh(), torch.nn.Dropout(dropout),
                                       torch.nn.Linear(16, 6))
        self.txt = torch.nn.Linear(5, 6)

    def forward(self, batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = batch
        return self.img(x), self.txt(y)


def pair_dataset(n: int = 48, seed: int = 0, dtype: torch.dtype = torch.float64) -> torch.utils.data.TensorDataset:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 8, generator=g, dtype=dtype)
    y = x[:, :5] + 0.3 * torch.randn(n, 5, generator=g, dtype=dtype)
    return torch.utils.data.TensorDataset(x, y)


def run_trainer(out_dir: str, batch_size: int, total_steps: int, *, micro: int | None = None,
                stop_at: int | None = None, dropout: float = 0.0, model_seed: int = 0,
                checkpoint_every: int = 1000, kind: str = "infonce", loss_init_offset: float = 0.0
                ) -> dict[str, torch.Tensor]:
    from representation.losses.siglip import SigLIPLoss
    from representation.train import PairLoss, TrainConfig, Trainer

    torch.manual_seed(model_seed)
    model = PairTowers(dropout).double()
    loss = PairLoss(InfoNCELoss.clip() if kind == "infonce" else SigLIPLoss(chunk_size=4)).double()
    with torch.no_grad():
        for p in loss.parameters():
            p.add_(loss_init_offset)
    cfg = TrainConfig(out_dir=out_dir, total_steps=total_steps, batch_size=batch_size, micro_batch_size=micro,
                      lr=0.05, warmup_steps=2, grad_clip=1.0, checkpoint_every=checkpoint_every,
                      log_every=1, progress=False, device="cpu", seed=7)
    trainer = Trainer(model, loss, pair_dataset(), cfg)
    trainer.fit(stop_at_step=stop_at)
    state = {f"model.{k}": v.detach().clone() for k, v in model.state_dict().items()}
    state.update({f"loss.{k}": v.detach().clone() for k, v in loss.state_dict().items()})
    return state


def ddp_trainer(rank: int, world_size: int, out_dir: str) -> dict[str, torch.Tensor]:
    """2 ranks x batch 6 with GradCache micro-batches of 4 (uneven split 4+2) and a
    mid-run stop + resume, to compare with 1 process x batch 12."""
    # rank 1 starts with a different logit scale: the Trainer must broadcast rank 0's
    run_trainer(out_dir, 6, 5, micro=4, stop_at=2, checkpoint_every=2, loss_init_offset=0.5 * rank)
    return run_trainer(out_dir, 6, 5, micro=4, checkpoint_every=2, model_seed=99)
