"""A tiny decoder-only language model and a tiny encoder-decoder, defined here (no download).

Both are pre-norm transformers with ``F.scaled_dot_product_attention``, learned absolute or
rotary positions, and a key/value cache for incremental decoding. They share one output type,
:class:`LMOutput`, with the next-token ``logits`` [B, T, V], the last layer's ``hidden`` states
[B, T, D] (after the final norm; contrastive search compares them) and ``past_key_values``.

Masks (all bool, True = may attend):

* ``attention_mask`` [B, S]: 1 for real tokens, 0 for padding, over the *whole* sequence seen so
  far (past + current), as in Hugging Face; positions default to ``cumsum(mask) - 1``, so
  left-padded prompts decode like unpadded ones;
* ``segment_ids`` [B, T]: packed sequences (:mod:`representation.lm.packing`); a token attends
  only to tokens of its own segment and positions restart at 0 in every segment, so a packed row
  computes exactly what the samples compute alone (tested);
* causal self-attention in the decoders; every query may always attend to itself (a padded
  query row then has one valid key instead of none, which would give NaN).

Caches are tuples of tensors with the batch in dim 0 (:func:`select_cache` reorders them):
decoder-only ``((k, v), ...)`` per layer [B, H, S, Dh]; encoder-decoder ``((k, v, ck, cv), ...)``
with the cross-attention keys / values of the encoder output computed once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from representation.registry import register


@dataclass
class LMOutput:
    """Output of the library's language models (and of :class:`representation.lm.hf.HFCausalLM`).

    Attributes:
        logits: [B, T, V] next-token scores (unnormalised).
        hidden: [B, T, D] last-layer hidden states.
        past_key_values: the cache to pass back for the next step (``use_cache=True``), else None.
        encoder_hidden: [B, S, D] encoder output (encoder-decoder models only).
    """

    logits: torch.Tensor
    hidden: torch.Tensor
    past_key_values: Any = None
    encoder_hidden: torch.Tensor | None = None


def positions_from_mask(attention_mask: torch.Tensor) -> torch.Tensor:
    """[B, S] position of every token: number of real tokens before it (pads get 0)."""
    return (attention_mask.long().cumsum(dim=1) - 1).clamp_min(0)


def positions_from_segments(segment_ids: torch.Tensor) -> torch.Tensor:
    """[B, T] position of every token inside its (contiguous) segment: restarts at 0."""
    idx = torch.arange(segment_ids.shape[1], device=segment_ids.device).expand_as(segment_ids)
    first = torch.ones_like(segment_ids, dtype=torch.bool)
    first[:, 1:] = segment_ids[:, 1:] != segment_ids[:, :-1]
    start = torch.where(first, idx, torch.zeros_like(idx)).cummax(dim=1).values
    return idx - start


def attention_mask_4d(q_len: int, k_len: int, *, causal: bool, key_mask: torch.Tensor | None = None,
                      q_segments: torch.Tensor | None = None, k_segments: torch.Tensor | None = None,
                      device: torch.device | None = None) -> torch.Tensor:
    """Bool mask [B or 1, 1, q_len, k_len] (True = attend). Queries are the last ``q_len`` of the
    ``k_len`` keys (a cache holds the first ``k_len - q_len``); every query sees itself."""
    qi = torch.arange(k_len - q_len, k_len, device=device).unsqueeze(1)
    kj = torch.arange(k_len, device=device).unsqueeze(0)
    m = (kj <= qi) if causal else torch.ones(q_len, k_len, dtype=torch.bool, device=device)
    m = m[None, None]
    if key_mask is not None:
        m = m & key_mask.to(torch.bool)[:, None, None, :]
    if q_segments is not None and k_segments is not None:
        m = m & (q_segments[:, None, :, None] == k_segments[:, None, None, :])
    if causal or k_len == q_len:
        eye = (kj == qi)[None, None] if causal else torch.eye(q_len, dtype=torch.bool, device=device)[None, None]
        m = m | eye
    return m


def rotary(x: torch.Tensor, positions: torch.Tensor, base: float = 10000.0) -> torch.Tensor:
    """Rotary position embedding of x [B, H, T, Dh] (Dh even) at ``positions`` [B, T]."""
    dh = x.shape[-1]
    inv = 1.0 / base ** (torch.arange(0, dh, 2, device=x.device, dtype=torch.float32) / dh)
    ang = positions.to(torch.float32)[:, None, :, None] * inv  # [B, 1, T, Dh/2]
    cos, sin = ang.cos().to(x.dtype), ang.sin().to(x.dtype)
    x1, x2 = x[..., : dh // 2], x[..., dh // 2:]
    return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)


class Attention(nn.Module):
    """Multi-head attention; ``kv`` (cross-attention source) defaults to ``x``."""

    def __init__(self, dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim {dim} must be divisible by heads {heads}")
        self.heads, self.dropout = heads, dropout
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(dim, 2 * dim)
        self.out = nn.Linear(dim, dim)

    def split(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        return x.view(b, t, self.heads, d // self.heads).transpose(1, 2)

    def keys_values(self, src: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        k, v = self.kv(src).chunk(2, dim=-1)
        return self.split(k), self.split(v)

    def forward(self, x: torch.Tensor, mask: torch.Tensor, *, kv: tuple[torch.Tensor, torch.Tensor] | None = None,
                past: tuple[torch.Tensor, torch.Tensor] | None = None, positions: torch.Tensor | None = None,
                k_positions: torch.Tensor | None = None) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        q = self.split(self.q(x))
        if kv is None:
            k, v = self.keys_values(x)
            if positions is not None:  # rotary (self-attention only)
                q, k = rotary(q, positions), rotary(k, positions)
            if past is not None:
                k, v = torch.cat([past[0], k], dim=2), torch.cat([past[1], v], dim=2)
        else:
            k, v = kv
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask,
                                           dropout_p=self.dropout if self.training else 0.0)
        b, h, t, dh = y.shape
        return self.out(y.transpose(1, 2).reshape(b, t, h * dh)), (k, v)


class Block(nn.Module):
    """Pre-norm transformer block: self-attention, optional cross-attention, MLP."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float, dropout: float, cross: bool) -> None:
        super().__init__()
        self.ln1, self.attn = nn.LayerNorm(dim), Attention(dim, heads, dropout)
        self.cross = Attention(dim, heads, dropout) if cross else None
        self.ln_c = nn.LayerNorm(dim) if cross else None
        hidden = int(dim * mlp_ratio)
        self.ln2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim), nn.Dropout(dropout))

    def forward(self, x: torch.Tensor, mask: torch.Tensor, *, past: tuple[torch.Tensor, ...] | None = None,
                positions: torch.Tensor | None = None, enc: torch.Tensor | None = None,
                enc_mask: torch.Tensor | None = None) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        a, (k, v) = self.attn(self.ln1(x), mask, past=None if past is None else past[:2], positions=positions)
        x = x + a
        cache: tuple[torch.Tensor, ...] = (k, v)
        if self.cross is not None:
            if past is not None and len(past) == 4:
                ckv = (past[2], past[3])
            else:
                if enc is None:
                    raise ValueError("an encoder-decoder block needs the encoder output (encoder_hidden)")
                ckv = self.cross.keys_values(enc)
            c, _ = self.cross(self.ln_c(x), enc_mask, kv=ckv)
            x = x + c
            cache = (k, v, *ckv)
        return x + self.mlp(self.ln2(x)), cache


class _Stack(nn.Module):
    """Embedding (+ learned positions) -> blocks -> final norm."""

    def __init__(self, vocab_size: int, dim: int, layers: int, heads: int, mlp_ratio: float, max_len: int,
                 dropout: float, positions: str, cross: bool, embed: nn.Embedding | None = None) -> None:
        super().__init__()
        if positions not in ("learned", "rotary"):
            raise ValueError(f"positions must be 'learned' or 'rotary', got {positions!r}")
        self.embed = embed if embed is not None else nn.Embedding(vocab_size, dim)
        self.pos = nn.Embedding(max_len, dim) if positions == "learned" else None
        self.max_len = max_len
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(Block(dim, heads, mlp_ratio, dropout, cross) for _ in range(layers))
        self.norm = nn.LayerNorm(dim)

    def forward(self, ids: torch.Tensor | None, mask: torch.Tensor, positions: torch.Tensor, *,
                past: Any = None, enc: torch.Tensor | None = None, enc_mask: torch.Tensor | None = None,
                inputs_embeds: torch.Tensor | None = None) -> tuple[torch.Tensor, tuple[Any, ...]]:
        x = self.embed(ids) if inputs_embeds is None else inputs_embeds
        rope = None
        if self.pos is not None:
            if int(positions.max()) >= self.max_len:
                raise ValueError(f"position {int(positions.max())} >= max_len {self.max_len} (learned positions)")
            x = x + self.pos(positions)
        else:
            rope = positions
        x = self.drop(x)
        caches = []
        for i, block in enumerate(self.blocks):
            x, c = block(x, mask, past=None if past is None else past[i], positions=rope, enc=enc, enc_mask=enc_mask)
            caches.append(c)
        return self.norm(x), tuple(caches)


def _init(module: nn.Module) -> None:
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=0.02)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, std=0.02)


_MODEL_KEYS = ("vocab_size", "dim", "layers", "heads", "mlp_ratio", "max_len", "dropout", "positions")


class _ConfigMixin:
    config_keys: tuple[str, ...] = _MODEL_KEYS

    def get_config_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.config_keys}


@register("tiny_decoder_lm", kind="model")
class TinyDecoderLM(_ConfigMixin, nn.Module):
    """Decoder-only causal LM (GPT-style), tied input / output embeddings.

    ``forward(input_ids [B, T], attention_mask [B, S] | None, *, position_ids, segment_ids,
    past_key_values, use_cache, prefix_embeds [B, P, D]) -> LMOutput``. ``prefix_embeds`` are
    prepended (conditioning vectors, e.g. an image embedding projected to ``dim``); their
    outputs are dropped from ``logits`` / ``hidden``.
    """

    citation = "Radford et al., Language Models are Unsupervised Multitask Learners, 2019"
    is_encoder_decoder = False

    def __init__(self, vocab_size: int, dim: int = 64, layers: int = 2, heads: int = 4, mlp_ratio: float = 4.0,
                 max_len: int = 512, dropout: float = 0.0, positions: str = "learned") -> None:
        super().__init__()
        self.vocab_size, self.dim, self.layers, self.heads = int(vocab_size), int(dim), int(layers), int(heads)
        self.mlp_ratio, self.max_len, self.dropout, self.positions = float(mlp_ratio), int(max_len), float(dropout), positions
        self.stack = _Stack(vocab_size, dim, layers, heads, mlp_ratio, max_len, dropout, positions, cross=False)
        _init(self)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None, *,
                position_ids: torch.Tensor | None = None, segment_ids: torch.Tensor | None = None,
                past_key_values: Any = None, use_cache: bool = False,
                prefix_embeds: torch.Tensor | None = None) -> LMOutput:
        b, t = input_ids.shape
        x = self.stack.embed(input_ids)
        p = 0
        if prefix_embeds is not None:
            if past_key_values is not None:
                raise ValueError("prefix_embeds are for the first call (no past_key_values)")
            p = prefix_embeds.shape[1]
            x = torch.cat([prefix_embeds.to(x.dtype), x], dim=1)
            if attention_mask is not None:
                attention_mask = torch.cat([attention_mask.new_ones(b, p), attention_mask], dim=1)
            if segment_ids is not None:
                raise ValueError("prefix_embeds and segment_ids (packing) do not combine")
        past_len = 0 if past_key_values is None else past_key_values[0][0].shape[2]
        total = past_len + p + t
        if attention_mask is not None and attention_mask.shape != (b, total):
            raise ValueError(f"attention_mask must be [B, past + T] = [{b}, {total}], got {tuple(attention_mask.shape)}")
        if segment_ids is not None and past_key_values is not None:
            raise ValueError("segment_ids (packing) are for training, not with past_key_values")
        if position_ids is None:
            if segment_ids is not None:
                position_ids = positions_from_segments(segment_ids)
            elif attention_mask is not None:
                position_ids = positions_from_mask(attention_mask)[:, past_len:]
            else:
                position_ids = torch.arange(past_len, total, device=input_ids.device).expand(b, -1)
        mask = attention_mask_4d(p + t, total, causal=True, key_mask=attention_mask, q_segments=segment_ids,
                                 k_segments=segment_ids, device=input_ids.device)
        h, cache = self.stack(None, mask, position_ids, past=past_key_values, inputs_embeds=x)
        h = h[:, p:]
        logits = h @ self.stack.embed.weight.T
        return LMOutput(logits, h, cache if use_cache else None)


@register("tiny_encoder_decoder", kind="model")
class TinyEncoderDecoder(_ConfigMixin, nn.Module):
    """Encoder-decoder (T5 / BART-style) with shared, tied embeddings.

    ``encode(input_ids [B, S], attention_mask [B, S]) -> [B, S, D]``;
    ``forward(input_ids, attention_mask, decoder_input_ids [B, T], *, decoder_attention_mask,
    encoder_hidden, past_key_values, use_cache) -> LMOutput`` (``encoder_hidden`` skips the
    encoder: pass it when decoding step by step, or to condition on vectors that are not tokens,
    e.g. image embeddings [B, S, D]; ``attention_mask`` then masks them).
    """

    citation = "Raffel et al., Exploring the Limits of Transfer Learning with a Unified Text-to-Text Transformer, JMLR 2020"
    is_encoder_decoder = True
    config_keys = (*_MODEL_KEYS, "decoder_layers")

    def __init__(self, vocab_size: int, dim: int = 64, layers: int = 2, heads: int = 4, mlp_ratio: float = 4.0,
                 max_len: int = 512, dropout: float = 0.0, positions: str = "learned",
                 decoder_layers: int | None = None) -> None:
        super().__init__()
        self.vocab_size, self.dim, self.layers, self.heads = int(vocab_size), int(dim), int(layers), int(heads)
        self.mlp_ratio, self.max_len, self.dropout, self.positions = float(mlp_ratio), int(max_len), float(dropout), positions
        self.decoder_layers = None if decoder_layers is None else int(decoder_layers)
        self.encoder = _Stack(vocab_size, dim, layers, heads, mlp_ratio, max_len, dropout, positions, cross=False)
        self.decoder = _Stack(vocab_size, dim, self.decoder_layers or layers, heads, mlp_ratio, max_len, dropout,
                              positions, cross=True, embed=self.encoder.embed)
        _init(self)

    def encode(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None, *,
               segment_ids: torch.Tensor | None = None) -> torch.Tensor:
        b, s = input_ids.shape
        if segment_ids is not None:
            pos = positions_from_segments(segment_ids)
        elif attention_mask is not None:
            pos = positions_from_mask(attention_mask)
        else:
            pos = torch.arange(s, device=input_ids.device).expand(b, -1)
        mask = attention_mask_4d(s, s, causal=False, key_mask=attention_mask, q_segments=segment_ids,
                                 k_segments=segment_ids, device=input_ids.device)
        h, _ = self.encoder(input_ids, mask, pos)
        return h

    def mlm_logits(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Masked-LM scores [B, S, V] of the encoder (tied embeddings): PCP / prompt-based tuning."""
        return self.encode(input_ids, attention_mask) @ self.encoder.embed.weight.T

    def embed(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Mean-pooled encoder states [B, D] over real tokens (a dense retrieval embedding)."""
        h = self.encode(input_ids, attention_mask)
        m = torch.ones(h.shape[:2], device=h.device) if attention_mask is None else attention_mask.to(h.dtype)
        return (h * m.unsqueeze(-1)).sum(1) / m.sum(1, keepdim=True).clamp_min(1.0)

    def forward(self, input_ids: torch.Tensor | None = None, attention_mask: torch.Tensor | None = None,
                decoder_input_ids: torch.Tensor | None = None, *, decoder_attention_mask: torch.Tensor | None = None,
                encoder_hidden: torch.Tensor | None = None, past_key_values: Any = None,
                use_cache: bool = False) -> LMOutput:
        if decoder_input_ids is None:
            raise ValueError("decoder_input_ids are required")
        if encoder_hidden is None and past_key_values is None:
            if input_ids is None:
                raise ValueError("give input_ids or encoder_hidden")
            encoder_hidden = self.encode(input_ids, attention_mask)
        b, t = decoder_input_ids.shape
        past_len = 0 if past_key_values is None else past_key_values[0][0].shape[2]
        total = past_len + t
        if decoder_attention_mask is not None:
            if decoder_attention_mask.shape != (b, total):
                raise ValueError(f"decoder_attention_mask must be [B, past + T] = [{b}, {total}]")
            pos = positions_from_mask(decoder_attention_mask)[:, past_len:]
        else:
            pos = torch.arange(past_len, total, device=decoder_input_ids.device).expand(b, -1)
        mask = attention_mask_4d(t, total, causal=True, key_mask=decoder_attention_mask,
                                 device=decoder_input_ids.device)
        enc_len = past_key_values[0][2].shape[2] if past_key_values is not None else encoder_hidden.shape[1]
        enc_mask = None
        if attention_mask is not None:
            if attention_mask.shape != (b, enc_len):
                raise ValueError(f"attention_mask (encoder) must be [B, S] = [{b}, {enc_len}]")
            enc_mask = attention_mask.to(torch.bool)[:, None, None, :]
        h, cache = self.decoder(decoder_input_ids, mask, pos, past=past_key_values, enc=encoder_hidden,
                                enc_mask=enc_mask)
        logits = h @ self.encoder.embed.weight.T
        return LMOutput(logits, h, cache if use_cache else None, encoder_hidden)


def select_cache(cache: Any, index: torch.Tensor) -> Any:
    """Cache rows ``index`` [B'] (reorder, repeat or pick batch rows): nested tuples of tensors
    with the batch in dim 0, or a Hugging Face ``Cache`` object (reordered in place)."""
    if cache is None:
        return None
    if torch.is_tensor(cache):
        return cache.index_select(0, index.to(cache.device))
    if isinstance(cache, (tuple, list)):
        return type(cache)(select_cache(c, index) for c in cache)
    if hasattr(cache, "reorder_cache"):
        cache.reorder_cache(index)
        return cache
    raise TypeError(f"cannot select rows of a cache of type {type(cache).__name__}")


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def causal_lm_logprob(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Log-probability [B, T] of ``labels`` under ``logits`` [B, T, V] (same positions)."""
    return torch.log_softmax(logits.float(), dim=-1).gather(-1, labels.clamp_min(0).unsqueeze(-1)).squeeze(-1)

