"""Hugging Face models through the library's LM interface (optional: needs ``transformers``).

:class:`HFCausalLM` wraps a ``transformers`` causal LM so that it answers the library's call
``model(input_ids, attention_mask, *, past_key_values, use_cache) -> LMOutput`` (with the last
hidden layer), so every decoding strategy of :mod:`representation.decoding` (contrastive search
included) and the LM losses run on it unchanged. :func:`load_causal_lm` loads one from a local
directory only (no download: offline, a missing directory fails at once with one line).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from representation.errors import MissingModelError
from representation.lm.models import LMOutput


def _transformers() -> Any:
    try:
        import transformers
    except ImportError as exc:
        raise MissingModelError("Hugging Face models need the optional package: pip install transformers") from exc
    return transformers


class HFCausalLM(nn.Module):
    """Adapter around a ``transformers`` ``*ForCausalLM`` (module docstring)."""

    is_encoder_decoder = False

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None, *,
                past_key_values: Any = None, use_cache: bool = False, position_ids: torch.Tensor | None = None
                ) -> LMOutput:
        if position_ids is None and attention_mask is not None:
            pos = (attention_mask.long().cumsum(-1) - 1).clamp_min(0)
            position_ids = pos[:, -input_ids.shape[1]:]
        out = self.model(input_ids=input_ids, attention_mask=attention_mask, past_key_values=past_key_values,
                         use_cache=use_cache, position_ids=position_ids, output_hidden_states=True, return_dict=True)
        return LMOutput(out.logits, out.hidden_states[-1], out.past_key_values if use_cache else None)


def load_causal_lm(path: str | Path, *, device: str = "cpu", dtype: torch.dtype | None = None) -> tuple[HFCausalLM, Any]:
    """``(HFCausalLM, tokenizer)`` from a local ``save_pretrained`` directory (never the hub)."""
    p = Path(path)
    if not (p / "config.json").is_file():
        raise MissingModelError(f"no Hugging Face model at {p}: fetch it elsewhere with "
                                f"`save_pretrained` and copy the directory (config.json + weights) to {p}")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    tf = _transformers()
    model = tf.AutoModelForCausalLM.from_pretrained(str(p), local_files_only=True, dtype=dtype)
    tok = tf.AutoTokenizer.from_pretrained(str(p), local_files_only=True)
    return HFCausalLM(model.to(device).eval()), tok
