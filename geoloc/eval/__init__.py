"""Evaluation: distance-threshold accuracy, median/mean error, GeoGuessr score, admin accuracy, report."""

from __future__ import annotations

from geoloc.eval.admin import admin_labels
from geoloc.eval.baselines import (
    KnnRetrieval,
    knn_aggregate,
    knn_search,
    majority_cell,
    majority_cell_baseline,
)
from geoloc.eval.metrics import (
    THRESHOLDS_KM,
    accuracy_at_km,
    distance_errors_km,
    geolocation_metrics,
    label_accuracy,
    threshold_key,
)
from geoloc.eval.report import EvalReport, markdown_table, report

__all__ = [
    "THRESHOLDS_KM",
    "EvalReport",
    "KnnRetrieval",
    "accuracy_at_km",
    "admin_labels",
    "distance_errors_km",
    "geolocation_metrics",
    "knn_aggregate",
    "knn_search",
    "label_accuracy",
    "majority_cell",
    "majority_cell_baseline",
    "markdown_table",
    "report",
    "threshold_key",
]
