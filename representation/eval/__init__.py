"""Evaluation metrics: retrieval (recall@k, mAP) and embedding geometry (alignment,
uniformity, isotropy)."""

from __future__ import annotations

from representation.eval.geometry import alignment, isotropy, uniformity
from representation.eval.retrieval import (
    average_precision,
    label_positives,
    mean_average_precision,
    recall_at_k,
)

__all__ = ["alignment", "average_precision", "isotropy", "label_positives", "mean_average_precision",
           "recall_at_k", "uniformity"]
