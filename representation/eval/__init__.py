"""Evaluation: retrieval (recall@k, mAP), embedding geometry (alignment, uniformity, isotropy),
kNN classification and linear probes."""

from __future__ import annotations

from representation.eval.gecko import (
    QA,
    GeckoScore,
    content_words,
    coverage,
    filter_by_coverage,
    template_questions,
)
from representation.eval.geometry import alignment, isotropy, uniformity
from representation.eval.knn import KNNEvaluator, knn_accuracy, knn_scores
from representation.eval.linear_probe import LinearProbe, fit_linear_probe
from representation.eval.retrieval import (
    average_precision,
    label_positives,
    mean_average_precision,
    recall_at_k,
)

__all__ = [
    "QA",
    "GeckoScore",
    "KNNEvaluator",
    "LinearProbe",
    "alignment",
    "average_precision",
    "content_words",
    "coverage",
    "filter_by_coverage",
    "fit_linear_probe",
    "isotropy",
    "knn_accuracy",
    "knn_scores",
    "label_positives",
    "mean_average_precision",
    "recall_at_k",
    "template_questions",
    "uniformity",
]
