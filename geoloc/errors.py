"""Error types a user can cause. The CLI prints them as one line and exits non-zero;
the app shows them as a message next to the offending file."""

from __future__ import annotations


class GeolocError(Exception):
    """Base class for errors caused by user input (files, coordinates, bundles)."""


class CoordinateError(GeolocError, ValueError):
    """NaN, infinite or out-of-range coordinates; the message names the rows."""


class InputFileError(GeolocError, ValueError):
    """A missing, empty, malformed or unreadable input file; the message names it."""


class ImageDecodeError(InputFileError):
    """An image that cannot be decoded (corrupt, truncated, too large, unknown format)."""


class BundleError(GeolocError):
    """A model bundle that is missing, truncated, altered or of an unknown version."""
