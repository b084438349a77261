"""A tiny real training run for the kill-and-resume test: ``python resume_script.py OUT_DIR`` or
:func:`run_marked` in a forked child.

Prints ``STEP n`` after every optimizer step and ``SAVE-BEGIN n`` / ``SAVE-MID n`` /
``SAVE-END n`` around every checkpoint write (``SAVE-MID`` is printed inside the write, after the
weights file and before the trainer state, followed by a short pause) so that the test can
SIGKILL the process at chosen moments. ``train(out_dir)`` runs the same training in-process.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch

from representation.losses import InfoNCELoss
from representation.train import PairLoss, TrainConfig, Trainer
from representation.train import checkpoint as ckpt

TOTAL_STEPS, CHECKPOINT_EVERY = 12, 3


class Towers(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.img = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.Tanh(), torch.nn.Dropout(0.2),
                                       torch.nn.Linear(16, 6))
        self.txt = torch.nn.Linear(5, 6)

    def forward(self, batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        return self.img(batch[0]), self.txt(batch[1])


def dataset() -> torch.utils.data.TensorDataset:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(20, 8, generator=g, dtype=torch.float64)
    return torch.utils.data.TensorDataset(x, x[:, :5] + 0.3 * torch.randn(20, 5, generator=g, dtype=torch.float64))


class MarkedTrainer(Trainer):
    def train_step(self, batch):
        out = super().train_step(batch)
        print(f"STEP {self.step + 1}", flush=True)
        return out

    def save(self) -> Path:
        print(f"SAVE-BEGIN {self.step}", flush=True)
        path = super().save()
        print(f"SAVE-END {self.step}", flush=True)
        return path


def train(out_dir: str, *, marked: bool = False) -> dict[str, torch.Tensor]:
    torch.set_num_threads(1)
    torch.manual_seed(123)  # model init; a resumed run loads the checkpoint instead
    model = Towers().double()
    loss = PairLoss(InfoNCELoss.clip()).double()
    cfg = TrainConfig(out_dir=out_dir, total_steps=TOTAL_STEPS, batch_size=6, micro_batch_size=4, lr=0.05,
                      warmup_steps=2, grad_clip=1.0, checkpoint_every=CHECKPOINT_EVERY, keep_checkpoints=2,
                      log_every=1, progress=False, device="cpu", seed=7)
    trainer = (MarkedTrainer if marked else Trainer)(model, loss, dataset(), cfg)
    trainer.fit()
    return {**{f"model.{k}": v for k, v in model.state_dict().items()},
            **{f"loss.{k}": v for k, v in loss.state_dict().items()}}


def _slow_write_main(final, modules, state):
    tmp = ckpt.tmp_dir_for(final)
    if tmp.exists():
        import shutil

        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    ckpt.save_file(ckpt.flat_state(modules), str(tmp / ckpt.WEIGHTS))
    print(f"SAVE-MID {state['step']}", flush=True)
    time.sleep(0.5)
    torch.save(state, tmp / ckpt.STATE)


def run_marked(out_dir: str) -> None:
    """The marked run (slow checkpoint writes, ``DONE`` at the end)."""
    ckpt.write_main = _slow_write_main  # the test kills inside this write
    train(out_dir, marked=True)
    print("DONE", flush=True)


if __name__ == "__main__":
    run_marked(sys.argv[1])
