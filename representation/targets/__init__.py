"""Target builders: dense [N, M] weights fed to :func:`representation.functional.soft_cross_entropy`."""

from __future__ import annotations

from representation.targets.geo import haversine_kernel_targets, pigeon_geocell_targets
from representation.targets.identity import identity_targets
from representation.targets.labels import same_label_targets

__all__ = ["haversine_kernel_targets", "identity_targets", "pigeon_geocell_targets", "same_label_targets"]
