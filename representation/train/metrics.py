"""Metrics sink: one JSON object per line (``metrics.jsonl``), optionally mirrored to TensorBoard."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import torch


def scalarize(logs: dict[str, Any], prefix: str = "") -> dict[str, float]:
    """Flatten nested dicts of numbers / 0-d tensors to ``{"a/b": float}`` (other values dropped)."""
    out: dict[str, float] = {}
    for k, v in logs.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(scalarize(v, key + "/"))
        elif torch.is_tensor(v) and v.numel() == 1:
            out[key] = float(v.detach())
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            out[key] = float(v)
    return out


class MetricsLogger:
    """Append rows to ``<out_dir>/metrics.jsonl``; ``tensorboard=True`` also writes event files
    under ``<out_dir>/tb`` when the ``tensorboard`` package is importable (warns otherwise)."""

    def __init__(self, out_dir: str | Path, tensorboard: bool = False) -> None:
        self.path = Path(out_dir) / "metrics.jsonl"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.tb = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.tb = SummaryWriter(str(Path(out_dir) / "tb"))
            except ImportError:
                warnings.warn("tensorboard is not installed; logging to metrics.jsonl only", stacklevel=2)

    @staticmethod
    def truncate(out_dir: str | Path, step: int) -> None:
        """Drop rows after ``step`` from ``metrics.jsonl`` (resuming from an older checkpoint after a
        kill replays those steps); rewritten atomically."""
        path = Path(out_dir) / "metrics.jsonl"
        if not path.exists():
            return
        kept = []
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:  # a line cut by a kill
                continue
            if int(row.get("step", 0)) <= step:
                kept.append(line)
        from representation.train.checkpoint import write_text_atomic

        write_text_atomic(path, "".join(f"{line}\n" for line in kept))

    def write(self, step: int, values: dict[str, float]) -> None:
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps({"step": step, **values}) + "\n")
        if self.tb is not None:
            for k, v in values.items():
                self.tb.add_scalar(k, v, step)

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()
