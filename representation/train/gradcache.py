"""Gradient accumulation that keeps contrastive negatives correct (GradCache, Gao et al. 2021).

A contrastive loss over a batch of B samples couples all B embeddings, so plain gradient
accumulation over micro-batches changes the loss (each micro-batch only sees its own
negatives). GradCache instead:

1. embeds every micro-batch **without** autograd (remembering the RNG state of each pass);
2. concatenates the cached features, computes the full-batch loss on them, and backprops
   to get the loss's gradient with respect to every feature (and to the loss's own
   parameters, e.g. a learnable logit scale);
3. re-embeds each micro-batch **with** autograd under the remembered RNG state (same
   dropout masks) and backprops ``sum(features * feature_grads)``.

The accumulated parameter gradient equals the big-batch gradient exactly (up to float
rounding) for models whose forward treats samples independently, at the cost of one extra
forward pass; peak activation memory is one micro-batch.

Batch-dependent layers: BatchNorm in train mode normalises each micro-batch with its own
statistics, so GradCache does NOT equal the big batch there; it equals "embed every micro-batch
with gradient, then compute the loss on the concatenated features" (what plain accumulation of
features would do), and a warning says so. The no-grad caching pass leaves every buffer
untouched (running statistics are restored), so they are updated exactly once per micro-batch,
by the pass that also computes the gradient. Use LayerNorm / GroupNorm, or put BatchNorm in eval
mode, for big-batch equivalence.

Batches and features are "trees": a tensor, or tuples / lists / dicts of tensors whose
leading dimension is the batch (non-tensor leaves in a batch are passed to every micro-batch
unchanged and must not depend on the batch position).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

import torch

from representation.losses.base import sum_losses

Tree = Any


def tree_leaves(tree: Tree) -> list[torch.Tensor]:
    """Tensor leaves of a tensor / tuple / list / dict tree, in a fixed order."""
    if torch.is_tensor(tree):
        return [tree]
    if isinstance(tree, (tuple, list)):
        return [leaf for item in tree for leaf in tree_leaves(item)]
    if isinstance(tree, dict):
        return [leaf for key in sorted(tree, key=str) for leaf in tree_leaves(tree[key])]
    return []


def tree_map(fn: Callable[[torch.Tensor], Any], tree: Tree) -> Tree:
    """Apply ``fn`` to every tensor leaf, keeping the structure (non-tensors are kept)."""
    if torch.is_tensor(tree):
        return fn(tree)
    if isinstance(tree, tuple):
        return tuple(tree_map(fn, t) for t in tree)
    if isinstance(tree, list):
        return [tree_map(fn, t) for t in tree]
    if isinstance(tree, dict):
        return {k: tree_map(fn, v) for k, v in tree.items()}
    return tree


def upcast(t: torch.Tensor) -> torch.Tensor:
    """fp16 / bf16 -> fp32 (the loss runs in full precision); other dtypes unchanged."""
    return t.float() if t.dtype in (torch.float16, torch.bfloat16) else t


def tree_batch_size(tree: Tree) -> int:
    leaves = tree_leaves(tree)
    if not leaves:
        raise ValueError("batch has no tensors")
    sizes = {int(t.shape[0]) for t in leaves}
    if len(sizes) != 1:
        raise ValueError(f"batch tensors disagree on the leading (batch) dimension: {sorted(sizes)}")
    return sizes.pop()


def split_batch(batch: Tree, micro_size: int) -> list[Tree]:
    """Split every tensor leaf along dim 0 into chunks of ``micro_size`` (last may be smaller)."""
    n = tree_batch_size(batch)
    return [tree_map(lambda t, s=s: t[s:s + micro_size], batch) for s in range(0, n, micro_size)]


def concat_trees(trees: list[Tree]) -> Tree:
    """Concatenate matching trees along dim 0."""
    first = trees[0]
    if torch.is_tensor(first):
        return torch.cat(trees, dim=0)
    if isinstance(first, (tuple, list)):
        out = [concat_trees([t[i] for t in trees]) for i in range(len(first))]
        return tuple(out) if isinstance(first, tuple) else out
    if isinstance(first, dict):
        return {k: concat_trees([t[k] for t in trees]) for k in first}
    return first


class RngState:
    """Snapshot of the torch CPU RNG (and the current CUDA device's RNG) for replaying a
    forward pass with identical dropout masks."""

    def __init__(self, device: torch.device) -> None:
        self.cuda = device.type == "cuda"
        self.device = device
        self.cpu_state = torch.get_rng_state()
        self.cuda_state = torch.cuda.get_rng_state(device) if self.cuda else None

    @contextmanager
    def replay(self) -> Iterator[None]:
        devices = [self.device] if self.cuda else []
        with torch.random.fork_rng(devices=devices):
            torch.set_rng_state(self.cpu_state)
            if self.cuda_state is not None:
                torch.cuda.set_rng_state(self.cuda_state, self.device)
            yield


def has_batch_dependent_layers(model: torch.nn.Module) -> bool:
    """True if ``model`` has a BatchNorm layer in train mode (its output depends on the batch)."""
    return any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and m.training for m in model.modules())


def grad_cache_backward(
    model: torch.nn.Module,
    loss_fn: Callable[[Tree, Tree], dict[str, Any]],
    batch: Tree,
    micro_size: int,
    *,
    device: torch.device,
    autocast: Callable[[], AbstractContextManager[Any]] = nullcontext,
    scale_loss: Callable[[torch.Tensor], torch.Tensor] = lambda x: x,
    no_sync: Callable[[], AbstractContextManager[Any]] | None = None,
    raw_model: torch.nn.Module | None = None,
) -> dict[str, Any]:
    """One GradCache accumulation: leaves ``.grad`` of the model's and the loss's parameters
    equal to the full-batch gradient. Returns the loss dict of the full batch.

    Args:
        model: the (possibly DDP-wrapped) embedding model, ``model(micro_batch) -> features``.
        loss_fn: ``loss_fn(features, batch) -> {"*_loss": ...}`` on the full batch.
        micro_size: samples per micro-batch.
        autocast: context factory wrapping each model forward (mixed precision).
        scale_loss: e.g. a GradScaler's ``scale`` for fp16.
        no_sync: DDP's ``model.no_sync`` so only the last micro-batch all-reduces gradients.
        raw_model: the unwrapped module for the no-grad caching pass (default ``model``).
    """
    micro = split_batch(batch, micro_size)
    states: list[RngState] = []
    cached: list[Tree] = []
    embed = raw_model if raw_model is not None else model
    if len(micro) > 1 and has_batch_dependent_layers(embed):
        warnings.warn("GradCache with BatchNorm in train mode normalises each micro-batch separately: the gradient "
                      "is that of micro-batch forwards, not of the big batch (see representation.train.gradcache)",
                      stacklevel=2)
    buffers = {name: b.detach().clone() for name, b in embed.named_buffers()}
    with torch.no_grad():
        for mb in micro:
            states.append(RngState(device))
            with autocast():
                cached.append(tree_map(lambda t: t.detach(), embed(mb)))
        for name, b in embed.named_buffers():  # the caching pass has no side effects on state
            b.copy_(buffers[name])
    features = tree_map(lambda t: upcast(t).requires_grad_(True) if t.is_floating_point() else t,
                        concat_trees(cached))
    out = loss_fn(features, batch)
    scale_loss(sum_losses(out)).backward()
    grads: list[torch.Tensor | None] = [t.grad if t.requires_grad else None for t in tree_leaves(features)]
    sizes = [tree_batch_size(mb) for mb in micro]
    start = 0
    for i, (mb, state) in enumerate(zip(micro, states, strict=True)):
        stop = start + sizes[i]
        sync = nullcontext() if (no_sync is None or i == len(micro) - 1) else no_sync()
        with sync, state.replay():
            with autocast():
                f = model(mb)
            terms = [(upcast(fl) * gl[start:stop]).sum()
                     for fl, gl in zip(tree_leaves(f), grads, strict=True) if gl is not None]
            if terms:
                torch.stack(terms).sum().backward()
        start = stop
    return out
