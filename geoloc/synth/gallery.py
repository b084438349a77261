"""A labelled picture grid of SynthWorld scenes (docs/img/synth_grid.png, ``geoloc synth gallery``)."""

from __future__ import annotations

import os

import numpy as np

GALLERY_PLACES: list[tuple[str, float, float, int]] = [
    # (label, lat, lon, month)
    ("London", 51.507, -0.128, 6),
    ("New York", 40.713, -74.006, 10),
    ("Tokyo", 35.68, 139.76, 4),
    ("Moscow", 55.756, 37.617, 1),
    ("Cairo", 30.044, 31.236, 3),
    ("Delhi", 28.614, 77.209, 11),
    ("Bangkok", 13.756, 100.502, 8),
    ("Athens", 37.984, 23.728, 7),
    ("Sao Paulo", -23.55, -46.633, 2),
    ("Sydney", -33.869, 151.209, 9),
    ("Nairobi", -1.286, 36.817, 5),
    ("Toronto", 43.653, -79.383, 12),
]


def make_grid(path: str | os.PathLike, size: int = 128, seed: int = 0, places=GALLERY_PLACES) -> None:
    """Render each place's four views in a row with its attributes as the title; save a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from geoloc.synth.generate import generate_scene
    from geoloc.synth.locations import location_attributes

    n = len(places)
    cols = 2
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 6.4, rows * 1.95), dpi=110)
    for ax, (label, lat, lon, month) in zip(np.ravel(axes), places, strict=False):
        attrs = location_attributes(lat, lon, seed=seed, month=month, hour=10.5)
        ims = generate_scene(attrs.to_dict(), size=size, views=4)
        ax.imshow(np.concatenate([np.asarray(i) for i in ims], axis=1))
        side = "left" if attrs["drives_left"] else "right"
        ax.set_title(f"{label} ({attrs['iso_a2']}): {attrs['climate']}, {attrs['season']}, "
                     f"script {attrs['script']}, drives {side}", fontsize=7.5)
        ax.axis("off")
    for ax in np.ravel(axes)[n:]:
        ax.axis("off")
    fig.suptitle("SynthWorld: four views (headings 0/90/180/270) per place", fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
