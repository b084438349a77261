"""Image decoding: every format to 8-bit RGB, orientation, bomb guard, broken inputs."""

from __future__ import annotations

import io
import struct
import warnings
import zlib

import numpy as np
import pytest
from datahelpers import encode, gradient_rgb, tiff_rgb16
from PIL import Image

from geoloc.data.images import encode_image, load_image, to_rgb
from geoloc.errors import ImageDecodeError


def _close(a: Image.Image, b: Image.Image, tol: float) -> None:
    assert a.size == b.size
    diff = np.abs(np.asarray(a, dtype=np.int16) - np.asarray(b, dtype=np.int16))
    assert diff.mean() <= tol, diff.mean()


@pytest.mark.parametrize(("fmt", "suffix", "tol"), [
    ("JPEG", "jpg", 6.0), ("PNG", "png", 0.0), ("WEBP", "webp", 8.0), ("TIFF", "tif", 0.0),
    ("BMP", "bmp", 0.0), ("HEIF", "heic", 10.0),
])
def test_rgb_formats_decode_to_the_same_pixels(tmp_path, fmt, suffix, tol):
    ref = gradient_rgb(48, 32)
    path = tmp_path / f"x.{suffix}"
    if fmt == "HEIF":
        import pillow_heif

        pillow_heif.register_heif_opener()
        ref.save(path, format=fmt, quality=95)
    elif fmt in ("JPEG", "WEBP"):
        ref.save(path, format=fmt, quality=95)
    else:
        ref.save(path, format=fmt)
    out = load_image(path)
    assert out.mode == "RGB"
    _close(out, ref, tol)
    # the same from bytes and from an open file object
    _close(load_image(path.read_bytes()), out, 0.0)
    with open(path, "rb") as fh:
        _close(load_image(fh), out, 0.0)


def test_tiff_16bit_grey_maps_full_range_to_8bit(tmp_path):
    arr = np.linspace(0, 65535, 64 * 8).reshape(8, 64).astype(np.uint16)
    img = Image.fromarray(arr)  # uint16 -> mode I;16
    path = tmp_path / "g16.tif"
    img.save(path)
    assert Image.open(path).mode == "I;16"
    out = np.asarray(load_image(path))
    assert out.shape == (8, 64, 3)
    np.testing.assert_array_equal(out[..., 0], out[..., 2])
    expected = np.rint(arr / 257.0).astype(np.uint8)
    np.testing.assert_array_equal(out[..., 0], expected)


def test_16bit_png(tmp_path):
    arr = (np.arange(20 * 10).reshape(10, 20) * 300).astype(np.uint16)
    path = tmp_path / "g16.png"
    Image.fromarray(arr).save(path)
    out = np.asarray(load_image(path))[..., 0]
    np.testing.assert_array_equal(out, np.rint(arr / 257.0).astype(np.uint8))


def test_cmyk_tiff_and_jpeg(tmp_path):
    ref = gradient_rgb(32, 16)
    cmyk = ref.convert("CMYK")
    for fmt, tol in (("TIFF", 1.0), ("JPEG", 8.0)):
        path = tmp_path / f"c.{fmt.lower()}"
        cmyk.save(path, format=fmt)
        out = load_image(path)
        assert out.mode == "RGB"
        _close(out, cmyk.convert("RGB"), tol)


def test_palette_and_palette_with_transparency(tmp_path):
    ref = gradient_rgb(32, 16).quantize(16)
    path = tmp_path / "p.png"
    ref.save(path)
    _close(load_image(path), ref.convert("RGB"), 0.0)
    # palette index 0 transparent -> composited over white
    ref.info["transparency"] = 0
    path2 = tmp_path / "pt.png"
    ref.save(path2, transparency=0)
    out = np.asarray(load_image(path2))
    mask = np.asarray(ref) == 0
    assert mask.any()
    assert (out[mask] == 255).all()


def test_alpha_composited_over_white(tmp_path):
    arr = np.zeros((10, 10, 4), np.uint8)
    arr[..., 0] = 200
    arr[:, :5, 3] = 255  # left half opaque red-ish, right half transparent
    path = tmp_path / "a.tif"
    Image.fromarray(arr, "RGBA").save(path)
    out = np.asarray(load_image(path))
    np.testing.assert_array_equal(out[:, :5], np.broadcast_to([200, 0, 0], (10, 5, 3)))
    np.testing.assert_array_equal(out[:, 5:], np.full((10, 5, 3), 255))
    # LA (grey + alpha) as well
    la = Image.fromarray(arr[..., [0, 3]], "LA")
    out_la = np.asarray(to_rgb(la))
    assert (out_la[:, 5:] == 255).all() and (out_la[:, :5] == 200).all()


def test_gif_first_frame(tmp_path):
    frames = [Image.new("RGB", (8, 8), c) for c in ((255, 0, 0), (0, 0, 255))]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:])
    out = np.asarray(load_image(path))
    assert out[..., 0].mean() > 200 and out[..., 2].mean() < 50


def test_exif_orientation_6_rotates_pixels(tmp_path):
    # landscape image, red marker in the top-left corner
    arr = np.zeros((20, 40, 3), np.uint8)
    arr[:5, :5] = (255, 0, 0)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    path = tmp_path / "o6.jpg"
    Image.fromarray(arr).save(path, exif=exif, quality=98)
    out = np.asarray(load_image(path))
    assert out.shape == (40, 20, 3)  # now portrait
    # after a clockwise rotation the top-left marker is at the top-right
    assert out[:5, -5:, 0].mean() > 200 and out[:5, :5, 0].mean() < 50
    raw = np.asarray(load_image(path, apply_orientation=False))
    assert raw.shape == (20, 40, 3)


def test_pixel_limit_guard(tmp_path):
    path = tmp_path / "big.png"
    gradient_rgb(100, 100).save(path)
    with pytest.raises(ImageDecodeError, match=r"big\.png.*exceeds the limit"):
        load_image(path, max_pixels=5000)
    assert load_image(path, max_pixels=10_000).size == (100, 100)
    assert load_image(path, max_pixels=None).size == (100, 100)


def _png_header_only(w: int, h: int) -> bytes:
    """A PNG whose header announces w x h pixels but whose data are a few bytes: decoding it
    would fail (or explode) while reading the header is instant."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 16)) + \
        chunk(b"IEND", b"")


def test_bomb_guard_raises_before_decoding(tmp_path):
    path = tmp_path / "bomb.png"
    path.write_bytes(_png_header_only(30_000, 30_000))  # 900 MP announced
    with pytest.raises(ImageDecodeError, match=r"exceeds the limit|too large"):
        load_image(path)
    # below our limit but truncated: the error is the decode error, naming the file
    path2 = tmp_path / "short.png"
    path2.write_bytes(_png_header_only(300, 300))
    with pytest.raises(ImageDecodeError, match=r"short\.png: corrupt or truncated"):
        load_image(path2)


def test_truncated_jpeg(tmp_path):
    data = encode(gradient_rgb(200, 150), "JPEG", quality=90)
    path = tmp_path / "trunc.jpg"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageDecodeError, match=r"trunc\.jpg"):
        load_image(path)


def test_empty_and_text_and_missing_files(tmp_path):
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    with pytest.raises(ImageDecodeError, match=r"empty\.jpg: empty file"):
        load_image(empty)
    text = tmp_path / "notes.jpg"
    text.write_text("this is not an image\n")
    with pytest.raises(ImageDecodeError, match=r"notes\.jpg: not a recognised image"):
        load_image(text)
    with pytest.raises(ImageDecodeError, match=r"missing\.jpg: file not found"):
        load_image(tmp_path / "missing.jpg")
    with pytest.raises(ImageDecodeError, match="empty input"):
        load_image(b"")
    with pytest.raises(ImageDecodeError, match="bytes"):
        load_image(b"garbage bytes")


def test_encode_image_round_trip():
    ref = gradient_rgb(16, 16)
    out = load_image(encode_image(ref, "PNG"))
    _close(out, ref, 0.0)


def test_all_shared_photos_decode(exif_dir, exif_truth):
    for name in exif_truth["file"]:
        img = load_image(exif_dir / name)
        assert img.mode == "RGB" and img.width >= 1 and img.height >= 1, name
        if name == "tif_Issue_151.tif":
            arr = np.asarray(img)
            assert arr.std() > 5  # a 16-bit picture, not clipped to white
    assert load_image(exif_dir / "jpg_Issue_508.jpg").size == (1, 1)


def test_bytes_io_source_name_in_error():
    bio = io.BytesIO(b"nope")
    bio.name = "upload.png"
    with pytest.raises(ImageDecodeError, match=r"upload\.png"):
        load_image(bio)


def test_pillow_bomb_limits_defer_to_max_pixels(tmp_path, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # Pillow warns > 1000 px, errors > 2000 px
    warn_size = tmp_path / "warn.png"
    gradient_rgb(40, 40).save(warn_size)  # 1600 px: only Pillow's warning, which we ignore
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_image(warn_size).size == (40, 40)
    err_size = tmp_path / "err.png"
    gradient_rgb(50, 50).save(err_size)  # 2500 px: Pillow's hard error -> our typed error
    with pytest.raises(ImageDecodeError, match=r"err\.png: image too large"):
        load_image(err_size, max_pixels=None)


def test_tiff_16bit_rgb(tmp_path):
    arr = np.random.default_rng(0).integers(0, 65536, (6, 5, 3)).astype(np.uint16)
    path = tmp_path / "rgb16.tif"
    path.write_bytes(tiff_rgb16(arr))
    out = np.asarray(load_image(path)).astype(int)
    assert out.shape == (6, 5, 3)
    assert np.abs(out - np.rint(arr / 257.0)).max() <= 1


def _smooth_jpeg(w: int, h: int, seed: int = 0) -> bytes:
    """A photo-like (smooth) JPEG: low-frequency colour fields plus mild noise."""
    import geoloc.model  # noqa: F401  (registers the geoloc-tiny-* open_clip configs the tests resize with)

    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w] / max(w, h)
    img = np.stack([np.sin(6 * x + 1), np.cos(5 * y), np.sin(4 * (x + y))], -1) * 100 + 128
    img = np.clip(img + rng.normal(0, 4, img.shape), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="JPEG", quality=92)
    return buf.getvalue()


def test_jpeg_draft_decodes_near_the_target_size():
    """Issue 18: a JPEG meant for a small model input is decoded at a DCT-reduced scale that is still
    at least the requested size; after the model's resize the pixels barely differ from a full decode."""
    from geoloc.data.datasets import open_clip_transform
    from geoloc.data.images import draft_size

    data = _smooth_jpeg(1600, 1200)
    full = load_image(data)
    small = load_image(data, draft=draft_size(64))
    assert full.size == (1600, 1200)
    assert small.size == (200, 150) and min(small.size) >= 128        # 1/8 scale, >= 2 x 64 per side
    assert load_image(data, draft=(400, 400)).size == (800, 600)       # 1/2: 1/4 would leave 300 < 400 rows
    t = open_clip_transform("geoloc-tiny-vit", 64)
    diff = (t(full) - t(small)).abs() * 0.27                            # ~ back to [0, 1] units (std ~0.27)
    assert float(diff.mean()) < 2 / 255
    png = io.BytesIO()
    full.save(png, format="PNG")
    assert load_image(png.getvalue(), draft=(64, 64)).size == (1600, 1200)   # only JPEG has a draft mode
    assert load_image(data, draft=lambda size: None).size == (1600, 1200)


def test_draft_keeps_exif_orientation():
    data = _smooth_jpeg(800, 400)
    img = Image.open(io.BytesIO(data))
    exif = img.getexif()
    exif[0x0112] = 6  # rotate 90
    buf = io.BytesIO()
    img.save(buf, format="JPEG", exif=exif.tobytes(), quality=92)
    out = load_image(buf.getvalue(), draft=(100, 100))
    assert out.size == (100, 200)   # stored 800 x 400 at 1/4 = 200 x 100, turned upright


def test_predictor_and_training_data_decode_a_jpeg_identically(tmp_path):
    """The Geolocator drafts single photos and views exactly as LocationImages does (train = inference);
    a panorama is decoded whole before it is cut."""
    import pandas as pd
    import torch

    from geoloc.data.datasets import open_clip_transform
    from geoloc.predict import decode_views
    from geoloc.train.data import LocationImages, load_locations

    path = tmp_path / "photo.jpg"
    path.write_bytes(_smooth_jpeg(1200, 900, seed=1))
    t = open_clip_transform("geoloc-tiny-vit", 64)
    locs = load_locations(pd.DataFrame([{"path": str(path), "lat": 1.0, "lon": 2.0}]), views=1)
    pixels, ok = LocationImages(locs, t, cache=False, progress=False).pixels(0)
    views, used = decode_views(str(path), "auto", 4, draft_side=64)
    assert ok and used == "single" and views[0].size == (300, 225)   # 1/4 scale, >= 128 per side
    torch.testing.assert_close(t(views[0]), pixels[0], atol=1e-5, rtol=0)
    listed, _ = decode_views([str(path)], "auto", 1, draft_side=64)
    torch.testing.assert_close(t(listed[0]), pixels[0], atol=1e-5, rtol=0)
    pano = tmp_path / "pano.jpg"
    pano.write_bytes(_smooth_jpeg(2048, 1024))
    cut, used = decode_views(str(pano), "auto", 4, draft_side=64)
    whole, _ = decode_views(str(pano), "auto", 4)
    assert used == "panorama" and [v.size for v in cut] == [v.size for v in whole]
    assert all(np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(cut, whole, strict=True))
