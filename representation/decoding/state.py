"""Incremental decoding state shared by every decoding strategy (greedy, sampling, beam search,
contrastive search, trie-constrained decoding), for decoder-only and encoder-decoder models.

``start`` runs the prompt once with ``use_cache=True``; ``advance`` feeds one token per row
through the key/value cache; ``select`` reorders / repeats / picks rows (beams, candidates).
A model is any module with the call signature of the library's LMs returning
:class:`representation.lm.models.LMOutput` (``TinyDecoderLM``, ``TinyEncoderDecoder`` or a
Hugging Face model wrapped by :class:`representation.lm.hf.HFCausalLM`); ``model.is_encoder_decoder``
tells which kind.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import nn

from representation.lm.models import select_cache


@dataclass
class DecodeState:
    """Attributes:
        logits: [B, V] next-token scores.
        hidden: [B, T, D] last-layer hidden states of every token so far (prompt included for
            decoder-only models; the decoder's tokens for encoder-decoders).
        context_mask: [B, T] bool, False on padding in ``hidden``.
        cache: the model's key/value cache.
        mask: decoder-only: attention mask [B, S] so far (conditioning prefix included);
            encoder-decoder: the encoder's attention mask [B, S] (or None).
        encoder_hidden: [B, S, D] (encoder-decoder) or None.
    """

    logits: torch.Tensor
    hidden: torch.Tensor
    context_mask: torch.Tensor
    cache: Any
    mask: torch.Tensor | None
    encoder_hidden: torch.Tensor | None = None


def is_encoder_decoder(model: nn.Module) -> bool:
    return bool(getattr(model, "is_encoder_decoder", False))


@torch.no_grad()
def start(model: nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None, *,
          decoder_start_id: int | None = None, prefix_embeds: torch.Tensor | None = None,
          encoder_hidden: torch.Tensor | None = None) -> DecodeState:
    """Run the prompt. Decoder-only: ``input_ids`` [B, T] (left-padded with ``attention_mask``
    when rows differ in length), optional conditioning ``prefix_embeds`` [B, P, D].
    Encoder-decoder: ``input_ids`` / ``attention_mask`` are the encoder input (or pass
    ``encoder_hidden`` [B, S, D] directly) and decoding starts from ``decoder_start_id``."""
    b = input_ids.shape[0] if input_ids is not None else encoder_hidden.shape[0]
    if is_encoder_decoder(model):
        if decoder_start_id is None:
            raise ValueError("encoder-decoder decoding needs decoder_start_id")
        if encoder_hidden is None:
            encoder_hidden = model.encode(input_ids, attention_mask)
        dev = encoder_hidden.device
        start_ids = torch.full((b, 1), decoder_start_id, dtype=torch.long, device=dev)
        out = model(attention_mask=attention_mask, decoder_input_ids=start_ids, encoder_hidden=encoder_hidden,
                    use_cache=True)
        ctx = torch.ones(b, 1, dtype=torch.bool, device=dev)
        return DecodeState(out.logits[:, -1], out.hidden, ctx, out.past_key_values, attention_mask, encoder_hidden)
    if attention_mask is None:
        attention_mask = torch.ones_like(input_ids)
    kwargs = {} if prefix_embeds is None else {"prefix_embeds": prefix_embeds}
    out = model(input_ids, attention_mask, use_cache=True, **kwargs)
    mask = attention_mask
    if prefix_embeds is not None:
        mask = torch.cat([attention_mask.new_ones(b, prefix_embeds.shape[1]), attention_mask], dim=1)
    return DecodeState(out.logits[:, -1], out.hidden, attention_mask.to(torch.bool), out.past_key_values, mask)


@torch.no_grad()
def advance(model: nn.Module, state: DecodeState, tokens: torch.Tensor) -> DecodeState:
    """Feed ``tokens`` [B] (one per row) and return the next state."""
    tok = tokens.reshape(-1, 1)
    b = tok.shape[0]
    if is_encoder_decoder(model):
        out = model(attention_mask=state.mask, decoder_input_ids=tok, past_key_values=state.cache, use_cache=True)
        mask = state.mask
    else:
        mask = torch.cat([state.mask, state.mask.new_ones(b, 1)], dim=1)
        out = model(tok, mask, past_key_values=state.cache, use_cache=True)
    ctx = torch.cat([state.context_mask, state.context_mask.new_ones(b, 1)], dim=1)
    return DecodeState(out.logits[:, -1], torch.cat([state.hidden, out.hidden], dim=1), ctx,
                       out.past_key_values, mask, state.encoder_hidden)


def select(state: DecodeState, index: torch.Tensor) -> DecodeState:
    """Rows ``index`` [B'] of every part of the state."""
    def pick(x: torch.Tensor | None) -> torch.Tensor | None:
        return None if x is None else x.index_select(0, index.to(x.device))

    return replace(state, logits=pick(state.logits), hidden=pick(state.hidden), context_mask=pick(state.context_mask),
                   cache=select_cache(state.cache, index), mask=pick(state.mask),
                   encoder_hidden=pick(state.encoder_hidden))
