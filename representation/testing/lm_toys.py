"""Small language-model toys for the slow "beats its baseline" runs of the LM methods: thin model
wrappers that make the library's Trainer train a tiny LM (``model(batch) -> logits``,
``loss_fn(logits, batch)``), exact-match evaluation by greedy decoding, and synthetic corpora."""

from __future__ import annotations

import random
import tempfile
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from representation.decoding import generate
from representation.lm import (
    ByteTokenizer,
    TinyDecoderLM,
    TinyEncoderDecoder,
    pack,
    pad,
    prompt_target,
    seq2seq_batch,
)
from representation.lm.packing import Example
from representation.losses import TargetOnlyLMLoss
from representation.train import TrainConfig, Trainer


class Seq2Seq(nn.Module):
    """``batch`` dict of :func:`representation.lm.seq2seq_batch` -> decoder logits [B, T, V]."""

    def __init__(self, model: TinyEncoderDecoder) -> None:
        super().__init__()
        self.model = model

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.model(batch["input_ids"], batch["attention_mask"], batch["decoder_input_ids"],
                          decoder_attention_mask=batch["decoder_attention_mask"]).logits


class Causal(nn.Module):
    """``batch`` dict of a packed batch (``input_ids``, ``segment_ids``) -> logits [B, L, V]."""

    def __init__(self, model: TinyDecoderLM) -> None:
        super().__init__()
        self.model = model

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        seg = batch["segment_ids"]
        return self.model(batch["input_ids"], (seg > 0).long(), segment_ids=seg).logits


def rows(batch: dict[str, torch.Tensor]) -> list[dict[str, torch.Tensor]]:
    """A dict of [N, ...] tensors as a list of per-row dicts (a map-style dataset)."""
    n = next(iter(batch.values())).shape[0]
    return [{k: v[i] for k, v in batch.items()} for i in range(n)]


def train(model: nn.Module, data: Sequence[Any], *, steps: int, batch_size: int, lr: float = 3e-3, seed: int = 0,
          loss_fn: Callable[[Any, Any], dict[str, Any]] | None = None) -> nn.Module:
    """Train with :class:`representation.train.Trainer` (checkpoints in a temporary folder); the
    default loss is the target-token LM loss of ``batch["labels"]`` (``segment_ids`` if present)."""
    lm = TargetOnlyLMLoss("token")

    def default(logits: torch.Tensor, batch: dict[str, torch.Tensor]) -> dict[str, Any]:
        return lm(logits, batch["labels"], batch.get("segment_ids"), return_dict=True)

    with tempfile.TemporaryDirectory() as out:
        cfg = TrainConfig(out_dir=out, total_steps=steps, batch_size=batch_size, lr=lr, warmup_steps=max(1, steps // 20),
                          grad_clip=1.0, seed=seed, progress=False, device="cpu", checkpoint_every=10**9,
                          log_every=10**9, weight_decay=0.01)
        Trainer(model, loss_fn or default, list(data), cfg).fit()
    return model.eval()


def seq2seq_data(pairs: Sequence[tuple[str, str]], tok: ByteTokenizer) -> list[dict[str, torch.Tensor]]:
    b = seq2seq_batch([(tok.encode(x), tok.encode(y, add_eos=True)) for x, y in pairs], tok.pad_id, tok.bos_id)
    return rows(b)


def causal_data(pairs: Sequence[tuple[str, str]], tok: ByteTokenizer, max_len: int, *, packed: bool = True,
                loss_on_inputs: bool = False) -> list[dict[str, torch.Tensor]]:
    exs = []
    for x, y in pairs:
        ex = prompt_target(tok.encode(x, add_bos=True), tok.encode(y, add_eos=True))
        if loss_on_inputs:
            ex = Example(ex.ids, [True] * len(ex.ids))
        exs.append(ex)
    pb = pack(exs, max_len, tok.pad_id, packed=packed)
    return rows({"input_ids": pb.input_ids, "labels": pb.labels, "segment_ids": pb.segment_ids})


@torch.no_grad()
def seq2seq_predict(model: TinyEncoderDecoder, inputs: Sequence[str], tok: ByteTokenizer, max_new_tokens: int,
                    batch: int = 64) -> list[str]:
    out = []
    for s in range(0, len(inputs), batch):
        ids, mask = pad([tok.encode(x) for x in inputs[s:s + batch]], tok.pad_id)
        gen = generate(model, ids, mask, max_new_tokens=max_new_tokens, eos_id=tok.eos_id, pad_id=tok.pad_id,
                       decoder_start_id=tok.bos_id)
        out += [tok.decode([t for t in row if t not in (tok.eos_id, tok.pad_id)]) for row in gen.tolist()]
    return out


@torch.no_grad()
def causal_predict(model: TinyDecoderLM, prompts: Sequence[str], tok: ByteTokenizer, max_new_tokens: int,
                   batch: int = 64) -> list[str]:
    out = []
    for s in range(0, len(prompts), batch):
        ids, mask = pad([tok.encode(x, add_bos=True) for x in prompts[s:s + batch]], tok.pad_id, side="left")
        gen = generate(model, ids, mask, max_new_tokens=max_new_tokens, eos_id=tok.eos_id, pad_id=tok.pad_id)
        out += [tok.decode([t for t in row if t not in (tok.eos_id, tok.pad_id)]) for row in gen.tolist()]
    return out


def exact_match(pred: Sequence[str], gold: Sequence[str]) -> float:
    return sum(p.strip() == g.strip() for p, g in zip(pred, gold, strict=True)) / max(1, len(gold))


def random_word(rng: random.Random, letters: str = "abcdefgh", lo: int = 3, hi: int = 6) -> str:
    return "".join(rng.choice(letters) for _ in range(rng.randint(lo, hi)))


def repetition(seq: Sequence[int], n: int = 2) -> float:
    """rep-n (Su et al. 2022): 1 - distinct n-grams / n-grams of one sequence."""
    grams = [tuple(seq[i:i + n]) for i in range(len(seq) - n + 1)]
    return 0.0 if not grams else 1.0 - len(set(grams)) / len(grams)
