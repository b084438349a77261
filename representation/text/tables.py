"""Table-to-text pretraining data (table seq2seq pretraining, e.g. "Table Pre-training" /
TAPEX-style continual T5 denoising): deterministic table linearisation that records where every
cell's tokens are, and span corruption whose spans are whole cells (a span never cuts a cell
and never swallows a separator), so the model must restore cell contents from the table's
structure and context.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from representation.registry import register
from representation.text.denoise import corrupt, random_span_mask


@dataclass
class LinearTable:
    """``tokens`` of the linearised table and ``cells``: ``(row, col, start, end)`` token spans
    (row -1 = header)."""

    tokens: list[int]
    cells: list[tuple[int, int, int, int]]


def linearize_table(header: Sequence[str], rows: Sequence[Sequence[str]], encode: Any, *,
                    context: str = "", cell_sep: str = " | ", row_sep: str = " ; ") -> LinearTable:
    """``context + "col: " + header cells ... + row_sep + cells ...`` as tokens (``encode(str) ->
    list[int]``), deterministic; every cell's token span is recorded. Rows must have as many
    cells as the header."""
    tokens: list[int] = []
    cells: list[tuple[int, int, int, int]] = []

    def emit(text: str) -> tuple[int, int]:
        s = len(tokens)
        tokens.extend(encode(text))
        return s, len(tokens)

    if context:
        emit(context + row_sep)
    for r, row in enumerate([list(header), *map(list, rows)]):
        if len(row) != len(header):
            raise ValueError(f"row {r - 1} has {len(row)} cells, the header {len(header)}")
        if r:
            emit(row_sep)
        emit("col: " if r == 0 else f"row {r}: ")
        for c, cell in enumerate(row):
            if c:
                emit(cell_sep)
            s, e = emit(str(cell))
            cells.append((r - 1, c, s, e))
    return LinearTable(tokens, cells)


@register("table_denoiser", kind="transform")
class TableSpanCorruption:
    """``__call__(table: LinearTable, rng) -> {"inputs", "targets", "noised_cells"}``: a fraction
    ``rate`` of the (non-empty) cells, in spans of ``mean_span`` consecutive cells on average,
    is replaced by sentinels; adjacent noised cells stay separate spans (the separator between
    them is kept), so every target span is exactly one cell's tokens.

    Args:
        tokenizer: with ``sentinel_id(i)`` / ``num_sentinels`` (runtime argument).
        rate, mean_span: over cells (T5's counting, :func:`representation.text.denoise.noise_counts`).
        include_header: header cells may be corrupted too.
    """

    citation = ("Liu et al., TAPEX: Table Pre-training via Learning a Neural SQL Executor, ICLR 2022; "
                "Raffel et al., T5, JMLR 2020 (span corruption)")
    config_keys = ("rate", "mean_span", "include_header")
    runtime_keys = ("tokenizer",)

    def __init__(self, tokenizer: Any, rate: float = 0.15, mean_span: float = 1.0, include_header: bool = False) -> None:
        if not 0 < rate < 1 or mean_span < 1:
            raise ValueError(f"need 0 < rate < 1 and mean_span >= 1, got {rate}, {mean_span}")
        self.tokenizer, self.rate, self.mean_span = tokenizer, float(rate), float(mean_span)
        self.include_header = bool(include_header)
        self.sentinels = [tokenizer.sentinel_id(i) for i in range(tokenizer.num_sentinels)]

    def __call__(self, table: LinearTable, rng: random.Random) -> dict[str, Any]:
        cells = [c for c in table.cells if c[3] > c[2] and (self.include_header or c[0] >= 0)]
        if len(cells) < 2:
            raise ValueError("a table needs at least 2 non-empty cells to corrupt")
        cell_mask = random_span_mask(len(cells), self.rate, self.mean_span, rng)
        mask = [False] * len(table.tokens)
        noised = []
        for (r, c, s, e), m in zip(cells, cell_mask, strict=True):
            if m:
                noised.append((r, c))
                for i in range(s, e):
                    mask[i] = True
        inputs, targets = corrupt(table.tokens, mask, self.sentinels)
        return {"inputs": inputs, "targets": targets, "noised_cells": noised}

    def get_config_dict(self) -> dict[str, Any]:
        return {"rate": self.rate, "mean_span": self.mean_span, "include_header": self.include_header}
