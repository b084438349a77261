"""Token-level language-model losses with loss masks and per-sample normalisation.

BLOOMZ / xP3 (Muennighoff et al., "Crosslingual Generalization through Multitask Finetuning",
ACL 2023) fine-tune with the loss on target tokens only and, in packed sequences, normalise it
per sample (Megatron-DeepSpeed ``--loss-on-targets-only --norm-target-loss``): every sample's
target tokens share a weight of 1, so a 2-token answer weighs as much as a 200-token one.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from representation.lm.packing import IGNORE


def token_nll(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Per-token negative log-likelihood [B, T] (0 where ``labels == -100``), computed in float32."""
    if logits.shape[:-1] != labels.shape:
        raise ValueError(f"logits {tuple(logits.shape)} and labels {tuple(labels.shape)} do not match")
    flat = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), labels.reshape(-1),
                           ignore_index=IGNORE, reduction="none")
    return flat.view(labels.shape)


def sample_weights(labels: torch.Tensor, segment_ids: torch.Tensor | None, normalize: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Token weights [B, T] and the number of terms they are averaged over (0-d).

    ``normalize``: "sample" gives every target token of a sample (segment of a row; a whole row
    when ``segment_ids`` is None) the weight ``1 / (its sample's target count)`` and counts
    samples with at least one target; "token" weights every target token 1 and counts tokens.
    """
    target = labels != IGNORE
    if normalize == "token":
        w = target.to(torch.float32)
        return w, w.sum()
    if normalize != "sample":
        raise ValueError(f"normalize must be 'sample' or 'token', got {normalize!r}")
    seg = segment_ids if segment_ids is not None else torch.ones_like(labels)
    rows = torch.arange(labels.shape[0], device=labels.device).unsqueeze(1).expand_as(labels)
    key = rows * (int(seg.max()) + 1 if seg.numel() else 1) + seg  # one id per (row, segment)
    counts = torch.zeros(int(key.max()) + 1 if key.numel() else 1, device=labels.device)
    counts.index_add_(0, key[target], torch.ones(int(target.sum()), device=labels.device))
    per_tok = counts[key]
    w = torch.where(target, 1.0 / per_tok.clamp_min(1.0), torch.zeros_like(per_tok))
    return w, (counts > 0).sum().to(torch.float32)


def target_only_lm_loss(logits: torch.Tensor, labels: torch.Tensor, segment_ids: torch.Tensor | None = None,
                        *, normalize: str = "sample") -> tuple[torch.Tensor, torch.Tensor]:
    """``(sum of weighted token losses, number of terms)`` for :func:`representation.distributed.rank_mean`.

    Args:
        logits: [B, T, V]; labels: [B, T] next-token targets, -100 where no loss (inputs,
            padding, segment ends: see :func:`representation.lm.packing.causal_labels`).
        segment_ids: [B, T] sample ids inside packed rows (0 = padding), or None.
        normalize: "sample" (BLOOMZ ``--norm-target-loss``) or "token" (plain mean over target tokens).
    """
    w, count = sample_weights(labels, segment_ids, normalize)
    return (token_nll(logits, labels) * w).sum(), count
