"""Model bundle: one folder with everything :class:`geoloc.predict.Geolocator` needs, offline.

Layout (schema ``geoloc-bundle/1``)::

    config.json            validated, versioned settings (see :func:`validate_config`)
    model.safetensors      GeoModel weights (safetensors; never pickle)
    geocells.parquet       GeocellSet (GeoParquet)
    prototypes.safetensors, prototypes.json   retrieval-refinement clusters (optional)
    README.md              model card: data, training command, metrics + the command that made them
    manifest.json          SHA-256 and size of every other file

The bundle's content hash is the SHA-256 of ``manifest.json`` (which pins every file).
:func:`load_bundle` refuses a missing, truncated or altered file, an unknown schema version and
a config field that is missing or of the wrong type, with a one-line :class:`BundleError` that
names the file.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import os
import platform
import shutil
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from geoloc.errors import BundleError, GeolocError
from geoloc.integrity import read_json, sha256_file

SCHEMA = "geoloc-bundle/1"
MANIFEST_SCHEMA = "geoloc-bundle-manifest/1"
CONFIG, WEIGHTS, GEOCELLS, CARD, MANIFEST = (
    "config.json", "model.safetensors", "geocells.parquet", "README.md", "manifest.json")
PROTOTYPES = "prototypes"  # name passed to geoloc.refine save/load_prototypes
REQUIRED_FILES = (CONFIG, WEIGHTS, GEOCELLS, CARD)
DEFAULT_REFINE = {"top_k": 5, "temperature": 1.6, "within": "nearest", "max_km": 1000.0, "metric": "l2",
                  "hedge": False}
"""PIGEON street-view refinement settings (PIGEOTTO: top_k 40, temperature 0.6, max_km None); ``hedge``:
move a guess to the centroid with the highest expected GeoGuessr score (:mod:`geoloc.refine.hedge`)."""
VERSIONED_PACKAGES = ("geoloc", "torch", "open_clip_torch", "safetensors", "numpy", "faiss-cpu")


@dataclass
class Bundle:
    """A loaded (verified) bundle.

    Attributes:
        path: bundle folder (None for a bundle assembled in memory).
        config: the parsed ``config.json`` dict.
        model: GeoModel in eval mode on the CPU.
        geocells: GeocellSet whose row ``i`` is class ``i`` of the geocell head.
        prototypes: LocationPrototypes or None (no refinement).
        card: model card text (README.md).
        content_hash: SHA-256 hex of ``manifest.json`` ("" in memory).
    """

    path: Path | None
    config: dict[str, Any]
    model: Any
    geocells: Any
    prototypes: Any | None
    card: str
    content_hash: str


# --------------------------------------------------------------------------- hashing
def geocell_set_id(geocells) -> str:
    """Content id (16 hex chars) of a GeocellSet: names, countries, admin-1, centroids and the
    polygons' WKB in class order. Identifies the label space a geocell head was trained on."""
    import shapely

    from geoloc.cells.geocell_set import COLUMNS

    f = geocells.frame
    h = hashlib.sha256()
    for c in COLUMNS:
        h.update(json.dumps([str(v) if not isinstance(v, float) else repr(v) for v in f[c].tolist()]).encode())
    for wkb in shapely.to_wkb(geocells.geometries, hex=False):
        h.update(hashlib.sha256(wkb).digest())
    return h.hexdigest()[:16]


def package_versions() -> dict[str, str]:
    """Installed versions of the packages that shape the weights and the preprocessing."""
    out = {"python": platform.python_version()}
    for name in VERSIONED_PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


# --------------------------------------------------------------------------- config
def _preprocessing(model_config) -> dict[str, Any]:
    from geoloc.data.datasets import open_clip_preprocess_cfg

    src = model_config.custom_cfg if model_config.custom_cfg is not None else model_config.tower
    cfg = open_clip_preprocess_cfg(src, model_config.image_size, pretrained=model_config.pretrained)
    cfg = {k: (list(v) if isinstance(v, tuple) else v) for k, v in cfg.items()}
    return json.loads(json.dumps(cfg))


def build_config(model, geocells, prototypes, *, refine: dict | None, views: int, card: dict) -> dict[str, Any]:
    """The ``config.json`` dict of a bundle (see :func:`validate_config` for the fields)."""
    mc = model.config
    refine_cfg = {**DEFAULT_REFINE, **(refine or {})}
    unknown = sorted(set(refine_cfg) - set(DEFAULT_REFINE))
    if unknown:
        raise GeolocError(f"unknown refinement settings {unknown}; known: {sorted(DEFAULT_REFINE)}")
    return {
        "schema": SCHEMA,
        "created_utc": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "model": mc.to_dict(),
        "backbone": {"tower": mc.tower, "pretrained": mc.pretrained, "custom_cfg": mc.custom_cfg,
                     "embedding": mc.embedding, "embed_dim": int(model.embed_dim)},
        "image_size": int(model.tower.image_size),
        "preprocessing": _preprocessing(mc),
        "heads": {k: int(v) for k, v in mc.head_sizes().items()},
        "views": int(views),
        "geocells": {"file": GEOCELLS, "id": geocell_set_id(geocells), "num_cells": len(geocells),
                     "kind": str(geocells.meta.get("kind", "unknown"))},
        "prototypes": None if prototypes is None else {
            "name": PROTOTYPES, "num_prototypes": int(prototypes.num_prototypes), "dim": int(prototypes.dim)},
        "refine": refine_cfg,
        "card": card,
        "versions": package_versions(),
    }


_FIELDS: dict[str, tuple[type, ...]] = {
    "schema": (str,), "model": (dict,), "backbone": (dict,), "image_size": (int,),
    "preprocessing": (dict,), "heads": (dict,), "views": (int,), "geocells": (dict,),
    "prototypes": (dict, type(None)), "refine": (dict,), "card": (dict,), "versions": (dict,),
}
_NESTED: dict[str, dict[str, tuple[type, ...]]] = {
    "backbone": {"tower": (str,), "embedding": (str,), "embed_dim": (int,)},
    "preprocessing": {"size": (int, list), "mean": (list,), "std": (list,), "interpolation": (str,),
                      "resize_mode": (str,)},
    "geocells": {"file": (str,), "id": (str,), "num_cells": (int,)},
    "refine": {"top_k": (int,), "temperature": (int, float), "within": (str,),
               "max_km": (int, float, type(None)), "metric": (str,)},
    "card": {"data": (str,), "training_command": (str,)},
}


def _type_names(types: tuple[type, ...]) -> str:
    return " or ".join("null" if t is type(None) else t.__name__ for t in types)


def _check_type(value: Any, types: tuple[type, ...], where: str, file: str) -> None:
    ok = isinstance(value, types) and not (isinstance(value, bool) and bool not in types)
    if not ok:
        raise BundleError(f"{file}: field '{where}' must be {_type_names(types)}, got {type(value).__name__}")


def validate_config(cfg: Any, file: str = CONFIG) -> dict[str, Any]:
    """Check a ``config.json`` dict: schema version, every field present with the right type,
    head sizes consistent with the geocell count. Returns it; raises BundleError naming ``file``."""
    if not isinstance(cfg, dict):
        raise BundleError(f"{file}: expected a JSON object, got {type(cfg).__name__}")
    if "schema" not in cfg:
        raise BundleError(f"{file}: missing field 'schema' (not a geoloc model bundle?)")
    if cfg["schema"] != SCHEMA:
        raise BundleError(f"{file}: unknown bundle schema {cfg['schema']!r}; this geoloc reads {SCHEMA!r}")
    for key, types in _FIELDS.items():
        if key not in cfg:
            raise BundleError(f"{file}: missing field '{key}'")
        _check_type(cfg[key], types, key, file)
    for key, fields in _NESTED.items():
        for sub, types in fields.items():
            if sub not in cfg[key]:
                raise BundleError(f"{file}: missing field '{key}.{sub}'")
            _check_type(cfg[key][sub], types, f"{key}.{sub}", file)
    if cfg["prototypes"] is not None and not isinstance(cfg["prototypes"].get("name"), str):
        raise BundleError(f"{file}: field 'prototypes.name' must be str")
    for task, size in cfg["heads"].items():
        _check_type(size, (int,), f"heads.{task}", file)
    if cfg["heads"].get("geocell") != cfg["geocells"]["num_cells"]:
        raise BundleError(f"{file}: geocell head has {cfg['heads'].get('geocell')} classes but "
                          f"geocells.num_cells is {cfg['geocells']['num_cells']}")
    if cfg["views"] < 1:
        raise BundleError(f"{file}: field 'views' must be >= 1, got {cfg['views']}")
    from geoloc.model import GeoModelConfig

    try:
        mc = GeoModelConfig.from_dict(cfg["model"])
    except (TypeError, ValueError) as exc:
        raise BundleError(f"{file}: field 'model' is not a valid GeoModelConfig ({exc})") from exc
    if mc.head_sizes() != cfg["heads"]:
        raise BundleError(f"{file}: 'heads' {cfg['heads']} disagree with 'model' {mc.head_sizes()}")
    return cfg


# --------------------------------------------------------------------------- model card
def render_card(card: dict[str, Any], config: dict[str, Any]) -> str:
    """README.md model card from ``card`` (``data``, ``training_command``, optional ``title``,
    ``description``, ``metrics`` {name: value} with ``metrics_command``) and the config."""
    title = card.get("title") or f"geoloc model ({config['backbone']['tower']})"
    lines = [f"# {title}", ""]
    if card.get("description"):
        lines += [str(card["description"]), ""]
    lines += ["## Data", "", str(card["data"]), "", "## Training", "", "```", str(card["training_command"]),
              "```", "", "## Model", "",
              f"- backbone: `{config['backbone']['tower']}` (pretrained: {config['backbone']['pretrained']}), "
              f"embedding `{config['backbone']['embedding']}`, D = {config['backbone']['embed_dim']}",
              f"- image size: {config['image_size']} px, views per location: {config['views']}",
              f"- heads: {', '.join(f'{k} ({v})' for k, v in config['heads'].items())}",
              f"- geocells: {config['geocells']['num_cells']} {config['geocells'].get('kind', '')} cells, "
              f"id `{config['geocells']['id']}`",
              f"- refinement prototypes: {'none' if config['prototypes'] is None else config['prototypes']['num_prototypes']}",
              ""]
    metrics = card.get("metrics") or {}
    if metrics:
        lines += ["## Metrics", "", "| metric | value |", "|---|---|"]
        lines += [f"| {k} | {v} |" for k, v in metrics.items()]
        lines += ["", "Produced by:", "", "```", str(card["metrics_command"]), "```", ""]
    for name, ev in (card.get("evaluations") or {}).items():
        lines += [f"## Evaluation: {name}", "", str(ev["data"]), "", "| metric | value |", "|---|---|"]
        lines += [f"| {k} | {v} |" for k, v in ev["metrics"].items()]
        lines += ["", "Produced by:", "", "```", str(ev["command"]), "```", ""]
    lines += ["## Versions", "", *[f"- {k}: {v}" for k, v in config["versions"].items()], ""]
    return "\n".join(lines)


def _check_card(card: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(card, dict):
        raise GeolocError(f"card must be a dict, got {type(card).__name__}")
    for key in ("data", "training_command"):
        if not isinstance(card.get(key), str) or not card[key].strip():
            raise GeolocError(f"model card needs a non-empty '{key}' string")
    if card.get("metrics") and not isinstance(card.get("metrics_command"), str):
        raise GeolocError("model card metrics need the 'metrics_command' that produced them")
    return json.loads(json.dumps(card))


# --------------------------------------------------------------------------- save / load
def save_bundle(path, *, model, config=None, geocells, prototypes=None, card: dict[str, Any],
                refine: dict[str, Any] | None = None, views: int = 1, overwrite: bool = False) -> str:
    """Write a bundle folder at ``path``; returns its content hash (SHA-256 of manifest.json).

    Args:
        model: GeoModel (its weights go to model.safetensors).
        config: the model's GeoModelConfig (or its dict); must equal ``model.config`` (a guard
            against saving weights with the wrong description). None = ``model.config``.
        geocells: GeocellSet with ``model.config.num_cells`` rows.
        prototypes: LocationPrototypes (same embedding dimension) or None.
        card: ``{"data", "training_command", ["title", "description", "metrics", "metrics_command"]}``.
        refine: refinement settings overriding :data:`DEFAULT_REFINE`.
        views: views per location the model expects by default (4 for PIGEON street view).
        overwrite: replace an existing folder.
    The folder is written next to ``path`` and moved into place at the end.
    """
    from safetensors.torch import save_model

    from geoloc.refine import save_prototypes

    path = Path(path)
    mc = model.config
    if config is not None:
        cdict = config.to_dict() if dataclasses.is_dataclass(config) else dict(config)
        if cdict != mc.to_dict():
            raise GeolocError("config does not match model.config; pass the config the model was built with")
    if len(geocells) != mc.num_cells:
        raise GeolocError(f"geocells has {len(geocells)} cells but the model's geocell head has {mc.num_cells}")
    if prototypes is not None and prototypes.dim != model.embed_dim:
        raise GeolocError(f"prototypes have dimension {prototypes.dim}, the model's embedding {model.embed_dim}")
    if prototypes is not None and prototypes.num_cells != mc.num_cells:
        raise GeolocError(f"prototypes cover {prototypes.num_cells} cells, the model has {mc.num_cells}")
    if path.exists() and not overwrite:
        raise GeolocError(f"{path} already exists (pass overwrite=True to replace it)")
    card = _check_card(card)
    cfg = validate_config(json.loads(json.dumps(build_config(model, geocells, prototypes, refine=refine,
                                                             views=views, card=card))))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        (tmp / CONFIG).write_text(json.dumps(cfg, indent=2) + "\n")
        was_training = model.training
        model.eval()
        save_model(model, str(tmp / WEIGHTS), metadata={"format": "pt", "schema": SCHEMA})
        model.train(was_training)
        geocells.save(tmp / GEOCELLS)
        if prototypes is not None:
            save_prototypes(prototypes, tmp, name=PROTOTYPES)
        (tmp / CARD).write_text(render_card(card, cfg))
        files = sorted(p.name for p in tmp.iterdir() if p.is_file())
        manifest = {"schema": MANIFEST_SCHEMA, "files": {n: _manifest_entry(tmp / n) for n in files}}
        _write_manifest(tmp, manifest)
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return sha256_file(path / MANIFEST)


def record_evaluation(path, name: str, *, metrics: dict[str, Any], command: str, data: str) -> str:
    """Add (or replace) the evaluation ``name`` in the model card of the bundle at ``path``.

    The card (``config.json`` field ``card.evaluations``, rendered into README.md) keeps every
    recorded evaluation with the data it ran on and the command that produced it; the weights are
    untouched. The bundle is verified first, the three changed files are replaced one by one with
    ``manifest.json`` last, so a reader never sees a manifest that disagrees with the files it
    lists. Returns the new content hash.
    """
    path = Path(path)
    verify_bundle(path)
    if not name.strip() or not command.strip() or not data.strip():
        raise GeolocError("an evaluation needs a name, the data it ran on and the command that produced it")
    cfg = read_json(path / CONFIG)
    card = dict(cfg["card"])
    values = {k: (round(float(v), 4) if isinstance(v, float) else v) for k, v in metrics.items()}
    card["evaluations"] = {**(card.get("evaluations") or {}),
                           name: {"data": data, "metrics": values, "command": command}}
    cfg["card"] = _check_card(card)
    cfg = validate_config(cfg)
    texts = {CONFIG: json.dumps(cfg, indent=2) + "\n", CARD: render_card(cfg["card"], cfg)}
    for fname, text in texts.items():
        tmp = path / f".{fname}.tmp"
        tmp.write_text(text)
        os.replace(tmp, path / fname)
    manifest = read_json(path / MANIFEST)
    manifest["files"].update({fname: _manifest_entry(path / fname) for fname in texts})
    _write_manifest(path, manifest)
    return sha256_file(path / MANIFEST)


def _manifest_entry(f: Path) -> dict[str, Any]:
    """A file's line in manifest.json: its SHA-256 and size in bytes."""
    return {"sha256": sha256_file(f), "bytes": f.stat().st_size}


def _write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    """Write ``folder``/manifest.json atomically (a temporary file renamed into place)."""
    tmp = folder / f".{MANIFEST}.tmp"
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, folder / MANIFEST)


def verify_bundle(path) -> tuple[dict[str, Any], str]:
    """Check every file of the bundle at ``path`` against ``manifest.json``; returns
    ``(manifest, content_hash)``. Raises BundleError naming the missing/truncated/altered file."""
    path = Path(path)
    if not path.is_dir():
        raise BundleError(f"no model bundle at {path} (not a folder)")
    mpath = path / MANIFEST
    if not mpath.is_file():
        raise BundleError(f"{mpath} is missing (not a geoloc model bundle?)")
    manifest = read_json(mpath)
    if not isinstance(manifest, dict) or manifest.get("schema") != MANIFEST_SCHEMA:
        schema = manifest.get("schema") if isinstance(manifest, dict) else None
        raise BundleError(f"{mpath}: unknown manifest schema {schema!r}; this geoloc reads {MANIFEST_SCHEMA!r}")
    files = manifest.get("files")
    if not isinstance(files, dict):
        raise BundleError(f"{mpath}: field 'files' must be an object")
    for name in REQUIRED_FILES:
        if name not in files:
            raise BundleError(f"{mpath} does not list required file {name}")
    for name, entry in files.items():
        f = path / name
        if Path(name).name != name or not isinstance(entry, dict):
            raise BundleError(f"{mpath}: bad entry {name!r}")
        if not f.is_file():
            raise BundleError(f"{f} is missing")
        size = f.stat().st_size
        if size != entry.get("bytes"):
            raise BundleError(f"{f} has {size} bytes, the manifest says {entry.get('bytes')} (truncated or altered)")
        if sha256_file(f) != entry.get("sha256"):
            raise BundleError(f"{f} does not match its SHA-256 in {MANIFEST} (altered or corrupt)")
    return manifest, sha256_file(mpath)


def load_bundle(path) -> Bundle:
    """Verify and load a bundle folder (model on the CPU, eval mode). Raises BundleError."""
    from safetensors.torch import load_model

    from geoloc.cells.geocell_set import GeocellSet
    from geoloc.errors import InputFileError
    from geoloc.model import GeoModel, GeoModelConfig
    from geoloc.refine import load_prototypes

    path = Path(path)
    manifest, content_hash = verify_bundle(path)
    cfg = validate_config(read_json(path / CONFIG), str(path / CONFIG))
    try:
        geocells = GeocellSet.load(path / GEOCELLS)
    except InputFileError as exc:
        raise BundleError(str(exc)) from exc
    if len(geocells) != cfg["geocells"]["num_cells"] or geocell_set_id(geocells) != cfg["geocells"]["id"]:
        raise BundleError(f"{path / GEOCELLS} is not the geocell set {cfg['geocells']['id']} named in {CONFIG}")
    prototypes = None
    if cfg["prototypes"] is not None:
        name = cfg["prototypes"]["name"]
        if f"{name}.safetensors" not in manifest["files"] or f"{name}.json" not in manifest["files"]:
            raise BundleError(f"{path / MANIFEST} does not list the prototype files '{name}.*' named in {CONFIG}")
        prototypes = load_prototypes(path, name=name)
    # never fetch weights while loading: the bundle's safetensors hold every parameter
    mc = dataclasses.replace(GeoModelConfig.from_dict(cfg["model"]), pretrained=None)
    try:
        model = GeoModel(mc)
        missing, unexpected = load_model(model, str(path / WEIGHTS), strict=False)
    except Exception as exc:
        raise BundleError(f"{path / WEIGHTS} could not be loaded into the configured model ({exc})") from exc
    if missing or unexpected:
        raise BundleError(f"{path / WEIGHTS} does not fit the configured model: missing {sorted(missing)[:5]}, "
                          f"unexpected {sorted(unexpected)[:5]}")
    model.eval()
    if prototypes is not None and prototypes.dim != model.embed_dim:
        raise BundleError(f"{path}: prototypes have dimension {prototypes.dim}, the model {model.embed_dim}")
    if prototypes is not None and prototypes.num_cells != len(geocells):
        raise BundleError(f"{path}: prototypes cover {prototypes.num_cells} cells, the geocells {len(geocells)}")
    return Bundle(path=path, config=cfg, model=model, geocells=geocells, prototypes=prototypes,
                  card=(path / CARD).read_text(), content_hash=content_hash)


def bundle_in_memory(*, model, geocells, prototypes=None, refine: dict | None = None, views: int = 1,
                     card: dict[str, Any] | None = None) -> Bundle:
    """A :class:`Bundle` from objects in memory (for evaluation right after training)."""
    card = _check_card(card or {"data": "in memory", "training_command": "in memory"})
    cfg = validate_config(json.loads(json.dumps(build_config(model, geocells, prototypes, refine=refine,
                                                             views=views, card=card))))
    return Bundle(path=None, config=cfg, model=model.eval(), geocells=geocells, prototypes=prototypes,
                  card=render_card(card, cfg), content_hash="")


__all__ = ["DEFAULT_REFINE", "SCHEMA", "Bundle", "build_config", "bundle_in_memory", "geocell_set_id",
           "load_bundle", "package_versions", "render_card", "save_bundle", "validate_config",
           "verify_bundle"]
