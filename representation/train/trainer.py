"""Device-agnostic training loop for contrastive / multi-task representation models.

``Trainer(model, loss_fn, dataset, config).fit()``:

* ``model(batch) -> features`` (tensor or tuple/dict of tensors, leading dim = batch);
  ``loss_fn(features, batch) -> {"<name>_loss": ..., "logs": {...}}`` (summed with
  :func:`representation.losses.sum_losses`). ``loss_fn`` may be an ``nn.Module`` with
  parameters (a learnable logit scale); they are optimised, checkpointed and averaged
  across ranks like the model's.
* torchrun-ready: reads RANK / WORLD_SIZE / LOCAL_RANK, initialises the process group
  (NCCL on CUDA, gloo on CPU), wraps the model in DistributedDataParallel, and shards the
  data with a seeded DistributedSampler (drop_last, so every rank has the same batch size,
  which the feature gather needs).
* ``micro_batch_size < batch_size``: GradCache accumulation (see ``gradcache.py``).
* bf16 / fp16 autocast on CUDA (fp16 with a GradScaler); no-op on CPU.
* AdamW by default, warmup + cosine, global-norm clipping, JSONL metrics (+ TensorBoard),
  tqdm progress on rank 0.
* checkpoint / resume: weights as safetensors, optimizer / scheduler / scaler / data
  position / per-rank RNG state; resuming continues the same data order and RNG streams,
  so a killed-and-resumed CPU run ends with the same weights as an uninterrupted one.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler
from tqdm.auto import tqdm

from representation.distributed.launch import (
    DistEnv,
    average_gradients,
    barrier,
    broadcast_parameters,
    init_from_env,
)
from representation.errors import DataError, ResumeError
from representation.losses.base import sum_losses
from representation.train import checkpoint as ckpt
from representation.train.config import TrainConfig
from representation.train.gradcache import grad_cache_backward, tree_map, upcast
from representation.train.metrics import MetricsLogger, scalarize
from representation.train.schedule import warmup_cosine_scheduler

LossFn = Callable[[Any, Any], dict[str, Any]]


class EpochBatches:
    """Batch sampler of one rank: whole batches of the seeded ``DistributedSampler`` permutation of
    epoch :attr:`epoch` (``drop_last``, so every rank has the same number of equal batches), from
    batch :attr:`skip` on. The Trainer sets both attributes before each pass, so one DataLoader (and
    its persistent workers) serves every epoch; the indices are made in the main process."""

    def __init__(self, dataset: Dataset, world_size: int, rank: int, seed: int, batch_size: int) -> None:
        self.dataset, self.world_size, self.rank, self.seed = dataset, world_size, rank, seed
        self.batch_size = batch_size
        self.epoch, self.skip = 0, 0

    def batches(self) -> list[list[int]]:
        sampler = DistributedSampler(self.dataset, num_replicas=self.world_size, rank=self.rank, shuffle=True,
                                     seed=self.seed, drop_last=True)
        sampler.set_epoch(self.epoch)
        idx = list(sampler)
        bs = self.batch_size
        return [idx[s:s + bs] for s in range(self.skip * bs, len(idx) - bs + 1, bs)]

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self.batches())

    def __len__(self) -> int:
        return len(self.batches())


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (CPU and all CUDA devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


class Trainer:
    """See module docstring. Construct on every rank with identical arguments.

    Args:
        model: embedding model (moved to the device; wrapped in DDP when world_size > 1).
        loss_fn: callable (or nn.Module) on (features, batch) returning a ``*_loss`` dict.
        dataset: map-style dataset; ``collate_fn`` builds a batch tree from samples.
        config: :class:`TrainConfig`.
        optimizer_factory: ``params -> Optimizer``; default AdamW(lr, betas, weight_decay).
    """

    def __init__(self, model: torch.nn.Module, loss_fn: LossFn, dataset: Dataset, config: TrainConfig, *,
                 collate_fn: Callable[[list[Any]], Any] | None = None,
                 optimizer_factory: Callable[[list[torch.nn.Parameter]], torch.optim.Optimizer] | None = None
                 ) -> None:
        self.cfg = config
        self.env: DistEnv = init_from_env(config.device)
        self.device = self.env.device
        self.model = model.to(self.device)
        self.loss_fn = loss_fn.to(self.device) if isinstance(loss_fn, torch.nn.Module) else loss_fn
        self.loss_params = ([p for p in loss_fn.parameters() if p.requires_grad]
                            if isinstance(loss_fn, torch.nn.Module) else [])
        self.dataset = dataset
        self.collate_fn = collate_fn
        self.run_model: torch.nn.Module = self.model
        broadcast_parameters(self.loss_params)  # the model's are broadcast by DDP itself
        if self.env.world_size > 1:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.run_model = torch.nn.parallel.DistributedDataParallel(self.model, device_ids=ids)
        params = [p for p in self.model.parameters() if p.requires_grad] + self.loss_params
        self.params = params
        self.optimizer = (optimizer_factory(params) if optimizer_factory is not None else
                          torch.optim.AdamW(params, lr=config.lr, betas=config.betas,
                                            weight_decay=config.weight_decay))
        self.scheduler = warmup_cosine_scheduler(self.optimizer, config.warmup_steps, config.total_steps,
                                                 config.min_lr_ratio)
        cuda = self.device.type == "cuda"
        self.scaler = torch.amp.GradScaler("cuda", enabled=cuda and config.precision == "fp16")
        self.amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(config.precision)
        self.step = 0
        self.epoch = 0
        self.batch_in_epoch = 0
        self.out_dir = Path(config.out_dir)
        self._loader: DataLoader | None = None
        self._batches: EpochBatches | None = None

    # ------------------------------------------------------------------ helpers
    def autocast(self) -> AbstractContextManager[Any]:
        if self.device.type == "cuda" and self.amp_dtype is not None:
            return torch.autocast(device_type="cuda", dtype=self.amp_dtype)
        return nullcontext()

    def modules(self) -> dict[str, torch.nn.Module]:
        mods = {"model": self.model}
        if isinstance(self.loss_fn, torch.nn.Module):
            mods["loss"] = self.loss_fn
        return mods

    def batches_per_epoch(self) -> int:
        n = len(self.dataset)  # type: ignore[arg-type]
        per_rank = n // self.env.world_size
        return per_rank // self.cfg.batch_size

    def _loader_options(self) -> dict[str, Any]:
        workers = self.cfg.num_workers
        return {"collate_fn": self.collate_fn, "num_workers": workers, "pin_memory": self.device.type == "cuda",
                "prefetch_factor": self.cfg.prefetch_factor if workers > 0 else None}

    def epoch_loader(self, epoch: int, skip_batches: int) -> Iterator[Any]:
        """Batches of this rank for ``epoch`` (seeded permutation), skipping the first ``skip_batches``.

        ONE DataLoader serves the whole run (its worker processes persist across epochs); its batch
        sampler (:class:`EpochBatches`) is pointed at the epoch before each pass."""
        if self._loader is None:
            self._batches = EpochBatches(self.dataset, self.env.world_size, self.env.rank, self.cfg.seed,
                                         self.cfg.batch_size)
            # a private generator: creating the loader iterator must not draw from the global RNG,
            # or a resumed run (new iterator mid-epoch) would see different dropout masks
            gen = torch.Generator().manual_seed(self.cfg.seed * 1_000_003)
            self._loader = DataLoader(self.dataset, batch_sampler=self._batches, generator=gen,
                                      persistent_workers=self.cfg.num_workers > 0, **self._loader_options())
        self._batches.epoch, self._batches.skip = epoch, skip_batches
        yield from self._loader

    def to_device(self, batch: Any) -> Any:
        return tree_map(lambda t: t.to(self.device, non_blocking=True), batch)

    # ------------------------------------------------------------------ checkpoints
    def save(self) -> Path:
        final = ckpt.checkpoint_dir(self.out_dir, self.step)
        state = {"step": self.step, "epoch": self.epoch, "batch_in_epoch": self.batch_in_epoch,
                 "optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                 "scaler": self.scaler.state_dict(), "config": self.cfg.to_dict(),
                 "world_size": self.env.world_size}
        if self.env.is_main:
            ckpt.write_main(final, self.modules(), state)
        barrier()
        ckpt.write_rng(final, self.env.rank, self.device)
        barrier()
        if self.env.is_main:
            ckpt.publish(final, self.cfg.keep_checkpoints)
            ckpt.write_text_atomic(self.out_dir / "config.json", json.dumps(self.cfg.to_dict(), indent=1))
        barrier()
        return final

    def load(self, path: Path) -> None:
        state = ckpt.read(path, self.modules(), self.env.rank, self.device)
        if state.get("world_size", 1) != self.env.world_size:
            raise ResumeError(f"checkpoint {path} was written with world_size {state.get('world_size')}, "
                             f"now {self.env.world_size}: the data order would not continue")
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        self.step, self.epoch, self.batch_in_epoch = state["step"], state["epoch"], state["batch_in_epoch"]

    # ------------------------------------------------------------------ training
    def train_step(self, batch: Any) -> dict[str, Any]:
        """One optimizer step on this rank's batch; returns the loss dict plus grad_norm / lr."""
        self.model.train()
        if isinstance(self.loss_fn, torch.nn.Module):
            self.loss_fn.train()
        self.optimizer.zero_grad(set_to_none=True)
        micro = self.cfg.micro_batch_size
        if micro is not None and micro < self.cfg.batch_size:
            no_sync = getattr(self.run_model, "no_sync", None)
            out = grad_cache_backward(self.run_model, self.loss_fn, batch, micro, device=self.device,
                                      autocast=self.autocast, scale_loss=self.scaler.scale,
                                      no_sync=no_sync, raw_model=self.model)
        else:
            with self.autocast():
                feats = self.run_model(batch)
            feats = tree_map(upcast, feats)
            out = self.loss_fn(feats, batch)
            self.scaler.scale(sum_losses(out)).backward()
        average_gradients(self.loss_params)
        self.scaler.unscale_(self.optimizer)
        grad_norm = None
        if self.cfg.grad_clip is not None:
            grad_norm = torch.nn.utils.clip_grad_norm_(self.params, self.cfg.grad_clip)
        lr = self.optimizer.param_groups[0]["lr"]
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        logs = {k: v for k, v in out.items() if k.endswith("_loss")}
        logs["loss"] = sum_losses(out).detach()
        logs["lr"] = lr
        if grad_norm is not None:
            logs["grad_norm"] = grad_norm
        if isinstance(out.get("logs"), dict):
            logs["logs"] = out["logs"]
        return logs

    def fit(self, stop_at_step: int | None = None) -> dict[str, Any]:
        """Train until ``config.total_steps`` (or ``stop_at_step``, which saves and returns
        as if killed right after a checkpoint). Resumes from the newest checkpoint in
        ``out_dir`` when ``config.resume``. Returns ``{"step", "last": {metric: value}}``."""
        found = ckpt.latest_checkpoint(self.out_dir) if self.cfg.resume else None
        if found is not None:
            self.load(found)
        else:
            seed_everything(self.cfg.seed + self.env.rank)
        if self.env.is_main:  # rows of steps after the checkpoint (or of a run killed before its first
            MetricsLogger.truncate(self.out_dir, self.step)  # checkpoint) will be written again
        end = min(self.cfg.total_steps, stop_at_step or self.cfg.total_steps)
        per_epoch = self.batches_per_epoch()
        if per_epoch < 1:
            raise DataError(f"dataset of {len(self.dataset)} samples is smaller than one global batch "  # type: ignore[arg-type]
                             f"({self.cfg.batch_size} x {self.env.world_size} ranks)")
        logger = MetricsLogger(self.out_dir, self.cfg.tensorboard) if self.env.is_main else None
        bar = tqdm(total=end, initial=self.step, disable=not (self.cfg.progress and self.env.is_main),
                   desc="train", dynamic_ncols=True)
        last: dict[str, float] = {}
        t0 = time.time()
        try:
            while self.step < end:
                for batch in self.epoch_loader(self.epoch, self.batch_in_epoch):
                    logs = self.train_step(self.to_device(batch))
                    self.step += 1
                    self.batch_in_epoch += 1
                    bar.update(1)
                    # reading a device scalar waits for the GPU: only on logging steps
                    if self.step % self.cfg.log_every == 0 or self.step == end:
                        last = scalarize(logs)
                        bar.set_postfix(loss=f"{last['loss']:.4f}")
                        if logger is not None:
                            logger.write(self.step, {**last, "time_s": time.time() - t0, "epoch": self.epoch})
                    if self.step % self.cfg.checkpoint_every == 0 and self.step < end:
                        self.save()
                    if self.step >= end:
                        break
                if self.batch_in_epoch >= per_epoch:
                    self.epoch += 1
                    self.batch_in_epoch = 0
            self.save()
        finally:
            bar.close()
            if logger is not None:
                logger.close()
        return {"step": self.step, "last": last}
