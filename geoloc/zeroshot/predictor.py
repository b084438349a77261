"""Zero-shot geolocation: geocell and country probabilities from CLIP text prompts, no training.

```python
from geoloc.zeroshot import ZeroShotGeolocator
zs = ZeroShotGeolocator.from_clip("ViT-L-14", pretrained="openai", cells="bundles/synthworld-tiny",
                                  cache_dir="~/.cache/geoloc/zeroshot")
preds = zs.predict(["a.jpg", "b.jpg"], top_k=5)     # the same Prediction objects as Geolocator
preds[0].countries          # aggregated from the cell probabilities (as Geolocator)
preds[0].countries_text     # straight from the country prompts
```

Per image: every view is encoded with CLIP's image tower (open_clip ``encode_image``: the projected,
pooled CLIP embedding, not PIGEON's token mean, because only that one lives in the text space) and
L2-normalised; the views of one location are averaged and normalised again (PIGEON's mean fusion).
Every geocell, admin-1 unit and country has a prompt-ensemble embedding (:mod:`geoloc.zeroshot.prompts`,
:mod:`geoloc.zeroshot.text_embed`; computed once per predictor and, with ``cache_dir``, saved to a file
keyed by the model's text tower, the geocell set id and the prompts). Cell probabilities are the
log-linear fusion of :mod:`geoloc.zeroshot.fusion`: the cosines to the cell's, its admin-1 unit's and
its country's prompts, plus the log geographic prior of the cell (:mod:`geoloc.zeroshot.prior`), with
weights from a calibration file (``geoloc zeroshot calibrate``) or :meth:`Fusion.default`; float64
softmax over all cells.

Which :class:`Prediction` field gets which probability:

* ``top_k``: the fused cell posterior; ``lat``/``lon``: the photo-density mode of the top cell
  (``refined``, :class:`geoloc.zeroshot.prior.DensityRefiner`; the centroid with ``density_refine=False``),
  moved to the centroid of highest expected GeoGuessr score with ``hedge=True``.
* ``countries`` and ``admin1``: sums of the cell probabilities by each cell's country / admin-1,
  exactly as :class:`geoloc.predict.Geolocator` does, so the two predictors are comparable.
* ``countries_text`` (only on :class:`ZeroShotPrediction`): a separate softmax over the countries
  of the geocell set, scored with the country prompts alone ("A street view photo in {country}." ...).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from geoloc.errors import GeolocError, InputFileError
from geoloc.predict import CellScoringPredictor, Prediction, RegionProbability, _ranked, _resolve_device
from geoloc.zeroshot.fusion import Fusion, log_posterior, stack_features
from geoloc.zeroshot.prompts import (
    ADMIN1_TEMPLATES,
    CELL_TEMPLATES,
    COUNTRY_TEMPLATES,
    TOWN_MAX_KM,
    admin1_prompts,
    cell_prompts,
    country_prompts,
)
from geoloc.zeroshot.text_embed import (
    cache_file,
    cache_key,
    class_embeddings,
    load_class_embeddings,
    save_class_embeddings,
    text_fingerprint,
)

MAX_LOGIT_SCALE = 100.0


@dataclass
class ZeroShotPrediction(Prediction):
    """A :class:`Prediction` plus ``countries_text``: country probabilities from the country
    prompts (most probable first, at most ``top_regions``); see the module docstring."""

    countries_text: list[RegionProbability] = field(default_factory=list)


@dataclass
class Clip:
    """An open_clip model with what zero-shot needs around it.

    Attributes:
        model: open_clip CLIP (eval mode) with ``encode_image`` / ``encode_text``.
        tokenizer: open_clip tokenizer (list of strings -> token ids [N, L]).
        transform: PIL image -> normalised tensor [3, S, S] (the model's preprocessing).
        name: architecture name; ``source``: where the weights came from (for messages and caches).
    """

    model: Any
    tokenizer: Any
    transform: Any
    name: str
    source: str


# --------------------------------------------------------------------------- loading


def _load_full_checkpoint(model, checkpoint: str | Path) -> None:
    """Load a full CLIP state dict (vision AND text tower) strictly; InputFileError otherwise."""
    from geoloc.model.tower import load_state_dict_file

    sd = load_state_dict_file(checkpoint)
    if not any(k.startswith("visual.") for k in sd):
        raise InputFileError(f"checkpoint {checkpoint} has no 'visual.*' keys: zero-shot needs a full CLIP "
                             f"checkpoint (vision and text tower), not a vision tower alone")
    try:
        missing, unexpected = model.load_state_dict(sd, strict=False)
    except RuntimeError as exc:  # shape mismatch
        raise InputFileError(f"checkpoint {checkpoint} does not fit this CLIP architecture: {exc}") from exc
    if missing or unexpected:
        text_missing = [k for k in missing if not k.startswith("visual.")]
        what = "its text tower is missing" if text_missing and len(text_missing) == len(missing) else "it does not fit"
        raise InputFileError(f"checkpoint {checkpoint}: {what} (missing {sorted(missing)[:5]}, "
                             f"unexpected {sorted(unexpected)[:5]}); zero-shot needs a full CLIP checkpoint")


def load_clip(name: str, *, pretrained: str | None = None, checkpoint: str | Path | None = None,
              image_size: int | None = None, device: str | torch.device = "cpu") -> Clip:
    """An open_clip model by architecture name with a pretrained tag (open_clip's cache or the
    network), a local full-CLIP checkpoint (safetensors or a torch state dict; strict: every vision
    and text parameter must be there), an ``hf-hub:`` name, or random weights (neither given).

    Raises GeolocError for an unknown architecture or unavailable pretrained weights and
    InputFileError for a missing, unreadable or non-fitting checkpoint.
    """
    import open_clip

    from geoloc.data.datasets import open_clip_preprocess_cfg, open_clip_transform
    from geoloc.model.tower import build_clip

    if pretrained and checkpoint:
        raise GeolocError("give either a pretrained tag or a local checkpoint, not both")
    if checkpoint is not None and not Path(checkpoint).is_file():
        raise InputFileError(f"checkpoint {checkpoint} does not exist")
    try:
        model = build_clip(name, pretrained=pretrained, image_size=image_size)
    except GeolocError:  # offline and not cached, unknown tag, missing Hub repo: already one line
        raise
    except ValueError as exc:
        raise GeolocError(str(exc)) from exc
    except Exception as exc:  # download / cache failures come in many types
        raise GeolocError(f"could not load CLIP {name!r} with pretrained={pretrained!r} ({type(exc).__name__}: "
                          f"{exc}); pretrained tags need the network or open_clip's cache, "
                          f"or pass a local checkpoint") from exc
    if not hasattr(model, "encode_text") or not hasattr(model, "encode_image"):
        raise GeolocError(f"open_clip model {name!r} has no text tower; zero-shot needs a CLIP")
    if checkpoint is not None:
        _load_full_checkpoint(model, checkpoint)
    try:
        tokenizer = open_clip.get_tokenizer(name)
    except Exception as exc:
        raise GeolocError(f"could not build the tokenizer of {name!r} ({exc})") from exc
    pp = getattr(model.visual, "preprocess_cfg", None)
    if pp:
        cfg = dict(pp)
    else:
        cfg = open_clip_preprocess_cfg(name, image_size, pretrained=pretrained)
    if image_size is not None:
        cfg["size"] = image_size
    source = (f"pretrained:{pretrained}" if pretrained else f"checkpoint:{checkpoint}" if checkpoint
              else "random weights")
    return Clip(model=model.to(device).eval(), tokenizer=tokenizer, transform=open_clip_transform(cfg),
                name=name, source=source)


def load_geocells(cells=None):
    """A GeocellSet from: a GeocellSet (returned as is), a geocell file (``GeocellSet.save``), a model
    bundle folder (its verified ``geocells.parquet``), a published bundle ``hf-hub:ORG/NAME``, or None
    (the default model's geocells: ``$GEOLOC_MODEL``'s bundle, else the embedded one). Raises
    InputFileError / BundleError."""
    from geoloc.bundle import CONFIG, GEOCELLS, geocell_set_id, verify_bundle
    from geoloc.cells.geocell_set import GeocellSet
    from geoloc.errors import BundleError
    from geoloc.integrity import read_json

    if isinstance(cells, GeocellSet):
        return cells
    if cells is None:
        from geoloc.default_model import default_model_path
        from geoloc.sources import bundle_path, default_source

        src = default_source()
        cells = default_model_path(use_env=False) if src.kind == "zero-shot" else bundle_path(src)
    elif isinstance(cells, str) and cells.startswith("hf-hub:"):
        from geoloc.sources import hub_bundle_path

        cells = hub_bundle_path(cells)
    path = Path(cells).expanduser()
    if path.is_dir():
        verify_bundle(path)
        gs = GeocellSet.load(path / GEOCELLS)
        cfg = read_json(path / CONFIG)
        if geocell_set_id(gs) != cfg.get("geocells", {}).get("id"):
            raise BundleError(f"{path / GEOCELLS} is not the geocell set named in {path / CONFIG}")
        return gs
    if not path.exists():
        raise InputFileError(f"geocells: {path} is neither a geocell file nor a model bundle folder")
    return GeocellSet.load(path)


# --------------------------------------------------------------------------- predictor


class ZeroShotGeolocator(CellScoringPredictor):
    """Zero-shot geocell predictor (see the module docstring).

    Args:
        clip: a :class:`Clip` (:func:`load_clip`).
        geocells: GeocellSet (or anything :func:`load_geocells` takes).
        device: torch device; None = CUDA when available, else CPU.
        batch_size: locations per image forward pass.
        cell_templates, admin1_templates, country_templates: prompt ensembles (:mod:`geoloc.zeroshot.prompts`).
        towns: name each cell's nearest town in the prompts (or C names; False: none).
        town_max_km: a town farther than this from the cell centroid is not named.
        logit_scale: the prompt softmax scale; None = the model's ``exp(logit_scale)`` (clamped at 100).
        fusion: how prompt scores and prior combine (:class:`geoloc.zeroshot.fusion.Fusion`, or the path of a
            calibration file from ``geoloc zeroshot calibrate``); None = :meth:`Fusion.default` with ``prior``.
        prior: ``density`` | ``cells`` | ``uniform`` for the default fusion (:mod:`geoloc.zeroshot.prior`).
        density_refine: the guess is the photo-density mode of the top cell rather than its centroid
            (:class:`geoloc.zeroshot.prior.DensityRefiner`; ``Prediction.refined``).
        cache_dir: folder for the prompt-embedding cache file (None: keep it in memory only).
        text_batch_size: prompts per text forward pass.
        progress: progress bar while encoding prompts.
        precision: the image tower's forward: ``auto`` (bf16 autocast on CUDA, float32 on the CPU) |
            ``fp32`` | ``bf16`` (:mod:`geoloc.model.precision`); the cosine logits are float64.
    """

    prediction_type = ZeroShotPrediction
    bundle = None

    def __init__(self, clip: Clip, geocells, *, device=None, batch_size: int = 32,
                 cell_templates=CELL_TEMPLATES, admin1_templates=ADMIN1_TEMPLATES, country_templates=COUNTRY_TEMPLATES,
                 towns=True, town_max_km: float = TOWN_MAX_KM, logit_scale: float | None = None,
                 fusion: Fusion | str | Path | None = None, prior: str = "density", density_refine: bool = True,
                 cache_dir: str | Path | None = None, text_batch_size: int = 256, progress: bool = True,
                 precision: str = "auto") -> None:
        from geoloc.bundle import geocell_set_id
        from geoloc.model.precision import resolve_precision
        from geoloc.zeroshot.prior import DensityRefiner, cell_log_prior

        if batch_size < 1:
            raise GeolocError(f"batch_size must be >= 1, got {batch_size}")
        self.clip = clip
        self.device = _resolve_device(device)
        self.precision = resolve_precision(precision, self.device)
        self.batch_size = int(batch_size)
        self.model = clip.model.to(self.device).eval()
        self.transform = clip.transform
        self.geocells = load_geocells(geocells)
        self.geocells_id = geocell_set_id(self.geocells)
        self._init_cells(self.geocells)
        self.cell_prompts = cell_prompts(self.geocells, templates=cell_templates, towns=towns,
                                         town_max_km=town_max_km)
        self.admin1_prompts = admin1_prompts(self._admin1_units(), templates=admin1_templates)
        self.country_prompts = country_prompts([self.country_names.get(k) or k for k in self.country_keys],
                                               templates=country_templates)
        if logit_scale is None:
            ls = getattr(self.model, "logit_scale", None)
            logit_scale = min(float(ls.detach().exp()), MAX_LOGIT_SCALE) if ls is not None else MAX_LOGIT_SCALE
        if not np.isfinite(logit_scale) or logit_scale <= 0:
            raise GeolocError(f"logit_scale must be a positive number, got {logit_scale}")
        self.logit_scale = float(logit_scale)
        if fusion is None:
            fusion = Fusion.default(self.logit_scale, prior)
        elif not isinstance(fusion, Fusion):
            fusion = Fusion.load(fusion)
        made_for = fusion.fitted.get("geocells_id")
        if made_for and made_for != self.geocells_id:
            raise GeolocError(f"the zero-shot calibration was fitted for geocell set {made_for}, these cells are "
                              f"{self.geocells_id}: calibrate again with these cells (geoloc zeroshot calibrate)")
        self.fusion = fusion
        self.log_prior = cell_log_prior(self.geocells, fusion.prior_source)          # [C] float64
        self.refiner = DensityRefiner(self.geocells) if density_refine else None
        self.cache_path: Path | None = None
        cell_text, admin1_text, country_text = self._text_embeddings(cache_dir, text_batch_size, progress)
        self.cell_text = cell_text.to(self.device)          # [C, E] float32, unit rows
        self.admin1_text = admin1_text.to(self.device)      # [A, E]
        self.country_text = country_text.to(self.device)    # [K, E]
        self.config = self._config()

    @classmethod
    def from_clip(cls, name: str, *, pretrained: str | None = None, checkpoint: str | Path | None = None,
                  cells=None, image_size: int | None = None, device=None, **kwargs) -> ZeroShotGeolocator:
        """Load a CLIP (:func:`load_clip`) and geocells (:func:`load_geocells`) and build the predictor."""
        geocells = load_geocells(cells)
        clip = load_clip(name, pretrained=pretrained, checkpoint=checkpoint, image_size=image_size,
                         device=_resolve_device(device))
        return cls(clip, geocells, device=device, **kwargs)

    @property
    def default_views(self) -> int:
        """Views per location when the caller does not say (1: zero-shot has no training setting)."""
        return 1

    def _admin1_units(self) -> list[tuple[str, str]]:
        """(admin-1 name, country name) of every admin-1 key (``self.admin1_keys`` order)."""
        country_of = {}
        for a, k in zip(self.cell_admin1, self.cell_country, strict=True):
            country_of.setdefault(a, k)
        return [(self.admin1_names.get(a) or a, self.country_names.get(country_of.get(a, ""), "")) for a in
                self.admin1_keys]

    def _config(self) -> dict[str, Any]:
        """What front ends show about this predictor (the fields of a bundle's config.json they read)."""
        pp = getattr(self.clip.transform, "transforms", None)
        size = next((int(t.size if isinstance(t.size, int) else t.size[0]) for t in (pp or [])
                     if hasattr(t, "size") and t.size is not None), 224)
        f = self.fusion
        return {
            "schema": "geoloc-zeroshot/1", "image_size": size, "views": 1,
            "backbone": {"tower": self.clip.name, "pretrained": self.clip.source, "embedding": "pooled"},
            "geocells": {"id": self.geocells_id, "num_cells": len(self.geocells),
                         "kind": str(self.geocells.meta.get("kind", "unknown"))},
            "fusion": f.to_dict(), "refine": {"density_refine": self.refiner is not None},
            "card": {"title": f"zero-shot CLIP {self.clip.name} ({self.clip.source})",
                     "data": f"no training on geolocation: CLIP {self.clip.name} with weights from {self.clip.source}, "
                             f"text prompts for {len(self.geocells)} geocells, {len(self.admin1_keys)} admin-1 units "
                             f"and {len(self.country_keys)} countries; {f.note or 'fusion weights given'}",
                     "training_command": "none (zero-shot: geoloc predict --zero-shot ...)"},
        }

    # -- text side -----------------------------------------------------------------------------------
    def _text_embeddings(self, cache_dir, text_batch_size: int, progress: bool) -> tuple[torch.Tensor, ...]:
        groups = {"cells": self.cell_prompts, "admin1": self.admin1_prompts, "countries": self.country_prompts}
        key = None
        if cache_dir is not None:
            key = cache_key(text_fingerprint(self.model, self.clip.tokenizer), self.geocells_id, groups)
            self.cache_path = cache_file(Path(cache_dir).expanduser(), key)
            got = load_class_embeddings(self.cache_path, key, list(groups))
            if got is not None and all(got[k].shape[0] == len(v) for k, v in groups.items()):
                return tuple(got[k].float() for k in groups)
        out = {k: class_embeddings(self.model, self.clip.tokenizer, v, batch_size=text_batch_size, progress=progress,
                                   desc=f"encode {k} prompts") for k, v in groups.items()}
        if key is not None and self.cache_path is not None:
            save_class_embeddings(self.cache_path, key, out, {"model": self.clip.name, "weights": self.clip.source,
                                                              "num_cells": str(len(self.cell_prompts))})
        return tuple(out[k] for k in groups)

    # -- image side ----------------------------------------------------------------------------------
    @torch.no_grad()
    def encode_images(self, pixels: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        """pixels [B, V, 3, S, S] -> unit location embeddings [B, E] float32 (on the device): the
        normalised mean of the normalised embeddings of the valid views."""
        from geoloc.model.precision import inference_autocast

        b, v = pixels.shape[:2]
        x = pixels.to(self.device, non_blocking=True).flatten(0, 1)
        with inference_autocast(self.device, self.precision):
            raw = self.model.encode_image(x)
        emb = torch.nn.functional.normalize(raw.float(), dim=-1).view(b, v, -1)
        w = torch.ones(b, v, device=self.device) if valid is None else valid.to(self.device).float()
        return torch.nn.functional.normalize((emb * w[..., None]).sum(1) / w.sum(1, keepdim=True), dim=-1)

    def level_cosines(self, emb: torch.Tensor | np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Unit embeddings [B, E] -> cosines [B, C] float64 of each cell to its own prompts, to its admin-1
        unit's and to its country's (a cell without that unit: its own cell cosine)."""
        e = torch.as_tensor(np.asarray(emb) if isinstance(emb, np.ndarray) else emb, device=self.device).double()
        cell = (e @ self.cell_text.double().T).cpu().numpy()
        out = [cell]
        for text, col in ((self.admin1_text, self.admin1_col), (self.country_text, self.country_col)):
            level = (e @ text.double().T).cpu().numpy() if text.shape[0] else np.zeros((len(cell), 0))
            out.append(np.where(col[None, :] >= 0, level[:, np.maximum(col, 0)] if level.shape[1] else 0.0, cell))
        return out[0], out[1], out[2]

    def features(self, emb: torch.Tensor | np.ndarray) -> np.ndarray:
        """Fusion features [B, C, 4] float64 (:func:`geoloc.zeroshot.fusion.stack_features`)."""
        return stack_features(*self.level_cosines(emb), self.log_prior)

    def cell_probabilities(self, emb: torch.Tensor | np.ndarray, fusion: Fusion | None = None) -> np.ndarray:
        """Unit embeddings [B, E] -> cell probabilities [B, C] float64 under ``fusion`` (default: this
        predictor's)."""
        w = (fusion or self.fusion).weights()
        return np.exp(log_posterior(self.features(emb), w))

    def country_text_probabilities(self, emb: torch.Tensor | np.ndarray) -> np.ndarray:
        """Unit embeddings [B, E] -> country-prompt probabilities [B, K] float64 (columns:
        ``self.country_keys``)."""
        e = torch.as_tensor(np.asarray(emb) if isinstance(emb, np.ndarray) else emb, device=self.device)
        logits = self.logit_scale * (e.double() @ self.country_text.double().T)
        return torch.softmax(logits, dim=1).cpu().numpy()

    @torch.no_grad()
    def forward(self, pixels: torch.Tensor, valid: torch.Tensor | None = None) -> tuple[np.ndarray, np.ndarray,
                                                                                      float, float]:
        """pixels [B, V, 3, S, S] -> (unit CLIP embedding [B, E] float32, cell probabilities [B, C]
        float64, embed ms, classify ms)."""
        t0 = time.perf_counter()
        if self.device.type == "cuda":
            pixels = pixels.pin_memory()
        emb = self.encode_images(pixels, valid)
        self._sync()
        t1 = time.perf_counter()
        probs = self.cell_probabilities(emb)
        t2 = time.perf_counter()
        return emb.cpu().numpy(), probs, (t1 - t0) * 1e3, (t2 - t1) * 1e3

    def _annotate(self, preds: list[Prediction], emb: np.ndarray, probs: np.ndarray,
                  top_regions: int | None) -> None:
        if not preds:
            return
        p_text = self.country_text_probabilities(emb)
        for j, p in enumerate(preds):
            p.countries_text = _ranked(p_text[j], self.country_keys, self.country_names, self.country_iso,
                                       top_regions)


__all__ = ["Clip", "ZeroShotGeolocator", "ZeroShotPrediction", "load_clip", "load_geocells"]
