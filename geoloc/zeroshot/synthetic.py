"""A synthetic sanity task for zero-shot geolocation (tests and ``benchmarks/bench_zeroshot.py``).

Each country of a GeocellSet gets a base colour; a location's image is that colour plus a random
texture (``colour_images``). A CLIP is fitted for a few dozen steps on (image, sentence) pairs
whose sentences are drawn from the image's cell prompts and country prompts (``fit_clip``, a
multi-positive InfoNCE: every sentence of the image's country is a positive, because several
images of one batch share a country). Zero-shot prediction with prompts of the same templates
must then beat chance; with random weights it stays at chance.
"""

from __future__ import annotations

import colorsys
from collections.abc import Sequence

import numpy as np
import torch


def country_colours(n: int) -> np.ndarray:
    """``n`` well separated RGB colours [n, 3] in 0..255 (evenly spaced hues)."""
    return np.array([[int(255 * c) for c in colorsys.hsv_to_rgb(k / n, 0.9, 0.9)] for k in range(n)], dtype=np.float64)


def colour_images(labels: Sequence[int], n_classes: int, *, size: int = 64, noise: float = 40.0,
                  seed: int = 0) -> list:
    """One RGB PIL image per label: the label's colour plus Gaussian noise (std ``noise``) and a
    random darker band (a horizon), so no two images are the same."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    colours = country_colours(n_classes)
    out = []
    for lab in labels:
        img = colours[int(lab)][None, None, :] + rng.normal(0.0, noise, size=(size, size, 3))
        h = int(rng.integers(size // 4, 3 * size // 4))
        img[h:] *= 0.6
        out.append(Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)))
    return out


def multi_positive_infonce(img: torch.Tensor, txt: torch.Tensor, labels: torch.Tensor,
                           logit_scale: torch.Tensor) -> torch.Tensor:
    """Symmetric InfoNCE over unit embeddings [B, E] where every pair with the same label is a
    positive (target = uniform over the positives of a row)."""
    from representation.losses.multi_positive import multi_positive_nce

    logits = logit_scale * img @ txt.T
    same = labels[:, None] == labels[None, :]          # symmetric, so it serves both directions
    return (multi_positive_nce(logits, same) + multi_positive_nce(logits.T, same)) / 2


def fit_clip(model, tokenizer, pixels: torch.Tensor, sentences: Sequence[Sequence[str]], labels: np.ndarray, *,
             steps: int = 40, batch_size: int = 32, lr: float = 1e-3, seed: int = 0, progress: bool = False) -> list[float]:
    """Fit ``model`` in place on images [N, 3, S, S] (already preprocessed) paired with a sentence
    drawn at random from ``sentences[i]`` at every step; ``labels`` [N] decide the positives.
    Returns the loss of every step. The model is left in eval mode."""
    gen = np.random.default_rng(seed)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr, weight_decay=0.0)
    dev = next(model.parameters()).device  # pixels, tokens and labels follow the model (a CUDA model works)
    lab = torch.as_tensor(np.asarray(labels, dtype=np.int64))
    losses = []
    it = range(steps)
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(it, desc="fit CLIP", unit="step")
    model.train()
    for _ in it:
        idx = gen.choice(len(pixels), size=min(batch_size, len(pixels)), replace=False)
        texts = [sentences[i][int(gen.integers(len(sentences[i])))] for i in idx]
        img = torch.nn.functional.normalize(model.encode_image(pixels[idx].to(dev)), dim=-1)
        txt = torch.nn.functional.normalize(model.encode_text(tokenizer(texts).to(dev)), dim=-1)
        loss = multi_positive_infonce(img, txt, lab[idx].to(dev), model.logit_scale.exp().clamp(max=100))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    model.eval()
    return losses


__all__ = ["colour_images", "country_colours", "fit_clip", "multi_positive_infonce"]
