"""Target builders: dense [N, M] weights fed to :func:`representation.functional.soft_cross_entropy`."""

from __future__ import annotations

from representation.targets.geo import (
    GEOCELL_TARGET_FORMS,
    distance_kernel_targets,
    geocell_log_targets,
    haversine_kernel_targets,
    pigeon_geocell_targets,
)
from representation.targets.hierarchy import (
    HierarchyJaccard,
    hierarchy_jaccard_score,
    hierarchy_jaccard_targets,
)
from representation.targets.identity import identity_targets
from representation.targets.label_kernel import LabelEmbeddingKernel, label_embedding_kernel_targets
from representation.targets.labels import same_label_targets

__all__ = [
    "GEOCELL_TARGET_FORMS",
    "HierarchyJaccard",
    "LabelEmbeddingKernel",
    "distance_kernel_targets",
    "geocell_log_targets",
    "haversine_kernel_targets",
    "hierarchy_jaccard_score",
    "hierarchy_jaccard_targets",
    "identity_targets",
    "label_embedding_kernel_targets",
    "pigeon_geocell_targets",
    "same_label_targets",
]
