"""Model merging: task vectors and aTLAS learned anisotropic merging."""

from __future__ import annotations

from representation.merging.atlas import LearnedAnisotropicMerge
from representation.merging.task_vector import TaskVector

__all__ = ["LearnedAnisotropicMerge", "TaskVector"]
