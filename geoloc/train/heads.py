"""Heads on cached tower embeddings: PIGEON's fine-tuning stage on a frozen tower, in seconds.

PIGEON trains its geocell (and auxiliary) heads on a mostly frozen pretrained tower. With the
tower frozen, each view's embedding never changes, so it is computed once
(:func:`geoloc.train.embed.embed_dataset` with ``per_view=True``: [N, V, D]) and the heads are
trained on the cache for many epochs at a tiny fraction of a tower step's cost:
:func:`fit_heads`. The fused embedding of a location is the mean of its views (PIGEON's
fusion), optionally over a random subset of the views per step (``view_dropout``: the heads
then also work on fewer views, e.g. one-view NMPZ games).

This is what the ablation benchmark's head variants train on, and the default model's last
training stage.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from geoloc.model import GEOCELL, multitask_loss
from representation.train.schedule import warmup_cosine_scheduler


def fuse_views(emb: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
    """Mean over views of ``emb`` [B, V, D] (``keep`` [B, V] bool: the views to average; each row
    must keep at least one) -> [B, D]."""
    if keep is None:
        return emb.mean(dim=1)
    w = keep.to(emb.dtype).unsqueeze(-1)
    return (emb * w).sum(dim=1) / w.sum(dim=1).clamp_min(1.0)


def fit_heads(heads: torch.nn.Module, emb: np.ndarray | torch.Tensor, lat: np.ndarray, lon: np.ndarray,
              labels: Mapping[str, np.ndarray], cell_centroids: np.ndarray, *, epochs: int = 20,
              batch_size: int = 256, lr: float = 3e-3, weight_decay: float = 0.01, tau_km: float = 75.0,
              smooth: bool = True, target_form: str = "softmax", weights: Mapping[str, float] | None = None,
              view_dropout: float = 0.0, seed: int = 0, progress: bool = False, per_view: bool = False,
              extra_loss: Callable[[dict[str, torch.Tensor], torch.Tensor], torch.Tensor] | None = None,
              rows: np.ndarray | None = None) -> dict[str, Any]:
    """Train ``heads`` (``{task: logits}`` from [B, D]) in place on cached view embeddings.

    Args:
        emb: [N, V, D] per-view embeddings of N training locations (rows with a NaN are skipped).
        lat, lon: [N] locations in degrees.
        labels: ``{"geocell": [N] cell index, <aux task>: [N] class index or -1}``.
        cell_centroids: [C, 2] (lat, lon) degrees.
        epochs, batch_size, lr, weight_decay: AdamW with a linear warmup (5 %) and cosine decay.
        tau_km, smooth, target_form, weights: the geocell loss (:func:`geoloc.model.multitask_loss`).
        view_dropout: per-view probability of leaving a view out of the mean in a step.
        seed: the data order and the view dropout.
        per_view: ``heads`` fuse the views themselves: they are called as ``heads(views [B, V, D],
            keep [B, V] bool or None)`` instead of on the mean (view-attention heads,
            :mod:`geoloc.train.head_options`).
        extra_loss: ``(outputs, batch row indices [B]) -> scalar`` added to the loss (a method's own
            term, e.g. a regulariser on features the heads return under keys that are not tasks).
        rows: train only on these row indices of ``emb`` (default: every finite row).

    Returns:
        ``{"steps", "final_loss", "rows"}``.
    """
    x = torch.as_tensor(np.asarray(emb), dtype=torch.float32)
    if x.dim() != 3:
        raise ValueError(f"emb must be [N, V, D], got {tuple(x.shape)}")
    good = torch.isfinite(x).all(dim=2).all(dim=1)
    if rows is not None:
        keep_rows = torch.zeros_like(good)
        keep_rows[torch.as_tensor(np.asarray(rows), dtype=torch.long)] = True
        good = good & keep_rows
    rows = torch.nonzero(good).flatten()
    if rows.numel() == 0:
        raise ValueError("fit_heads: no finite embedding")
    lat_t = torch.as_tensor(np.asarray(lat), dtype=torch.float32)
    lon_t = torch.as_tensor(np.asarray(lon), dtype=torch.float32)
    lab = {k: torch.as_tensor(np.asarray(v), dtype=torch.long) for k, v in labels.items()}
    if GEOCELL not in lab:
        raise ValueError("labels must include 'geocell'")
    cent = torch.tensor(np.array(cell_centroids, dtype=np.float32))
    g = torch.Generator().manual_seed(int(seed))
    per_epoch = max(1, rows.numel() // batch_size)
    steps = max(1, int(epochs) * per_epoch)
    opt = torch.optim.AdamW(heads.parameters(), lr=lr, weight_decay=weight_decay)
    sched = warmup_cosine_scheduler(opt, warmup_steps=max(1, steps // 20), total_steps=steps)
    heads.train()
    loss = torch.zeros(())
    for _step in tqdm(range(steps), desc="heads", unit="step", disable=not progress):
        j = rows[torch.randint(rows.numel(), (min(batch_size, rows.numel()),), generator=g)]
        keep = None
        if view_dropout > 0:
            keep = torch.rand(j.numel(), x.shape[1], generator=g) >= view_dropout
            keep[:, 0] |= ~keep.any(dim=1)
        out = heads(x[j], keep) if per_view else heads(fuse_views(x[j], keep))
        loss, _ = multitask_loss(out, lat_t[j], lon_t[j], {k: v[j] for k, v in lab.items()}, cent, tau_km=tau_km,
                                 smooth=smooth, weights=dict(weights or {}), target_form=target_form)
        if extra_loss is not None:
            loss = loss + extra_loss(out, j)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    heads.eval()
    return {"steps": steps, "final_loss": float(loss.detach()), "rows": int(rows.numel())}


__all__ = ["fit_heads", "fuse_views"]
