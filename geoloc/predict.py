"""Geolocator: load a model bundle and predict where images were taken.

```python
from geoloc.predict import Geolocator
geo = Geolocator.from_pretrained("bundles/synthworld-tiny")        # device=None: CUDA if present
preds = geo.predict(["a.jpg", open("b.jpg", "rb").read(), pil_image])      # one view each
preds = geo.predict([["n.jpg", "e.jpg", "s.jpg", "w.jpg"]])               # four views of one place
preds = geo.predict("pano.jpg", layout="panorama")                         # a 360-degree panorama
preds[0].lat, preds[0].lon, preds[0].countries[0], preds[0].to_dict()
```

Inputs: a path, bytes, binary file object or PIL image per location, or a list/tuple of those
(the views of one location). ``layout`` says how an item holds its views (:mod:`geoloc.data.layout`):
``auto`` (default: lists are views, a 2:1 panorama at least 1000 px wide is cut into the model's
view count, an N:1 strip of N views is cut apart, anything else is one photo), ``single``,
``panorama``, ``strip`` or ``views``. ``views`` overrides the number of views a panorama or strip
is cut into (default: the bundle's). A bad item (undecodable image, wrong number of views) gets
``Prediction.error`` and the others are still predicted.

Steps per batch: decode -> open_clip preprocessing from the bundle -> fused embedding [B, D] ->
geocell (+ auxiliary) logits -> softmax -> top-k cells, country / admin-1 probabilities (sums of
the cell probabilities by each cell's country / admin-1) -> retrieval refinement
(:class:`geoloc.refine.Refiner`) -> nearest gazetteer place of every reported point.

Everything except the scoring step lives in :class:`CellScoringPredictor`, so a predictor whose
cell probabilities come from elsewhere (zero-shot CLIP prompts, :mod:`geoloc.zeroshot`) returns
the same :class:`Prediction` objects by implementing ``forward``.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from geoloc.bundle import Bundle, load_bundle
from geoloc.errors import GeolocError

# --------------------------------------------------------------------------- output types


@dataclass
class Place:
    """Nearest gazetteer place of a point (``distance_km`` from the point, km)."""

    name: str
    admin1: str
    cc: str
    distance_km: float


@dataclass
class TopPoint:
    """One of the top-k geocells: its centroid (degrees), probability and names.

    ``country`` is the ISO alpha-3 code; ``admin1`` the admin-1 unit's name, ``admin1_iso`` its ISO
    3166-2 code ("" where Natural Earth has none) and ``admin1_code`` Natural Earth's own id."""

    lat: float
    lon: float
    probability: float
    cell: int
    cell_name: str
    country: str
    admin1: str
    admin1_iso: str = ""
    admin1_code: str = ""
    place: Place | None = None


@dataclass
class RegionProbability:
    """Probability of a country (``code`` = ISO alpha-3, ``iso`` = ISO alpha-2) or an admin-1 unit
    (``code`` = Natural Earth adm1_code, ``iso`` = ISO 3166-2 or ""), with its ``name``."""

    code: str
    name: str
    probability: float
    iso: str = ""


@dataclass
class RefinedPoint:
    """Retrieval-refined location (degrees) and how it was chosen (see :class:`geoloc.refine.RefineResult`)."""

    lat: float
    lon: float
    cell: int
    cluster: int
    weight: float
    fallback: bool
    capped: bool
    place: Place | None = None


@dataclass
class Prediction:
    """Geolocation of one input location.

    Attributes:
        source: name of the input (path, ``<N bytes>``, ``<PIL image>``, or ``[...]`` for views).
        lat, lon: final guess in degrees (refined point, else the top-1 cell centroid; None on error).
        top_k: the k most probable geocells, most probable first.
        countries, admin1: region probabilities, most probable first (at most ``top_regions``).
        refined: refined point (None when refinement is off or the bundle has no prototypes).
        views: number of views used.
        layout: how the input was read (``single``, ``panorama``, ``strip`` or ``views``).
        hedged: the guess was moved to the centroid with the highest expected GeoGuessr score
            (``lat``/``lon`` then differ from ``refined``; see :mod:`geoloc.refine.hedge`).
        timings_ms: ``decode`` (this item), ``embed``, ``classify``, ``refine`` (the batch's time
            divided by its items), ``total``.
        error: why this item could not be predicted (then every other field is empty).
    """

    source: str
    lat: float | None = None
    lon: float | None = None
    top_k: list[TopPoint] = field(default_factory=list)
    countries: list[RegionProbability] = field(default_factory=list)
    admin1: list[RegionProbability] = field(default_factory=list)
    refined: RefinedPoint | None = None
    views: int = 0
    layout: str = ""
    hedged: bool = False
    timings_ms: dict[str, float] = field(default_factory=dict)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable dict (floats, ints, strings, lists, dicts, None)."""
        return dataclasses.asdict(self)


# --------------------------------------------------------------------------- functional core


def region_index(labels: Sequence[str]) -> tuple[list[str], np.ndarray]:
    """Distinct non-empty labels (sorted) and the column of each cell's label ([C] int64, -1 for "")."""
    labels = np.asarray([str(x) for x in labels], dtype=object)
    keys = sorted({x for x in labels if x})
    pos = {k: i for i, k in enumerate(keys)}
    return keys, np.array([pos.get(x, -1) for x in labels], dtype=np.int64)


def aggregate_probabilities(cell_probs: np.ndarray, column: np.ndarray, n_regions: int) -> np.ndarray:
    """Sum cell probabilities [B, C] into regions [B, R]; ``column[c]`` is the region of cell c
    (-1: none, not counted)."""
    from scipy import sparse

    keep = column >= 0
    m = sparse.csr_matrix((np.ones(int(keep.sum())), (np.flatnonzero(keep), column[keep])),
                          shape=(column.size, n_regions))
    return np.asarray(m.T @ np.asarray(cell_probs, dtype=np.float64).T).T


def _source_name(item: Any) -> str:
    from PIL import Image

    from geoloc.data.images import source_name

    if isinstance(item, Image.Image):
        return "<PIL image>"
    if isinstance(item, list | tuple):
        return "[" + ", ".join(_source_name(x) for x in item) + "]"
    try:
        return source_name(item)
    except Exception:
        return f"<{type(item).__name__}>"


def _decode_one(src: Any, draft: Any = None):
    from PIL import Image

    from geoloc.data.images import load_image, to_rgb

    if isinstance(src, Image.Image):
        try:
            src.load()
            return to_rgb(src)
        except (OSError, ValueError) as exc:
            raise GeolocError(f"PIL image could not be read ({exc})") from exc
    if isinstance(src, str | os.PathLike | bytes | bytearray | memoryview) or hasattr(src, "read"):
        return load_image(src, draft=draft)
    raise GeolocError(f"unsupported input type {type(src).__name__} (use a path, bytes or a PIL image)")


def decode_views(item: Any, layout: str = "auto", n_views: int = 4, draft_side: int | None = None
                 ) -> tuple[list, str]:
    """Decode one input location to (RGB PIL views, the layout used); see :mod:`geoloc.data.layout`.

    ``layout="views"`` needs a list (of exactly ``n_views`` images when ``n_views`` is given by the
    caller); ``single`` / ``panorama`` / ``strip`` need one image; ``auto`` decides per item.
    ``draft_side``: the model's input side; a JPEG view or single photo is then decoded at a reduced
    scale still at least :data:`geoloc.data.images.DRAFT_MARGIN` times that (as the training data
    are, :class:`geoloc.train.data.LocationImages`); panoramas and strips are decoded whole."""
    from geoloc.data.images import draft_size
    from geoloc.data.layout import check_layout, cut_views, infer_layout

    check_layout(layout)
    square = None if draft_side is None else draft_size(draft_side)
    if isinstance(item, list | tuple):
        if layout not in ("auto", "views"):
            raise GeolocError(f"a list of {len(item)} views cannot be read as layout {layout!r}")
        if len(item) == 0:
            raise GeolocError("empty list of views")
        return [_decode_one(v, square) for v in item], "views"
    if layout == "views":
        raise GeolocError("layout 'views' needs a list of images per location")

    def single_only(size: tuple[int, int]) -> tuple[int, int] | None:
        """Draft only an image that is one view in either orientation (EXIF may turn it)."""
        if layout == "single" or (layout == "auto" and infer_layout(item, size, n_views) == "single"
                                  and infer_layout(item, size[::-1], n_views) == "single"):
            return square
        return None

    img = _decode_one(item, single_only if square is not None else None)
    used = infer_layout(item, img.size, n_views) if layout == "auto" else layout
    return cut_views(img, used, n_views), used


def _is_single(inputs: Any) -> bool:
    from PIL import Image

    return isinstance(inputs, str | os.PathLike | bytes | bytearray | memoryview | Image.Image) or hasattr(
        inputs, "read")


def _resolve_device(device) -> torch.device:
    """None / "auto": CUDA when usable (loudly CPU where a GPU was expected); else as given
    (:func:`representation.distributed.resolve_device`; "cuda" without CUDA fails in one line)."""
    from representation.distributed.launch import resolve_device

    return resolve_device(device, what="prediction")


# --------------------------------------------------------------------------- shared assembly


class CellScoringPredictor:
    """Decode inputs, score geocells, and assemble :class:`Prediction` objects.

    The shared part of every geocell predictor: batching, decoding and view handling, top-k cells,
    country / admin-1 aggregation, optional retrieval refinement, nearest places and timings.
    A subclass supplies the scores by implementing :meth:`forward` (pixels -> embedding and cell
    probabilities) and, in its ``__init__``, sets ``device`` (torch.device), ``batch_size`` (int),
    ``transform`` (PIL image -> tensor [3, S, S]), ``refiner`` (:class:`geoloc.refine.Refiner` or
    None) and calls :meth:`_init_cells` with its GeocellSet. :class:`Geolocator` (a trained bundle)
    and :class:`geoloc.zeroshot.ZeroShotGeolocator` (CLIP text prompts) are the two predictors.
    ``prediction_type`` is the :class:`Prediction` (sub)class created per item; :meth:`_annotate`
    may add fields to the successful predictions of a batch.
    """

    prediction_type: type[Prediction] = Prediction
    geocells: Any
    """The GeocellSet whose row ``i`` is class ``i``."""
    config: dict[str, Any]
    """What front ends show: a bundle's ``config.json`` (``card``, ``image_size``, ``views``, ``backbone``...),
    or the same fields for a zero-shot predictor."""
    device: torch.device
    batch_size: int
    transform: Any
    refiner: Any = None
    hedge: bool = False
    """Move each guess to the cell centroid with the highest expected GeoGuessr score when that is
    another cell (:mod:`geoloc.refine.hedge`); a bundle sets it from its validation tuning."""

    def _init_cells(self, geocells) -> None:
        """Per-cell names, centroids (degrees) and the country / admin-1 index of a GeocellSet."""
        f = geocells.frame
        self.centroids = geocells.centroids
        self.cell_names = f["name"].astype(str).tolist()
        self.cell_country = f["country"].astype(str).tolist()
        self.cell_admin1 = f["adm1_code"].astype(str).tolist()
        self.country_keys, self.country_col = region_index(self.cell_country)
        self.admin1_keys, self.admin1_col = region_index(self.cell_admin1)
        self.country_names = dict(zip(f["country"].astype(str), f["country_name"].astype(str), strict=True))
        self.admin1_names = dict(zip(f["adm1_code"].astype(str), f["admin1"].astype(str), strict=True))
        self.admin1_iso = _admin1_iso(self.admin1_keys)
        self.country_iso = _country_iso(self.country_keys)

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def forward(self, pixels: torch.Tensor, valid: torch.Tensor | None = None) -> tuple[np.ndarray, np.ndarray,
                                                                                      float, float]:
        """pixels [B, V, 3, S, S] (``valid`` [B, V] bool or None) -> (embedding [B, D] float32,
        cell probabilities [B, C] float64, embed ms, classify ms)."""
        raise NotImplementedError

    def _annotate(self, preds: list[Prediction], emb: np.ndarray, probs: np.ndarray,
                  top_regions: int | None) -> None:
        """Hook: add predictor-specific fields to the batch's successful predictions (row j of
        ``emb`` / ``probs`` belongs to ``preds[j]``; ``top_regions`` as in :meth:`predict`).
        Default: nothing."""

    # -- public API -------------------------------------------------------------------------------
    default_views: int = 4
    """Views a panorama or strip is cut into when ``views`` is not given (a bundle's own count)."""

    def predict(self, inputs, *, layout: str = "auto", views: int | None = None, top_k: int = 5,
                refine: bool = True, top_regions: int | None = 10, places: bool = True,
                progress: bool = False, hedge: bool | None = None) -> list[Prediction]:
        """Predict every input location (batched); one :class:`Prediction` per item, in order.

        Args:
            inputs: one item or a sequence of items (see the module docstring).
            layout: ``auto`` | ``single`` | ``panorama`` | ``strip`` | ``views``: how an item holds its
                views (:mod:`geoloc.data.layout`); ``auto`` decides per item from its type and aspect.
            views: views a panorama or strip is cut into, and the number a ``views`` list must have;
                None = the model's own count (:attr:`default_views`; 4 for a single-view model).
            top_k: geocells reported per item.
            refine: apply retrieval refinement (needs prototypes in the bundle).
            top_regions: countries / admin-1 units reported (None = all with their probability).
            places: look up the nearest gazetteer place of every reported point.
            progress: show a progress bar over batches.
            hedge: move guesses to the centroid with the highest expected GeoGuessr score (None = the
                bundle's setting, chosen on its validation split).
        """
        if views is not None and (isinstance(views, bool) or not isinstance(views, int) or views < 1):
            raise GeolocError(f"views must be a positive integer or None, got {views!r}")
        from geoloc.data.layout import check_layout

        check_layout(layout)
        if top_k < 1:
            raise GeolocError(f"top_k must be >= 1, got {top_k}")
        items = [inputs] if _is_single(inputs) else list(inputs)
        out: list[Prediction] = []
        starts = range(0, len(items), self.batch_size)
        if progress:
            from tqdm.auto import tqdm

            starts = tqdm(starts, desc="predict", unit="batch")
        for s in starts:
            out.extend(self._predict_batch(items[s:s + self.batch_size], layout, views, top_k, refine, top_regions,
                                           places, self.hedge if hedge is None else bool(hedge)))
        return out

    def _cut_views(self) -> int:
        return self.default_views if self.default_views > 1 else 4

    def _draft_side(self) -> int | None:
        """The input side JPEGs are draft-decoded for (the preprocessing's resize), None if unknown."""
        from geoloc.data.datasets import transform_size

        hw = transform_size(self.transform)
        return None if hw is None else max(hw)

    def embed(self, inputs, *, layout: str = "auto", views: int | None = None,
              progress: bool = False) -> tuple[np.ndarray, list[str | None]]:
        """The fused embedding of every input location ([N, D] float32; NaN rows for items that failed)
        and each item's error (None when it was embedded): the part of :meth:`predict` before scoring."""
        items = [inputs] if _is_single(inputs) else list(inputs)
        rows: list[np.ndarray | None] = [None] * len(items)
        errors: list[str | None] = [None] * len(items)
        starts = range(0, len(items), self.batch_size)
        if progress:
            from tqdm.auto import tqdm

            starts = tqdm(starts, desc="embed", unit="batch")
        for s in starts:
            preds, ok, pixels, valid = self._decode_batch(items[s:s + self.batch_size], layout, views)
            for j, p in enumerate(preds):
                errors[s + j] = p.error
            if ok:
                emb = self.forward(pixels, None if bool(valid.all()) else valid)[0]
                for j, i in enumerate(ok):
                    rows[s + i] = emb[j]
        dim = next((r.shape[0] for r in rows if r is not None), 0)
        out = np.full((len(items), dim), np.nan, dtype=np.float32)
        for i, r in enumerate(rows):
            if r is not None:
                out[i] = r
        return out, errors

    def _decode_batch(self, items: list, layout, views) -> tuple[list[Prediction], list[int], torch.Tensor | None,
                                                                  torch.Tensor | None]:
        """Decode a batch: (a Prediction per item, errors filled in; indices of the decoded items; pixels
        [B_ok, V, 3, S, S] padded to the largest view count; valid [B_ok, V] bool)."""
        preds = [self.prediction_type(source=_source_name(it)) for it in items]
        tensors: list[torch.Tensor] = []
        ok: list[int] = []
        for i, it in enumerate(items):
            t0 = time.perf_counter()
            try:
                imgs, used = decode_views(it, layout, views or self._cut_views(), self._draft_side())
                if used == "views" and views is not None and len(imgs) != views:
                    raise GeolocError(f"expected {views} view(s), got {len(imgs)}")
                tensors.append(torch.stack([self.transform(im) for im in imgs]))
            except GeolocError as exc:
                preds[i].error = str(exc)
                continue
            preds[i].views = len(imgs)
            preds[i].layout = used
            preds[i].timings_ms["decode"] = (time.perf_counter() - t0) * 1e3
            ok.append(i)
        if not ok:
            return preds, ok, None, None
        vmax = max(t.shape[0] for t in tensors)
        pixels = torch.zeros(len(ok), vmax, *tensors[0].shape[1:])
        valid = torch.zeros(len(ok), vmax, dtype=torch.bool)
        for j, t in enumerate(tensors):
            pixels[j, : t.shape[0]] = t
            valid[j, : t.shape[0]] = True
        return preds, ok, pixels, valid

    def _predict_batch(self, items: list, layout, views, top_k, refine, top_regions,
                       places, hedge: bool = False) -> list[Prediction]:
        preds, ok, pixels, valid = self._decode_batch(items, layout, views)
        if not ok:
            return preds
        emb, probs, embed_ms, cls_ms = self.forward(pixels, None if bool(valid.all()) else valid)
        refine_ms = 0.0
        res = None
        if refine and self.refiner is not None:
            t0 = time.perf_counter()
            res = self.refiner.refine(emb, probs)
            refine_ms = (time.perf_counter() - t0) * 1e3
        k = min(top_k, probs.shape[1])
        top = np.argsort(-probs, axis=1, kind="stable")[:, :k]
        country_p = aggregate_probabilities(probs, self.country_col, len(self.country_keys))
        admin1_p = aggregate_probabilities(probs, self.admin1_col, len(self.admin1_keys))
        n = len(ok)
        if res is not None:
            guess_lat, guess_lon, guess_cell = res.lat, res.lon, res.cell
        else:
            guess_lat, guess_lon, guess_cell = self.centroids[top[:, 0], 0], self.centroids[top[:, 0], 1], top[:, 0]
        moved = np.zeros(n, dtype=bool)
        if hedge:
            from geoloc.refine.hedge import apply_hedge

            guess_lat, guess_lon, moved = apply_hedge(guess_lat, guess_lon, guess_cell, probs, self.centroids)
        for j, i in enumerate(ok):
            p = preds[i]
            p.top_k = [TopPoint(lat=float(self.centroids[c, 0]), lon=float(self.centroids[c, 1]),
                                probability=float(probs[j, c]), cell=int(c), cell_name=self.cell_names[c],
                                country=self.cell_country[c],
                                admin1=self.admin1_names.get(self.cell_admin1[c], ""),
                                admin1_iso=self.admin1_iso.get(self.cell_admin1[c], ""),
                                admin1_code=self.cell_admin1[c]) for c in top[j]]
            p.countries = _ranked(country_p[j], self.country_keys, self.country_names, self.country_iso,
                                  top_regions)
            p.admin1 = _ranked(admin1_p[j], self.admin1_keys, self.admin1_names, self.admin1_iso, top_regions)
            if res is not None:
                p.refined = RefinedPoint(lat=float(res.lat[j]), lon=float(res.lon[j]), cell=int(res.cell[j]),
                                         cluster=int(res.cluster[j]), weight=float(res.weight[j]),
                                         fallback=bool(res.fallback[j]), capped=bool(res.capped[j]))
            p.lat, p.lon, p.hedged = float(guess_lat[j]), float(guess_lon[j]), bool(moved[j])
            p.timings_ms.update(embed=embed_ms / n, classify=cls_ms / n, refine=refine_ms / n)
            p.timings_ms["total"] = sum(p.timings_ms[x] for x in ("decode", "embed", "classify", "refine"))
        self._annotate([preds[i] for i in ok], emb, probs, top_regions)
        if places:
            self._attach_places([preds[i] for i in ok])
        return preds

    @staticmethod
    def _attach_places(preds: list[Prediction]) -> None:
        from geoloc.geo import nearest_place

        targets = [t for p in preds for t in ([*p.top_k, p.refined] if p.refined else p.top_k)]
        targets = [t for t in targets if np.isfinite(t.lat) and np.isfinite(t.lon)]
        if not targets:
            return
        df = nearest_place(np.array([t.lat for t in targets]), np.array([t.lon for t in targets]))
        for t, row in zip(targets, df.itertuples(index=False), strict=True):
            t.place = Place(name=str(row.name), admin1=str(row.admin1), cc=str(row.cc),
                            distance_km=float(row.distance_km))


# --------------------------------------------------------------------------- Geolocator


class Geolocator(CellScoringPredictor):
    """Predictions from a :class:`geoloc.bundle.Bundle` (see the module docstring).

    Args:
        bundle: a loaded bundle (:func:`geoloc.bundle.load_bundle`).
        device: torch device; None = CUDA when available, else CPU.
        batch_size: locations per forward pass.
        refine_backend: ``auto`` | ``faiss`` | ``torch`` (see :class:`geoloc.refine.Refiner`).
        precision: the tower's forward: ``auto`` (bf16 autocast on CUDA, float32 on the CPU) | ``fp32``
            | ``bf16`` (:mod:`geoloc.model.precision`); heads, softmax and refinement are always float32+.
        refine: build the refiner from the bundle's prototypes (False: the forward pass only, e.g. on
            the ranks of a sharded evaluation that do not refine).
    """

    def __init__(self, bundle: Bundle, device=None, *, batch_size: int = 32, refine_backend: str = "auto",
                 precision: str = "auto", refine: bool = True) -> None:
        from geoloc.data.datasets import open_clip_transform
        from geoloc.refine import Refiner

        if batch_size < 1:
            raise GeolocError(f"batch_size must be >= 1, got {batch_size}")
        self.bundle = bundle
        self.config = bundle.config
        from geoloc.model.precision import resolve_precision

        self.device = _resolve_device(device)
        self.precision = resolve_precision(precision, self.device)
        self.batch_size = int(batch_size)
        self.model = bundle.model.to(self.device).eval()
        self.transform = open_clip_transform(dict(self.config["preprocessing"]))
        self.geocells = bundle.geocells
        self._init_cells(bundle.geocells)
        self.refiner = None
        self.hedge = bool(self.config["refine"].get("hedge", False))
        if bundle.prototypes is not None and refine:
            settings = {k: v for k, v in self.config["refine"].items() if k != "hedge"}
            self.refiner = Refiner(bundle.prototypes, cell_centroids=self.centroids, **settings,
                                   backend=refine_backend, device=self.device)

    @classmethod
    def from_pretrained(cls, path: str | Path, device=None, **kwargs) -> CellScoringPredictor:
        """Load (and verify) a model from any source :mod:`geoloc.sources` knows: a bundle folder, a
        published bundle ``hf-hub:ORG/NAME[@REVISION]`` (downloaded once into the Hugging Face cache), or a
        zero-shot spec ``zero-shot:ARCH@TAG`` (then a :class:`geoloc.zeroshot.ZeroShotGeolocator`, which
        predicts the same way). Raises BundleError for a broken bundle, OfflineError (one line) for
        weights that are neither on disk nor reachable."""
        from geoloc.sources import ModelSource, bundle_path, load_predictor

        src = ModelSource.parse(str(path))
        if src.kind == "zero-shot":
            return load_predictor(src, device=device, **kwargs)
        if src.kind == "default":
            raise GeolocError("Geolocator.from_pretrained needs a bundle folder or source name")
        return cls(load_bundle(bundle_path(src)), device=device, **kwargs)

    @property
    def default_views(self) -> int:  # type: ignore[override]
        """Views per location the model was trained with (from config.json)."""
        return int(self.config["views"])

    # -- model -------------------------------------------------------------------------------------
    @torch.no_grad()
    def forward(self, pixels: torch.Tensor, valid: torch.Tensor | None = None) -> tuple[np.ndarray, np.ndarray,
                                                                                      float, float]:
        """pixels [B, V, 3, S, S] -> (embedding [B, D] float32, cell probabilities [B, C] float64,
        embed ms, classify ms). The tower runs at :attr:`precision` (bf16 autocast on CUDA by default),
        the heads and the softmax in float32 / float64."""
        from geoloc.model.precision import inference_autocast

        t0 = time.perf_counter()
        if self.device.type == "cuda" and not pixels.is_pinned():
            pixels = pixels.pin_memory()
        x = pixels.to(self.device, non_blocking=True)
        v = None if valid is None else valid.to(self.device)
        with inference_autocast(self.device, self.precision):
            emb = self.model.embed(x, v)
        emb = emb.float()
        self._sync()
        t1 = time.perf_counter()
        # float64 softmax: reported cell probabilities sum to 1 within 1e-12
        probs_np = torch.softmax(self.model.heads(emb)["geocell"].double(), dim=1).cpu().numpy()
        t2 = time.perf_counter()
        return emb.float().cpu().numpy(), probs_np, (t1 - t0) * 1e3, (t2 - t1) * 1e3


def _ranked(p: np.ndarray, keys: list[str], names: dict[str, str], iso: dict[str, str],
            limit: int | None) -> list[RegionProbability]:
    order = np.argsort(-p, kind="stable")
    if limit is not None:
        order = order[:limit]
    return [RegionProbability(code=keys[r], name=names.get(keys[r], ""), probability=float(p[r]),
                              iso=iso.get(keys[r], "")) for r in order]


def _admin1_iso(adm1_codes: list[str]) -> dict[str, str]:
    """Natural Earth adm1_code -> official ISO 3166-2 code ("" where there is none)."""
    from geoloc.geo.boundaries import admin1_names

    return {c: iso for c, (_, iso) in zip(adm1_codes, admin1_names(adm1_codes), strict=True)}


def _country_iso(alpha3: list[str]) -> dict[str, str]:
    """ISO alpha-3 -> alpha-2 ("" where unknown)."""
    from geoloc.geo.boundaries import country_alpha2

    return dict(zip(alpha3, country_alpha2(alpha3), strict=True))


__all__ = ["CellScoringPredictor", "Geolocator", "Place", "Prediction", "RefinedPoint", "RegionProbability", "TopPoint",
           "aggregate_probabilities", "decode_views", "region_index"]
