"""Errors a user of the library can cause (bad configuration, data too small for a batch, a
checkpoint that cannot continue). Applications print them as one line; ``geoloc``'s CLIs catch
:class:`RepresentationError` next to their own errors."""

from __future__ import annotations


class RepresentationError(Exception):
    """Base class for user-caused errors raised by ``representation``."""


class ConfigError(RepresentationError, ValueError):
    """An unknown registry name, or a config that does not fit the component it names."""


class ResumeError(RepresentationError):
    """A checkpoint that cannot be resumed here (e.g. written with another world size)."""


class DataError(RepresentationError, ValueError):
    """A dataset or batch that cannot feed the requested training (e.g. smaller than one batch)."""


class MissingModelError(RepresentationError):
    """A pretrained model is not installed locally (the message says what to fetch and where)."""


class DeviceError(RepresentationError):
    """A device that cannot be used (``cuda`` asked for without usable CUDA, more processes than GPUs)."""
