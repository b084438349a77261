"""Pixel-Linguist (Xiao et al., "Pixel Sentence Representation Learning", arXiv:2402.08183, 2024):
text rendered as an image and encoded by a vision model, trained with visually grounded
perturbations as positives and symmetric InfoNCE at τ = 0.05.

* :func:`render_text` draws a string into a grayscale strip with PIL's built-in FreeType font
  (Pillow >= 10.1 ships one, so no system font is needed; ``font_path`` selects another, e.g. a
  Noto font for non-Latin scripts) and returns [1, H, W] floats in [0, 1] (ink = 1);
* :func:`typo` (swap, drop or repeat a character inside a word) and :func:`word_shuffle` (swap
  random pairs of words) are the perturbations whose renderings serve as positives;
* :class:`TextPerturbation` applies them with given probabilities;
* :func:`pixel_linguist_loss` is the paper's loss: :class:`representation.losses.InfoNCELoss` with
  τ = 0.05, symmetric, on the pooled outputs (dot product, as the released trainer scores them).
"""

from __future__ import annotations

import random
from functools import lru_cache
from typing import Any

import numpy as np
import torch

from representation.augment.text import random_swap, tokens
from representation.errors import ConfigError
from representation.registry import register

PIXEL_LINGUIST_CITATION = ("Xiao, Huang, Chen, Ye, Wu and Lou, Pixel Sentence Representation Learning, "
                           "arXiv:2402.08183, 2024")


@lru_cache(maxsize=8)
def _font(size: int, font_path: str | None) -> Any:
    from PIL import ImageFont

    if font_path is not None:
        try:
            return ImageFont.truetype(font_path, size)
        except OSError as e:
            raise ConfigError(f"render_text: cannot load font {font_path!r} ({e}); install a TrueType font "
                              "(e.g. Debian's fonts-noto-core or fonts-dejavu-core) and pass its path") from None
    return ImageFont.load_default(size=size)


def render_text(text: str, height: int = 16, width: int = 256, *, font_size: int | None = None,
                font_path: str | None = None) -> torch.Tensor:
    """[1, height, width] float32 rendering (ink 1, paper 0); text beyond ``width`` is cut."""
    from PIL import Image, ImageDraw

    size = font_size or max(6, height - 4)
    img = Image.new("L", (width, height), 0)
    ImageDraw.Draw(img).text((1, (height - size) // 2 - 1), text, fill=255, font=_font(size, font_path))
    return torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0).unsqueeze(0)


def typo(text: str, rng: random.Random) -> str:
    """One character edit inside a random word of >= 2 letters: swap two different neighbours, drop
    one, or repeat one (the word always changes). Unchanged if no such word exists."""
    words = tokens(text)
    cands = [i for i, w in enumerate(words) if len(w) >= 2]
    if not cands:
        return text
    i = rng.choice(cands)
    w = words[i]
    j = rng.randrange(len(w) - 1)
    op = rng.choice(("swap", "drop", "repeat"))
    if op == "swap" and w[j] != w[j + 1]:
        w = w[:j] + w[j + 1] + w[j] + w[j + 2:]
    elif op in ("swap", "drop"):  # a swap of equal letters would change nothing: drop instead
        w = w[:j] + w[j + 1:]
    else:
        w = w[:j + 1] + w[j] + w[j + 1:]
    words[i] = w
    return " ".join(words)


def word_shuffle(text: str, rng: random.Random, n_swaps: int = 1) -> str:
    """Swap ``n_swaps`` random pairs of words (EDA's random swap)."""
    return " ".join(random_swap(tokens(text), n_swaps, rng))


@register("pixel_perturbation", kind="augment")
class TextPerturbation:
    """``__call__(text, rng) -> str``: a typo with probability ``p_typo`` then a word shuffle with
    probability ``p_shuffle`` (at least one edit when both are 1)."""

    citation = PIXEL_LINGUIST_CITATION

    def __init__(self, p_typo: float = 0.5, p_shuffle: float = 0.5, n_swaps: int = 1) -> None:
        self.p_typo, self.p_shuffle, self.n_swaps = float(p_typo), float(p_shuffle), int(n_swaps)

    def __call__(self, text: str, rng: random.Random) -> str:
        if rng.random() < self.p_typo:
            text = typo(text, rng)
        if rng.random() < self.p_shuffle:
            text = word_shuffle(text, rng, self.n_swaps)
        return text

    def get_config_dict(self) -> dict[str, Any]:
        return {"p_typo": self.p_typo, "p_shuffle": self.p_shuffle, "n_swaps": self.n_swaps}


def pixel_linguist_loss(**kw: Any) -> Any:
    """The paper's loss: symmetric InfoNCE, τ = 0.05, on the pooled outputs (dot product)."""
    from representation.losses.infonce import InfoNCELoss

    return InfoNCELoss(temperature=0.05, symmetric=True, similarity=kw.pop("similarity", "dot"), **kw)
