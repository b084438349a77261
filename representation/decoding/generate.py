"""Generation loops on the key/value cache: greedy / sampling (:func:`generate`) and beam search
(:func:`beam_search`), both with an optional per-row constraint ``allowed_tokens_fn(row, prefix)
-> list of allowed next ids`` (what :mod:`representation.decoding.trie` plugs in)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from representation.decoding.state import advance, select, start

AllowedFn = Callable[[int, list[int]], Sequence[int]]


def constrain(logits: torch.Tensor, prefixes: list[list[int]], allowed_tokens_fn: AllowedFn | None,
              rows: Sequence[int] | None = None) -> torch.Tensor:
    """``logits`` [B, V] with every token outside ``allowed_tokens_fn(row, prefix)`` at -inf."""
    if allowed_tokens_fn is None:
        return logits
    keep = torch.zeros_like(logits, dtype=torch.bool)
    for i, prefix in enumerate(prefixes):
        ids = list(allowed_tokens_fn(i if rows is None else rows[i], prefix))
        if ids:
            keep[i, torch.tensor(ids, dtype=torch.long, device=logits.device)] = True
    return logits.masked_fill(~keep, float("-inf"))


@torch.no_grad()
def generate(model: nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None, *,
             max_new_tokens: int, eos_id: int | None = None, pad_id: int = 0, do_sample: bool = False,
             temperature: float = 1.0, top_k: int | None = None, generator: torch.Generator | None = None,
             allowed_tokens_fn: AllowedFn | None = None, **start_kwargs: Any) -> torch.Tensor:
    """New tokens [B, max_new_tokens] (``pad_id`` after a row's ``eos_id``). Greedy unless
    ``do_sample`` (softmax at ``temperature``, optionally restricted to the ``top_k``).
    ``start_kwargs`` go to :func:`representation.decoding.state.start` (``decoder_start_id``,
    ``prefix_embeds``, ``encoder_hidden``)."""
    if max_new_tokens < 1:
        raise ValueError("max_new_tokens must be >= 1")
    state = start(model, input_ids, attention_mask, **start_kwargs)
    b = state.logits.shape[0]
    done = torch.zeros(b, dtype=torch.bool, device=state.logits.device)
    out: list[torch.Tensor] = []
    prefixes: list[list[int]] = [[] for _ in range(b)]
    for step in range(max_new_tokens):
        logits = constrain(state.logits.float(), prefixes, allowed_tokens_fn)
        if do_sample:
            logits = logits / temperature
            if top_k is not None:
                kth = logits.topk(top_k, dim=-1).values[:, -1:]
                logits = logits.masked_fill(logits < kth, float("-inf"))
            tok = torch.multinomial(torch.softmax(logits, dim=-1), 1, generator=generator).squeeze(1)
        else:
            tok = logits.argmax(dim=-1)
        tok = torch.where(done, torch.full_like(tok, pad_id), tok)
        out.append(tok)
        for i in range(b):
            prefixes[i].append(int(tok[i]))
        if eos_id is not None:
            done = done | (tok == eos_id)
        if bool(done.all()) or step == max_new_tokens - 1:
            break
        state = advance(model, state, tok)
    res = torch.stack(out, dim=1)
    if res.shape[1] < max_new_tokens:
        res = torch.cat([res, res.new_full((b, max_new_tokens - res.shape[1]), pad_id)], dim=1)
    return res


@torch.no_grad()
def beam_search(model: nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None, *,
                num_beams: int, max_new_tokens: int, eos_id: int, pad_id: int = 0,
                allowed_tokens_fn: AllowedFn | None = None, **start_kwargs: Any
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """Beam search: ``(sequences [B, num_beams, max_new_tokens], log-probabilities [B, num_beams])``,
    best first; a beam ends at ``eos_id`` (kept) and is padded with ``pad_id``. The score is the
    sum of token log-probabilities (no length penalty). ``allowed_tokens_fn(row, prefix)`` gets
    the batch row (not the beam) and the beam's tokens so far."""
    state = start(model, input_ids, attention_mask, **start_kwargs)
    b, v = state.logits.shape
    nb = num_beams
    dev = state.logits.device
    state = select(state, torch.arange(b, device=dev).repeat_interleave(nb))
    ftype = torch.float64 if state.logits.dtype == torch.float64 else torch.float32
    scores = torch.full((b, nb), float("-inf"), device=dev, dtype=ftype)
    scores[:, 0] = 0.0
    seqs = torch.full((b * nb, 0), pad_id, dtype=torch.long, device=dev)
    done = torch.zeros(b * nb, dtype=torch.bool, device=dev)
    rows = [r for r in range(b) for _ in range(nb)]
    for step in range(max_new_tokens):
        logp = torch.log_softmax(state.logits.to(ftype), dim=-1)
        logp = constrain(logp, [s.tolist() for s in seqs], allowed_tokens_fn, rows)
        # a finished beam continues with pad at no cost
        fin = torch.full_like(logp, float("-inf"))
        fin[:, pad_id] = 0.0
        logp = torch.where(done.unsqueeze(1), fin, logp)
        cand = (scores.reshape(-1, 1) + logp).reshape(b, nb * v)
        top, idx = cand.topk(nb, dim=1)
        beam, tok = idx // v, idx % v
        src = (torch.arange(b, device=dev).unsqueeze(1) * nb + beam).reshape(-1)
        tok = tok.reshape(-1)
        seqs = torch.cat([seqs[src], tok.unsqueeze(1)], dim=1)
        done = done[src] | (tok == eos_id)
        scores = top
        if bool(done.all()) or step == max_new_tokens - 1:
            break
        state = advance(model, select(state, src), tok)
    if seqs.shape[1] < max_new_tokens:
        seqs = torch.cat([seqs, seqs.new_full((b * nb, max_new_tokens - seqs.shape[1]), pad_id)], dim=1)
    return seqs.view(b, nb, -1), scores
