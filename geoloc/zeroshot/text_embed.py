"""Text embeddings of prompt ensembles, and their cache file.

A class embedding is CLIP's usual prompt ensemble: every sentence is encoded and L2-normalised,
the sentences of a class are averaged, and the mean is L2-normalised again (Radford et al. 2021,
§3.1.4). Sentences are encoded in batches (progress bar over batches), on the model's device.

Cache: :func:`save_class_embeddings` writes one safetensors file holding named embedding
matrices and the cache key in its metadata; :func:`load_class_embeddings` returns None for a
missing file, a file with another key, or a damaged file (a cache can always be recomputed).
The key (:func:`cache_key`) is a SHA-256 over the text side of the model (every parameter and
buffer outside ``visual.``, i.e. the text tower, projection and logit scale), the tokenizer, the
geocell set id, and every prompt, so any change to one of them gives a new file name.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from geoloc.zeroshot.prompts import flatten

log = logging.getLogger(__name__)

CACHE_FORMAT = "geoloc-zeroshot-text/1"


@torch.no_grad()
def encode_texts(model, tokenizer, texts: Sequence[str], *, batch_size: int = 256, progress: bool = False,
                 desc: str = "encode prompts") -> torch.Tensor:
    """L2-normalised text embeddings [N, E] float32 (CPU) of ``texts``, encoded in batches on the
    device of ``model`` (an open_clip model with ``encode_text``)."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    device = next(model.parameters()).device
    starts = range(0, len(texts), batch_size)
    if progress:
        from tqdm.auto import tqdm

        starts = tqdm(starts, desc=desc, unit="batch")
    out = []
    for s in starts:
        tokens = tokenizer(list(texts[s:s + batch_size])).to(device)
        out.append(torch.nn.functional.normalize(model.encode_text(tokens).float(), dim=-1).cpu())
    if not out:  # no sentences: an empty matrix of the right width
        dim = model.encode_text(tokenizer(["."]).to(device)).shape[-1]
        return torch.zeros(0, int(dim))
    return torch.cat(out)


def ensemble(sentence_emb: torch.Tensor, owner: np.ndarray, n_classes: int) -> torch.Tensor:
    """Class embeddings [K, E]: normalised mean of the (normalised) sentence embeddings
    [N, E] of each class (``owner[n]`` = class of sentence n). Every class needs a sentence."""
    idx = torch.as_tensor(np.asarray(owner, dtype=np.int64))
    counts = torch.bincount(idx, minlength=n_classes)
    if bool((counts == 0).any()):
        raise ValueError(f"class(es) {torch.nonzero(counts == 0).flatten()[:5].tolist()} have no prompt")
    total = torch.zeros(n_classes, sentence_emb.shape[1], dtype=sentence_emb.dtype).index_add_(0, idx, sentence_emb)
    return torch.nn.functional.normalize(total / counts[:, None].to(total.dtype), dim=-1)


def class_embeddings(model, tokenizer, prompts: Sequence[Sequence[str]], *, batch_size: int = 256,
                     progress: bool = False, desc: str = "encode prompts") -> torch.Tensor:
    """Ensemble embeddings [K, E] float32 of K prompt groups (see :func:`ensemble`)."""
    texts, owner = flatten(prompts)
    emb = encode_texts(model, tokenizer, texts, batch_size=batch_size, progress=progress, desc=desc)
    return ensemble(emb, owner, len(prompts))


def text_fingerprint(model, tokenizer=None) -> str:
    """SHA-256 (hex) of the text side of an open_clip model: names, shapes, dtypes and bytes of
    every state-dict tensor outside ``visual.``, plus the tokenizer's type and context length."""
    h = hashlib.sha256()
    for name, t in model.state_dict().items():
        if name.startswith("visual."):
            continue
        t = t.detach().cpu().contiguous()
        h.update(f"{name}|{tuple(t.shape)}|{t.dtype}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    if tokenizer is not None:
        h.update(f"{type(tokenizer).__module__}.{type(tokenizer).__qualname__}|"
                 f"{getattr(tokenizer, 'context_length', '')}".encode())
    return h.hexdigest()


def cache_key(text_id: str, geocells_id: str, prompts: dict[str, Sequence[Sequence[str]]]) -> str:
    """Key (24 hex) of a set of class embeddings: model text fingerprint, geocell set id and prompts."""
    payload = json.dumps({"format": CACHE_FORMAT, "text": text_id, "geocells": geocells_id,
                          "prompts": {k: [list(g) for g in v] for k, v in sorted(prompts.items())}})
    return hashlib.sha256(payload.encode()).hexdigest()[:24]


def cache_file(cache_dir: str | Path, key: str) -> Path:
    """File name of the cache entry ``key`` inside ``cache_dir``."""
    return Path(cache_dir) / f"zeroshot-text-{key}.safetensors"


def save_class_embeddings(path: str | Path, key: str, tensors: dict[str, torch.Tensor],
                          info: dict[str, str] | None = None) -> Path:
    """Write ``tensors`` (name -> [K, E]) with ``key`` (and ``info`` strings) in the metadata.
    Written to a temporary name and renamed, so a reader never sees half a file."""
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    meta = {"format": CACHE_FORMAT, "key": key, **{k: str(v) for k, v in (info or {}).items()}}
    save_file({k: v.detach().cpu().contiguous().float() for k, v in tensors.items()}, str(tmp), metadata=meta)
    tmp.replace(path)
    return path


def load_class_embeddings(path: str | Path, key: str, names: Sequence[str]) -> dict[str, torch.Tensor] | None:
    """The tensors ``names`` of a cache file written with ``key``; None (with a log message) when the
    file is missing, has another key or format, lacks a tensor, or cannot be read."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        return None
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            if meta.get("format") != CACHE_FORMAT or meta.get("key") != key:
                log.warning("%s: zero-shot cache for another model, geocell set or prompts; recomputing", path)
                return None
            missing = [n for n in names if n not in f.keys()]  # noqa: SIM118 (safe_open has no __contains__)
            if missing:
                log.warning("%s: zero-shot cache lacks %s; recomputing", path, missing)
                return None
            return {n: f.get_tensor(n) for n in names}
    except Exception as exc:  # truncated or foreign file: the cache is disposable
        log.warning("%s: unreadable zero-shot cache (%s); recomputing", path, exc)
        return None


__all__ = ["CACHE_FORMAT", "cache_file", "cache_key", "class_embeddings", "encode_texts", "ensemble",
           "load_class_embeddings", "save_class_embeddings", "text_fingerprint"]
