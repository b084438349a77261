"""Fit a zero-shot predictor's fusion weights on held-out locations (``geoloc zeroshot calibrate``).

```python
from geoloc.zeroshot import ZeroShotGeolocator
from geoloc.zeroshot.calibrate import calibrate_manifest

zs = ZeroShotGeolocator.from_clip("ViT-L-14", pretrained="openai", cells="bundles/m")
fusion, info = calibrate_manifest(zs, "val.csv")       # maximum likelihood of the true cells
fusion.save("calibration.json")                         # geoloc predict --zero-shot ... --calibration calibration.json
```

The validation locations must not be the ones the CLIP was trained on (a CLIP that memorised them
looks more reliable than it is, and the fit would trust it too much). The true cell of a location is
the geocell containing its coordinates (else the nearest, as :meth:`GeocellSet.assign`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from geoloc.errors import GeolocError
from geoloc.zeroshot.fusion import FEATURES, Fusion, fit_fusion


def location_embeddings(zs, manifest, *, root=None, views: int | None = None, layout: str = "auto",
                        progress: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[tuple[str, str]]]:
    """Embed every location of ``manifest`` (path or DataFrame) with ``zs``: ``(embeddings [L, E], true lat [L],
    true lon [L], failed (source, reason) pairs)``; only locations that decoded are returned."""
    from geoloc.data.manifest import read_manifest, validate_manifest
    from geoloc.eval.run import locations_from_manifest

    df = read_manifest(manifest, root=root) if isinstance(manifest, str | Path) else manifest
    clean, _ = validate_manifest(df, root)
    inputs, lat, lon = locations_from_manifest(clean, root)
    batch = [[str(p) for p in v] if len(v) > 1 else str(v[0]) for v in inputs]
    emb, errors = zs.embed(batch, layout=layout, views=views, progress=progress)
    ok = np.array([e is None for e in errors], dtype=bool)
    failed = [(str(b), e) for b, e in zip(batch, errors, strict=True) if e is not None]
    return emb[ok], lat[ok], lon[ok], failed


def calibrate_embeddings(zs, emb: np.ndarray, lat: np.ndarray, lon: np.ndarray, *, fit: Sequence[str] = FEATURES,
                         start: Fusion | None = None, source: str = "") -> tuple[Fusion, dict[str, Any]]:
    """Fit the weights ``fit`` of ``start`` (default: ``zs.fusion``) on unit embeddings [N, E] with true
    coordinates (degrees); returns the fitted :class:`Fusion` (its ``fitted`` names the geocell set, the CLIP,
    N and the NLL before/after) and the fit's info."""
    if len(emb) == 0:
        raise GeolocError("calibration needs at least one location")
    start = start or zs.fusion
    if start.prior_source != zs.fusion.prior_source:
        raise GeolocError("the starting fusion must use the predictor's prior")
    true_cell = zs.geocells.assign(lat, lon)
    fused, info = fit_fusion(zs.features(emb), true_cell, start, fit=fit)
    where = f" of {source}" if source else ""
    note = (f"fitted ({', '.join(fit)}) by maximum likelihood on {len(emb)} held-out locations{where}: "
            f"NLL {info['nll_start']:.3f} -> {info['nll']:.3f} nats, {fused.prior_source} prior")
    meta = {"geocells_id": zs.geocells_id, "clip": zs.clip.name, "weights": zs.clip.source, "n": len(emb),
            "nll_start": info["nll_start"], "nll": info["nll"], "fit": list(fit), "source": str(source)}
    return Fusion(fused.cell, fused.admin1, fused.country, fused.prior, prior_source=fused.prior_source, note=note,
                  fitted=meta), info


def calibrate_manifest(zs, manifest, *, fit: Sequence[str] = FEATURES, root=None, views: int | None = None,
                       layout: str = "auto", progress: bool = True) -> tuple[Fusion, dict[str, Any]]:
    """:func:`calibrate_embeddings` on every readable location of a manifest (the info adds ``failed``)."""
    emb, lat, lon, failed = location_embeddings(zs, manifest, root=root, views=views, layout=layout,
                                                progress=progress)
    fused, info = calibrate_embeddings(zs, emb, lat, lon, fit=fit,
                                       source=str(manifest) if isinstance(manifest, str | Path) else "")
    return fused, {**info, "failed": failed, "n": len(emb)}


__all__ = ["calibrate_embeddings", "calibrate_manifest", "location_embeddings"]
