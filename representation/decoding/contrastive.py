"""Contrastive search (Su et al., "A Contrastive Framework for Neural Text Generation",
NeurIPS 2022; Su and Collier, "Contrastive Search Is What You Need For Neural Text
Generation", TMLR 2023).

At every step, among the ``k`` most probable next tokens v (probabilities p(v)), pick

    x_t = argmax_v  (1 - alpha) * p(v)  -  alpha * max_j cos(h_v, h_j)

where h_v is the last-layer hidden state the model computes when v is appended, and h_j are
the hidden states of every earlier token (prompt included). The k candidates run as one batch
through the key/value cache (one forward of B*k single tokens per step); the context hidden
states are kept, not recomputed. ``alpha = 0`` is greedy decoding; the degeneration penalty
makes the model leave a repetition loop. :func:`representation.eval.isotropy` is the paper's
isotropy metric of the hidden states.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from representation.decoding.state import advance, select, start


def degeneration_penalty(candidate: torch.Tensor, context: torch.Tensor, context_mask: torch.Tensor) -> torch.Tensor:
    """``max_j cos(h_v, h_j)`` [R] of candidate states [R, D] against context [R, T, D] (padding
    masked out; rows without context give 0)."""
    cos = torch.einsum("rd,rtd->rt", F.normalize(candidate.float(), dim=-1), F.normalize(context.float(), dim=-1))
    cos = cos.masked_fill(~context_mask, float("-inf"))
    best = cos.max(dim=1).values
    return torch.where(torch.isfinite(best), best, torch.zeros_like(best))


@torch.no_grad()
def contrastive_search(model: nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None, *,
                       alpha: float = 0.6, k: int = 4, max_new_tokens: int = 32, eos_id: int | None = None,
                       pad_id: int = 0, **start_kwargs: Any) -> torch.Tensor:
    """New tokens [B, max_new_tokens] by contrastive search (module docstring); ``pad_id`` after
    a row's ``eos_id``. ``start_kwargs`` as for :func:`representation.decoding.generate`."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    state = start(model, input_ids, attention_mask, **start_kwargs)
    b = state.logits.shape[0]
    dev = state.logits.device
    rows = torch.arange(b, device=dev)
    done = torch.zeros(b, dtype=torch.bool, device=dev)
    out = torch.full((b, max_new_tokens), pad_id, dtype=torch.long, device=dev)
    for step in range(max_new_tokens):
        probs = torch.softmax(state.logits.float(), dim=-1)
        top_p, top_ids = probs.topk(k, dim=-1)  # [B, k]
        cand = advance(model, select(state, rows.repeat_interleave(k)), top_ids.reshape(-1))
        penalty = degeneration_penalty(cand.hidden[:, -1], cand.hidden[:, :-1], cand.context_mask[:, :-1])
        score = (1.0 - alpha) * top_p - alpha * penalty.view(b, k)
        best = score.argmax(dim=1)
        tok = top_ids[rows, best]
        tok = torch.where(done, torch.full_like(tok, pad_id), tok)
        out[:, step] = tok
        if eos_id is not None:
            done = done | (tok == eos_id)
        if bool(done.all()):
            break
        state = select(cand, rows * k + best)
    return out
