"""Model sources: where a front end's predictions come from, resolved in one place for all of them.

``geoloc predict``, ``eval``, ``serve``, ``app``, ``bot play`` / ``serve-model`` and
:meth:`geoloc.predict.Geolocator.from_pretrained` all accept the same three kinds of model:

=============  ===============================================  =============================================
kind           command-line options                             spec string (``--model``, ``$GEOLOC_MODEL``,
                                                                the app's sidebar)
=============  ===============================================  =============================================
``default``    none                                             ``""`` (the embedded ``synthworld-tiny``)
``bundle``     ``--model FOLDER``                               ``FOLDER``
``hub``        ``--model hf-hub:ORG/NAME[@REVISION]``           ``hf-hub:ORG/NAME[@REVISION]``
``zero-shot``  ``--zero-shot ARCH [--pretrained TAG |           ``zero-shot:ARCH[@TAG|@FILE][;cells=X]``
               --clip-checkpoint FILE] [--cells X]              ``[;calibration=F][;prior=P]``
               [--calibration F]
=============  ===============================================  =============================================

* ``hub``: a geoloc bundle published on the Hugging Face Hub, downloaded once through
  ``huggingface_hub`` into its standard cache and used from there offline; every file is checked
  against the bundle's SHA-256 manifest (:func:`geoloc.bundle.verify_bundle`) at every load.
* ``zero-shot``: an open_clip CLIP (``ARCH`` an architecture with a pretrained ``TAG``, a local full-CLIP
  ``FILE``, or ``hf-hub:ORG/REPO``) scoring geocells with text prompts and a geographic prior
  (:mod:`geoloc.zeroshot`); the geocells are ``--cells`` (a geocell file or bundle) or the default
  model's; ``--calibration`` is a fusion file from ``geoloc zeroshot calibrate``.

:class:`ModelSource` is the parsed form (``ModelSource.parse(spec)``, ``ModelSource.from_options(...)``,
``source.spec``); :func:`load_predictor` turns any source into a predictor (a
:class:`geoloc.predict.Geolocator` or a :class:`geoloc.zeroshot.ZeroShotGeolocator`, both
:class:`geoloc.predict.CellScoringPredictor` with the same ``predict``). Missing weights on an offline
machine fail within seconds with one line (:mod:`geoloc.hub`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from geoloc.errors import BundleError, GeolocError
from geoloc.hub import HF_PREFIX

ZS_PREFIX = "zero-shot:"
KINDS = ("default", "bundle", "hub", "zero-shot")
_ZS_KEYS = ("cells", "calibration", "prior")
_CHECKPOINT_SUFFIXES = (".safetensors", ".pt", ".pth", ".bin", ".ckpt")


@dataclass(frozen=True)
class ModelSource:
    """A parsed model source (module docstring).

    Attributes:
        kind: ``default`` | ``bundle`` | ``hub`` | ``zero-shot``.
        name: bundle folder, ``hf-hub:`` name, or CLIP architecture (zero-shot); "" for ``default``.
        pretrained, checkpoint: zero-shot CLIP weights: an open_clip tag or a local file (at most one).
        cells, calibration, prior: zero-shot geocells (file or bundle), fusion file, prior name.
    """

    kind: str = "default"
    name: str = ""
    pretrained: str | None = None
    checkpoint: str | None = None
    cells: str | None = None
    calibration: str | None = None
    prior: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise GeolocError(f"unknown model source kind {self.kind!r}")
        if self.pretrained and self.checkpoint:
            raise GeolocError("give either a pretrained tag (--pretrained) or a CLIP checkpoint (--clip-checkpoint), "
                              "not both")
        if self.kind != "zero-shot" and any((self.pretrained, self.checkpoint, self.cells, self.calibration,
                                             self.prior)):
            raise GeolocError("--pretrained, --clip-checkpoint, --cells and --calibration need --zero-shot CLIP_NAME")
        if self.kind == "zero-shot" and not self.name:
            raise GeolocError("zero-shot needs a CLIP architecture, e.g. --zero-shot ViT-B-32 --pretrained openai")

    # -- parsing --------------------------------------------------------------------------------------
    @classmethod
    def parse(cls, spec: str | os.PathLike | None) -> ModelSource:
        """A spec string (table in the module docstring) -> source; "" or None -> ``default``."""
        text = str(spec).strip() if spec is not None else ""
        if not text:
            return cls()
        if text.startswith(HF_PREFIX):
            from geoloc.hub import parse_hub_name

            parse_hub_name(text)  # validates ORG/NAME
            return cls(kind="hub", name=text)
        if text.startswith(ZS_PREFIX):
            head, *opts = text[len(ZS_PREFIX):].split(";")
            extra: dict[str, str] = {}
            for opt in opts:
                key, sep, value = opt.partition("=")
                if not sep or key.strip() not in _ZS_KEYS:
                    raise GeolocError(f"{text!r}: unknown zero-shot option {opt!r} (known: {', '.join(_ZS_KEYS)})")
                extra[key.strip()] = value.strip()
            arch, weights = _split_weights(head.strip())
            pretrained, checkpoint = (None, None) if not weights else (
                (None, weights) if _looks_like_file(weights) else (weights, None))
            return cls(kind="zero-shot", name=arch, pretrained=pretrained, checkpoint=checkpoint, **extra)
        return cls(kind="bundle", name=text)

    @classmethod
    def from_options(cls, model: str | None = None, *, zero_shot: str | None = None, pretrained: str | None = None,
                     clip_checkpoint: str | None = None, cells: str | None = None,
                     calibration: str | None = None) -> ModelSource:
        """The source named by a front end's options. ``--zero-shot`` wins; a ``--model`` bundle given with it
        supplies the geocells when ``--cells`` is not given. Neither: ``$GEOLOC_MODEL`` (any spec), else the
        embedded default model."""
        if zero_shot:
            if model and not cells:
                cells = model
            return cls(kind="zero-shot", name=zero_shot, pretrained=pretrained or None,
                       checkpoint=clip_checkpoint or None, cells=cells or None, calibration=calibration or None)
        if any((pretrained, clip_checkpoint, cells, calibration)):
            raise GeolocError("--pretrained, --clip-checkpoint, --cells and --calibration need --zero-shot CLIP_NAME")
        if model:
            return cls.parse(model)
        return default_source()

    # -- printing -------------------------------------------------------------------------------------
    @property
    def spec(self) -> str:
        """The spec string that parses back to this source (``""`` for ``default``)."""
        if self.kind in ("bundle", "hub"):
            return self.name
        if self.kind == "default":
            return ""
        head = self.name + (f"@{self.pretrained}" if self.pretrained else f"@{self.checkpoint}" if self.checkpoint else "")
        opts = [f"{k}={getattr(self, k)}" for k in _ZS_KEYS if getattr(self, k)]
        return ZS_PREFIX + ";".join([head, *opts])

    def describe(self) -> str:
        """A short human label (sidebars, logs)."""
        if self.kind == "default":
            from geoloc.default_model import DEFAULT_MODEL_NAME

            return f"default model ({DEFAULT_MODEL_NAME})"
        if self.kind == "zero-shot":
            weights = self.pretrained or (Path(self.checkpoint).name if self.checkpoint else "random weights")
            return f"zero-shot CLIP {self.name} ({weights})"
        return self.name


def _split_weights(head: str) -> tuple[str, str | None]:
    """``"ViT-B-32@openai"`` -> (``ViT-B-32``, ``openai``); an ``hf-hub:`` CLIP carries its own weights
    (its ``@`` is kept as part of the name)."""
    if head.startswith(HF_PREFIX):
        return head, None
    arch, sep, weights = head.partition("@")
    return arch.strip(), (weights.strip() or None) if sep else None


def _looks_like_file(value: str) -> bool:
    return os.sep in value or "/" in value or value.lower().endswith(_CHECKPOINT_SUFFIXES) or Path(value).is_file()


def default_source() -> ModelSource:
    """``$GEOLOC_MODEL`` parsed as a spec when set (a folder, ``hf-hub:`` or ``zero-shot:``), else the
    embedded default model."""
    env = os.environ.get("GEOLOC_MODEL", "").strip()
    return ModelSource.parse(env) if env else ModelSource()


# --------------------------------------------------------------------------- resolving


def hub_bundle_path(name: str) -> Path:
    """The local folder of the published bundle ``hf-hub:ORG/NAME[@REVISION]``: the cached snapshot when
    it is complete and verifies, else downloaded (resumable) and verified. Raises
    :class:`geoloc.hub.OfflineError` (offline, not cached) or :class:`BundleError` (not a bundle, altered)."""
    from geoloc.bundle import MANIFEST, verify_bundle
    from geoloc.hub import fetch_snapshot, parse_hub_name

    repo, revision = parse_hub_name(name)

    def complete(folder: Path) -> bool:
        """True for a cached snapshot that verifies, False for one still incomplete (a file not downloaded
        yet); a file that is there but differs from the manifest raises (a download never leaves one)."""
        if not (folder / MANIFEST).is_file():  # not downloaded yet, or an open_clip CLIP repository (refused below)
            return (folder / "open_clip_config.json").is_file()
        try:
            verify_bundle(folder)
        except BundleError as exc:
            if str(exc).endswith(" is missing"):
                return False
            raise BundleError(f"{name}: the cached copy is damaged ({exc}); delete {folder} and load it again to "
                              f"download it anew") from None
        return True

    path = fetch_snapshot(repo, revision=revision, what=f"model bundle {name}", complete=complete)
    if not (path / MANIFEST).is_file():
        hint = (f"; it looks like an open_clip CLIP: use --zero-shot {name}" if (path / "open_clip_config.json").is_file()
                else "")
        raise BundleError(f"{name} is not a geoloc model bundle (no {MANIFEST} in the repository){hint}")
    verify_bundle(path)
    return path


def bundle_path(source: ModelSource, *, build: bool = True, progress: bool = True) -> Path:
    """The bundle folder of a ``default``, ``bundle`` or ``hub`` source (the default is trained on first
    use when ``build``). Raises :class:`BundleError` for a missing folder or a zero-shot source."""
    if source.kind == "default":
        from geoloc.default_model import default_model_path

        return default_model_path(build=build, progress=progress, use_env=False)
    if source.kind == "hub":
        return hub_bundle_path(source.name)
    if source.kind == "bundle":
        path = Path(source.name).expanduser()
        if not path.is_dir():
            raise BundleError(f"--model {source.name}: no such bundle folder (or use hf-hub:ORG/NAME for a published "
                              f"bundle)")
        return path
    raise BundleError(f"{source.describe()} is a zero-shot CLIP, not a model bundle")


def load_predictor(source: ModelSource | str | None = None, *, device=None, progress: bool = True,
                   build: bool = True, cache: bool = True, **kwargs):
    """A predictor for ``source`` (a :class:`ModelSource`, a spec string, or None = :func:`default_source`):
    :class:`geoloc.predict.Geolocator` for bundles, :class:`geoloc.zeroshot.ZeroShotGeolocator` for zero-shot.
    ``kwargs`` go to the predictor's constructor; ``cache`` keeps zero-shot prompt embeddings on disk."""
    src = source if isinstance(source, ModelSource) else (ModelSource.parse(source) if source else default_source())
    if src.kind == "zero-shot":
        from geoloc.zeroshot.cli import build_zero_shot

        return build_zero_shot(src.name, pretrained=src.pretrained, clip_checkpoint=src.checkpoint, cells=src.cells,
                               calibration=src.calibration, prior=src.prior, device=device, cache=cache,
                               progress=progress, **kwargs)
    from geoloc.predict import Geolocator

    return Geolocator(_load_bundle(bundle_path(src, build=build, progress=progress)), device=device, **kwargs)


def _load_bundle(path: Path):
    from geoloc.bundle import load_bundle

    return load_bundle(path)


__all__ = ["KINDS", "ZS_PREFIX", "ModelSource", "bundle_path", "default_source", "hub_bundle_path", "load_predictor"]
