"""Span corruption and the UL2 mixture of denoisers.

Span corruption (T5, Raffel et al. 2020): a noise mask over the tokens is drawn as
``num_spans = round(num_noise / mean_span)`` noise spans and as many non-noise runs, both
partitions uniformly random, interleaved starting with non-noise; every noise span is replaced
by one sentinel in the *inputs*, and the *targets* list each sentinel followed by the span it
replaced. ``num_noise = round(length * rate)`` exactly (clamped to [1, length - 1]), so the
corruption rate and the mean span length equal the config up to rounding (tested).

UL2 (Tay et al., "UL2: Unifying Language Learning Paradigms", ICLR 2023): a mixture of denoisers
-- R (regular: short spans, 15 %), S (sequential: prefix LM, the suffix is the target) and X
(extreme: long spans or a high rate) -- each prefixed with its mode token (``[R]``, ``[S]``,
``[X]``), sampled per example with the configured weights. At fine-tuning time the mode token of
the downstream task's paradigm is prepended.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from representation.registry import register


def _partition(total: int, parts: int, rng: random.Random) -> list[int]:
    """``total`` split into ``parts`` positive integers, uniformly over compositions."""
    if parts < 1 or total < parts:
        raise ValueError(f"cannot split {total} into {parts} positive parts")
    cuts = sorted(rng.sample(range(1, total), parts - 1))
    bounds = [0, *cuts, total]
    return [bounds[i + 1] - bounds[i] for i in range(parts)]


def noise_counts(length: int, rate: float, mean_span: float) -> tuple[int, int]:
    """``(num_noise_tokens, num_noise_spans)`` for a sequence of ``length`` (T5's rounding)."""
    if length < 2:
        raise ValueError(f"need at least 2 tokens to corrupt, got {length}")
    num_noise = min(max(round(length * rate), 1), length - 1)
    num_spans = max(round(num_noise / mean_span), 1)
    num_spans = min(num_spans, num_noise, length - num_noise)
    return num_noise, num_spans


def random_span_mask(length: int, rate: float, mean_span: float, rng: random.Random) -> list[bool]:
    """Noise mask [length] (True = corrupted) with ``noise_counts`` tokens in as many spans."""
    num_noise, num_spans = noise_counts(length, rate, mean_span)
    noise = _partition(num_noise, num_spans, rng)
    keep = _partition(length - num_noise, num_spans, rng)
    mask: list[bool] = []
    for k, n in zip(keep, noise, strict=True):
        mask += [False] * k + [True] * n
    return mask


def spans_of(mask: Sequence[bool]) -> list[tuple[int, int]]:
    """Maximal runs ``[start, end)`` of True in ``mask``."""
    out, start = [], None
    for i, m in enumerate([*mask, False]):
        if m and start is None:
            start = i
        elif not m and start is not None:
            out.append((start, i))
            start = None
    return out


def corrupt(tokens: Sequence[int], mask: Sequence[bool], sentinels: Sequence[int]) -> tuple[list[int], list[int]]:
    """``(inputs, targets)``: every noise span of ``mask`` becomes the next sentinel in the inputs;
    the targets are ``sentinel_i + span_i`` for every span, in order."""
    spans = spans_of(mask)
    if len(spans) > len(sentinels):
        raise ValueError(f"{len(spans)} noise spans but only {len(sentinels)} sentinels (raise num_sentinels)")
    inputs: list[int] = []
    targets: list[int] = []
    prev = 0
    for (s, e), sent in zip(spans, sentinels, strict=False):
        inputs += [*tokens[prev:s], sent]
        targets += [sent, *tokens[s:e]]
        prev = e
    inputs += list(tokens[prev:])
    return inputs, targets


def rebuild(inputs: Sequence[int], targets: Sequence[int], sentinels: Sequence[int]) -> list[int]:
    """Invert :func:`corrupt`: replace every sentinel of ``inputs`` by its span from ``targets``."""
    sent = set(sentinels)
    spans: dict[int, list[int]] = {}
    cur = None
    for t in targets:
        if t in sent:
            cur = t
            spans[cur] = []
        elif cur is not None:
            spans[cur].append(t)
    out: list[int] = []
    for t in inputs:
        out += spans.get(t, []) if t in sent else [t]
    return out


@dataclass(frozen=True)
class Denoiser:
    """One denoiser of the mixture: ``kind`` "span" (R / X) or "prefix" (S), its mode token,
    ``rate`` (span: corrupted fraction; prefix: mean target fraction), ``mean_span`` (span
    only) and sampling ``weight``."""

    name: str
    kind: str
    mode_token: str
    rate: float
    mean_span: float = 3.0
    weight: float = 1.0


UL2_DENOISERS = (
    Denoiser("R1", "span", "[R]", 0.15, 3.0, 1.0),
    Denoiser("R2", "span", "[R]", 0.15, 8.0, 1.0),
    Denoiser("S", "prefix", "[S]", 0.25, 0.0, 1.0),
    Denoiser("X1", "span", "[X]", 0.5, 3.0, 1.0),
    Denoiser("X2", "span", "[X]", 0.5, 8.0, 1.0),
    Denoiser("X3", "span", "[X]", 0.15, 64.0, 1.0),
    Denoiser("X4", "span", "[X]", 0.5, 64.0, 1.0),
)
"""The UL2 paper's seven denoisers (R: mean span 3 / 8 at 15 %; S: prefix LM; X: spans 3 / 8 at
50 %, 64 at 15 % and 50 %); equal weights here (the paper mixes them roughly uniformly)."""


@register("ul2_denoiser", kind="transform")
class MixtureOfDenoisers:
    """UL2 example builder: ``__call__(tokens, rng) -> {"inputs", "targets", "denoiser"}``.

    Args:
        tokenizer: provides ``token_id(name)`` for the mode tokens and ``sentinel_id(i)`` (a
            :class:`representation.lm.ByteTokenizer` with ``extra_tokens=["[R]", "[S]", "[X]"]``).
            Runtime argument.
        denoisers: list of :class:`Denoiser` (or their dicts); default :data:`UL2_DENOISERS`.
        mode_tokens: prepend the denoiser's mode token to the inputs.

    Prefix (S) denoiser: the split point leaves ``round(u * length)`` target tokens,
    ``u ~ Uniform(0, 2 * rate)`` clipped to [1, length - 1] tokens, so the mean target
    fraction is ``rate``; the inputs are the prefix, the targets the suffix (no sentinel).
    """

    citation = "Tay et al., UL2: Unifying Language Learning Paradigms, ICLR 2023"
    config_keys = ("denoisers", "mode_tokens")
    runtime_keys = ("tokenizer",)

    def __init__(self, tokenizer: Any, denoisers: Sequence[Denoiser | dict[str, Any]] | None = None,
                 mode_tokens: bool = True) -> None:
        ds = [d if isinstance(d, Denoiser) else Denoiser(**d) for d in (denoisers or UL2_DENOISERS)]
        for d in ds:
            if d.kind not in ("span", "prefix") or not 0 < d.rate < 1 or d.weight < 0:
                raise ValueError(f"bad denoiser {d}: kind span|prefix, 0 < rate < 1, weight >= 0")
            if d.kind == "span" and d.mean_span < 1:
                raise ValueError(f"bad denoiser {d}: mean_span >= 1")
        if sum(d.weight for d in ds) <= 0:
            raise ValueError("denoiser weights sum to 0")
        self.tokenizer, self.denoisers, self.mode_tokens = tokenizer, ds, bool(mode_tokens)
        self.sentinels = [tokenizer.sentinel_id(i) for i in range(tokenizer.num_sentinels)]

    def pick(self, rng: random.Random) -> Denoiser:
        return rng.choices(self.denoisers, weights=[d.weight for d in self.denoisers])[0]

    def apply(self, d: Denoiser, tokens: Sequence[int], rng: random.Random) -> tuple[list[int], list[int]]:
        """``(inputs, targets)`` of denoiser ``d`` on ``tokens`` (no mode token)."""
        n = len(tokens)
        if d.kind == "prefix":
            if n < 2:
                raise ValueError("the prefix denoiser needs at least 2 tokens")
            n_target = min(max(round(rng.uniform(0, 2 * d.rate) * n), 1), n - 1)
            return list(tokens[: n - n_target]), list(tokens[n - n_target:])
        mask = random_span_mask(n, d.rate, d.mean_span, rng)
        return corrupt(tokens, mask, self.sentinels)

    def __call__(self, tokens: Sequence[int], rng: random.Random) -> dict[str, Any]:
        d = self.pick(rng)
        inputs, targets = self.apply(d, tokens, rng)
        if self.mode_tokens:
            inputs = [self.tokenizer.token_id(d.mode_token), *inputs]
        return {"inputs": inputs, "targets": targets, "denoiser": d.name}

    def get_config_dict(self) -> dict[str, Any]:
        return {"denoisers": [asdict(d) for d in self.denoisers], "mode_tokens": self.mode_tokens}
