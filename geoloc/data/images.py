"""Robust image decoding: every format a user may drop in, as an 8-bit RGB PIL image.

JPEG, PNG, WebP, TIFF (8/16-bit, CMYK, palette, alpha), GIF (first frame), BMP and
HEIC/HEIF (through the pillow-heif plugin) decode to RGB; EXIF orientation is applied;
images whose header announces more than ``max_pixels`` pixels are refused before their
pixel data are decoded; empty, truncated, corrupt and non-image inputs raise
:class:`geoloc.errors.ImageDecodeError` naming the file.
"""

from __future__ import annotations

import io
import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from geoloc.errors import ImageDecodeError, InputFileError

#: Default pixel limit (width x height) of :func:`load_image`: 100 megapixels.
DEFAULT_MAX_PIXELS = 100_000_000

#: File suffixes treated as images when scanning folders.
IMAGE_EXTENSIONS: tuple[str, ...] = (
    ".jpg",
    ".jpeg",
    ".png",
    ".webp",
    ".tif",
    ".tiff",
    ".gif",
    ".bmp",
    ".heic",
    ".heif",
    ".avif",
)

#: Background colour used when flattening transparency.
ALPHA_BACKGROUND = (255, 255, 255)

ImageSource = str | os.PathLike | bytes | bytearray | memoryview | BinaryIO

_HEIF_REGISTERED = False


def register_heif() -> bool:
    """Register the pillow-heif opener once; False when the plugin is not installed."""
    global _HEIF_REGISTERED
    if not _HEIF_REGISTERED:
        try:
            import pillow_heif
        except ImportError:  # pragma: no cover - pillow-heif is a dependency
            return False
        pillow_heif.register_heif_opener()
        _HEIF_REGISTERED = True
    return True


def source_name(src: ImageSource) -> str:
    """A name for messages: the path, the file object's name, or '<N bytes>'."""
    if isinstance(src, str | os.PathLike):
        return str(src)
    if isinstance(src, bytes | bytearray | memoryview):
        return f"<{len(src)} bytes>"
    return str(getattr(src, "name", "<file object>"))


def _as_stream(src: ImageSource, name: str) -> BinaryIO:
    if isinstance(src, str | os.PathLike):
        path = Path(src)
        if not path.is_file():
            raise ImageDecodeError(f"{name}: file not found")
        if path.stat().st_size == 0:
            raise ImageDecodeError(f"{name}: empty file")
        return io.BytesIO(path.read_bytes())
    if isinstance(src, bytes | bytearray | memoryview):
        if len(src) == 0:
            raise ImageDecodeError(f"{name}: empty input")
        return io.BytesIO(bytes(src))
    return src


def open_image(src: ImageSource, *, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> Image.Image:
    """Open (header only) and check the pixel budget; the caller decodes. Raises
    :class:`ImageDecodeError` for unreadable input or more than ``max_pixels`` pixels."""
    register_heif()
    name = source_name(src)
    stream = _as_stream(src, name)
    try:
        with warnings.catch_warnings():
            # our own max_pixels check below is authoritative; Pillow's hard error (> 2x its
            # MAX_IMAGE_PIXELS, ~179 MP) still applies
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(stream)
    except Image.DecompressionBombError as exc:
        raise ImageDecodeError(f"{name}: image too large ({exc})") from exc
    except UnidentifiedImageError as exc:
        raise ImageDecodeError(f"{name}: not a recognised image format") from exc
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise ImageDecodeError(f"{name}: cannot read image header ({exc})") from exc
    w, h = img.size
    if w <= 0 or h <= 0:
        raise ImageDecodeError(f"{name}: image has no pixels ({w}x{h})")
    if max_pixels is not None and w * h > max_pixels:
        raise ImageDecodeError(
            f"{name}: {w}x{h} = {w * h:,} pixels exceeds the limit of {max_pixels:,} "
            "(decompression-bomb guard; raise max_pixels to accept it)"
        )
    return img


def _high_bit_depth_to_l(img: Image.Image) -> Image.Image:
    """Greyscale 16-bit / 32-bit int / float -> 8-bit L. Integer data above 255 are taken as
    16-bit full range (value / 257); floats are scaled by their own min/max."""
    arr = np.asarray(img)
    if arr.dtype.kind == "f":
        lo, hi = float(np.nanmin(arr)), float(np.nanmax(arr))
        if hi <= 1.0 and lo >= 0.0:
            scaled = arr * 255.0
        else:
            scaled = (arr - lo) * (255.0 / max(hi - lo, 1e-12))
    else:
        arr = arr.astype(np.float64)
        scaled = arr / 257.0 if arr.max(initial=0) > 255 or img.mode.startswith("I;16") else arr
    return Image.fromarray(np.clip(np.rint(np.nan_to_num(scaled)), 0, 255).astype(np.uint8), mode="L")


def to_rgb(img: Image.Image) -> Image.Image:
    """Any Pillow mode -> 8-bit RGB; transparency is composited over white."""
    if img.mode == "RGB":
        return img
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        return _high_bit_depth_to_l(img).convert("RGB")
    if img.mode == "P":
        img = img.convert("RGBA") if "transparency" in img.info else img.convert("RGB")
    if img.mode in ("LA", "La", "PA", "RGBa"):
        img = img.convert("RGBA")
    if img.mode == "RGBA":
        background = Image.new("RGB", img.size, ALPHA_BACKGROUND)
        background.paste(img, mask=img.getchannel("A"))
        return background
    return img.convert("RGB")


DRAFT_MARGIN = 2
"""A JPEG decoded for a model input of side S is decoded at no less than ``DRAFT_MARGIN * S`` per side
(see :func:`draft_size`): the DCT-domain downscale (1/2, 1/4, 1/8) does most of the reduction, the
antialiased resize the last factor of at most ~2."""


def draft_size(side: int | tuple[int, int]) -> tuple[int, int]:
    """The ``draft`` argument of :func:`load_image` for a model input of ``side`` pixels."""
    w, h = (side, side) if isinstance(side, int) else side
    return DRAFT_MARGIN * int(w), DRAFT_MARGIN * int(h)


def load_image(
    src: ImageSource, *, max_pixels: int | None = DEFAULT_MAX_PIXELS, apply_orientation: bool = True,
    draft: tuple[int, int] | Callable[[tuple[int, int]], tuple[int, int] | None] | None = None,
) -> Image.Image:
    """Decode ``src`` (path, bytes or binary file object) to an 8-bit RGB image.

    Multi-frame files (GIF, TIFF) give their first frame; the EXIF orientation tag is
    applied (``apply_orientation``). Raises :class:`ImageDecodeError` naming the file for
    empty, truncated, corrupt, non-image or over-``max_pixels`` input (``None`` disables
    the pixel guard; Pillow's own limit of ~179 MP still applies). Truncated files are
    refused unless the caller set ``PIL.ImageFile.LOAD_TRUNCATED_IMAGES`` globally.

    ``draft`` (w, h): a JPEG is decoded directly at a reduced scale (libjpeg's DCT scaling, 1/2, 1/4
    or 1/8) whose size is still at least (w, h) (in the stored orientation; pass a square for
    orientation-free sizes, e.g. :func:`draft_size`): a 12 MP photo meant for a 336 px model input
    decodes several times faster. Other formats ignore it. A callable gets the stored (w, h) from
    the header and returns the draft size or None (decide per image, e.g. not for a panorama).
    """
    name = source_name(src)
    img = open_image(src, max_pixels=max_pixels)
    if callable(draft):
        draft = draft(img.size)
    if draft is not None and img.format == "JPEG":
        img.draft(img.mode, (int(draft[0]), int(draft[1])))
    try:
        if getattr(img, "n_frames", 1) > 1:
            img.seek(0)
        img.load()
        if apply_orientation:
            img = ImageOps.exif_transpose(img) or img
        rgb = to_rgb(img)
        rgb.load()
    except ImageDecodeError:
        raise
    except (OSError, ValueError, SyntaxError, EOFError, IndexError, TypeError, KeyError) as exc:
        raise ImageDecodeError(f"{name}: corrupt or truncated image ({exc})") from exc
    return rgb


def expand_image_paths(paths: list[str | os.PathLike]) -> tuple[list[str], list[str]]:
    """Arguments as a user gives them -> (image paths, notes for the user).

    A folder becomes the image files under it (recursively, by :data:`IMAGE_EXTENSIONS`, case
    insensitive, hidden files and folders skipped, sorted), with a note "DIR: N images"; a folder
    without images raises :class:`~geoloc.errors.InputFileError`. Anything else is kept as it is, so a
    missing or broken file is reported per file by whoever decodes it."""
    out: list[str] = []
    notes: list[str] = []
    for arg in paths:
        p = Path(arg)
        if not p.is_dir():
            out.append(str(arg))
            continue
        found = sorted(str(f) for f in p.rglob("*")
                       if f.suffix.lower() in IMAGE_EXTENSIONS and f.is_file()
                       and not any(part.startswith(".") for part in f.relative_to(p).parts))
        if not found:
            raise InputFileError(f"{arg}: a folder with no images in it (looked for "
                                 f"{', '.join(IMAGE_EXTENSIONS)}, recursively)")
        notes.append(f"{arg}: {len(found)} image{'s' if len(found) != 1 else ''}")
        out.extend(found)
    return out, notes


def image_format(data: bytes) -> str | None:
    """Pillow's format name ('JPEG', 'PNG', 'HEIF', ...) of encoded bytes, or None."""
    register_heif()
    try:
        with Image.open(io.BytesIO(data)) as img:
            return img.format
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        return None


def encode_image(img: Image.Image, fmt: str = "JPEG", *, quality: int = 95) -> bytes:
    """Encode a PIL image (converted to RGB) as JPEG/PNG/WebP bytes."""
    buf = io.BytesIO()
    rgb = to_rgb(img)
    if fmt.upper() in ("JPEG", "JPG", "WEBP"):
        rgb.save(buf, format="JPEG" if fmt.upper() in ("JPEG", "JPG") else "WEBP", quality=quality)
    else:
        rgb.save(buf, format=fmt.upper())
    return buf.getvalue()
