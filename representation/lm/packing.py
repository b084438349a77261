"""Loss masks, padding and sequence packing with per-sample boundaries.

A training example is a token list plus a bool *loss mask* of the same length (True on the
tokens the model must learn to produce: targets; False on inputs / prompts).
:func:`causal_labels` turns it into next-token ``labels`` aligned with the logits (``-100`` =
no loss), so that position t predicts token t+1 only when token t+1 is a target.

:func:`pack` concatenates examples into rows of ``max_len`` tokens (first fit, in order) and
records ``segment_ids`` (1, 2, ... per sample in a row, 0 for padding). The library's models
take ``segment_ids``: attention stays inside a segment and positions restart, so a packed row
computes the same logits as the samples alone, and the last token of one sample never
predicts the first of the next (its label is -100).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from representation.errors import DataError

IGNORE = -100
"""Label value that carries no loss (PyTorch's ``ignore_index`` default)."""


@dataclass
class Example:
    """One sample: ``ids`` [n] and ``loss_mask`` [n] (True = target token)."""

    ids: list[int]
    loss_mask: list[bool]

    def __post_init__(self) -> None:
        if len(self.ids) != len(self.loss_mask):
            raise DataError(f"ids ({len(self.ids)}) and loss_mask ({len(self.loss_mask)}) differ in length")


def prompt_target(prompt: Sequence[int], target: Sequence[int]) -> Example:
    """Decoder-only example ``prompt + target`` with loss on the target tokens only."""
    return Example([*prompt, *target], [False] * len(prompt) + [True] * len(target))


def causal_labels(ids: Sequence[int], loss_mask: Sequence[bool]) -> list[int]:
    """``labels[t] = ids[t + 1]`` where ``loss_mask[t + 1]``, else -100 (last position: -100)."""
    return [ids[t + 1] if loss_mask[t + 1] else IGNORE for t in range(len(ids) - 1)] + [IGNORE]


@dataclass
class PackedBatch:
    """Packed rows: ``input_ids``, ``labels`` (-100 = no loss), ``segment_ids`` (0 = padding)
    and ``attention_mask`` (1 = real token), all [B, L] long."""

    input_ids: torch.Tensor
    labels: torch.Tensor
    segment_ids: torch.Tensor
    attention_mask: torch.Tensor

    def __len__(self) -> int:
        return self.input_ids.shape[0]


def pack(examples: Sequence[Example], max_len: int, pad_id: int, *, packed: bool = True) -> PackedBatch:
    """Rows of ``max_len`` tokens holding ``examples`` (module docstring). ``packed=False`` puts
    one example per row (plain right padding: the unpacked baseline).

    Raises DataError for an example longer than ``max_len``.
    """
    rows: list[list[Example]] = []
    used: list[int] = []
    for ex in examples:
        n = len(ex.ids)
        if n > max_len:
            raise DataError(f"an example of {n} tokens does not fit max_len={max_len}")
        if n == 0:
            continue
        slot = next((i for i, u in enumerate(used) if u + n <= max_len), None) if packed else None
        if slot is None:
            rows.append([ex])
            used.append(n)
        else:
            rows[slot].append(ex)
            used[slot] += n
    shape = (len(rows), max_len)
    ids = torch.full(shape, pad_id, dtype=torch.long)
    labels = torch.full(shape, IGNORE, dtype=torch.long)
    seg = torch.zeros(shape, dtype=torch.long)
    for r, row in enumerate(rows):
        pos = 0
        for s, ex in enumerate(row, start=1):
            n = len(ex.ids)
            ids[r, pos:pos + n] = torch.tensor(ex.ids)
            labels[r, pos:pos + n] = torch.tensor(causal_labels(ex.ids, ex.loss_mask))
            seg[r, pos:pos + n] = s
            pos += n
    return PackedBatch(ids, labels, seg, (seg > 0).long())


def pad(seqs: Sequence[Sequence[int]], pad_id: int, *, side: str = "right",
        max_len: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``(ids [B, L], attention_mask [B, L])`` of token lists padded on ``side`` ("right" for
    training and encoders, "left" for batched decoder-only generation)."""
    if side not in ("left", "right"):
        raise ValueError(f"side must be 'left' or 'right', got {side!r}")
    length = max_len if max_len is not None else max((len(s) for s in seqs), default=0)
    ids = torch.full((len(seqs), length), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), length), dtype=torch.long)
    for i, s in enumerate(seqs):
        s = list(s)[:length]
        if not s:
            continue
        sl = slice(length - len(s), length) if side == "left" else slice(0, len(s))
        ids[i, sl] = torch.tensor(s, dtype=torch.long)
        mask[i, sl] = 1
    return ids, mask


def seq2seq_batch(pairs: Sequence[tuple[Sequence[int], Sequence[int]]], pad_id: int, start_id: int
                  ) -> dict[str, torch.Tensor]:
    """Encoder-decoder batch from (input ids, target ids) pairs: ``input_ids`` /
    ``attention_mask`` (right padded), ``decoder_input_ids`` = ``[start] + target[:-1]``,
    ``decoder_attention_mask`` and ``labels`` (target, -100 on padding)."""
    enc, enc_mask = pad([p[0] for p in pairs], pad_id)
    targets = [list(p[1]) for p in pairs]
    dec_in, dec_mask = pad([[start_id, *t[:-1]] for t in targets], pad_id)
    lab, lab_mask = pad(targets, pad_id)
    labels = lab.masked_fill(lab_mask == 0, IGNORE)
    return {"input_ids": enc, "attention_mask": enc_mask, "decoder_input_ids": dec_in,
            "decoder_attention_mask": dec_mask, "labels": labels}
