"""Build any loss, miner, sampler, head, block, adapter, augmentation, memory or evaluator by name.

Every registered class ``C`` has a registry name and a ``get_config_dict()`` that returns its
constructor arguments as JSON-friendly values, so that

    C(**c.get_config_dict())            # == c (same hyperparameters, same parameter shapes)
    build(to_config(c))                 # the same, from a plain dict: {"type": name, **config}

round trip. Arguments that are data or modules rather than hyperparameters (a sampler's labels,
the experts of a mixture, the base model of a merge) are *runtime* arguments: the class lists
them in ``runtime_keys``, ``get_config_dict()`` leaves them out, and ``build(config, **runtime)``
supplies them. Nested components (the loss inside a wrapper, the terms of a multi-task loss)
appear in a config as nested ``{"type": ..., ...}`` dicts and are built recursively.

Adding a component (see docs/representation.md, "Adding a method"):

    @register("my_loss", kind="loss")
    class MyLoss(LossBase):
        config_keys = ("temperature", "learn_scale", "margin")
        ...
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from representation.errors import ConfigError

KINDS = ("loss", "miner", "sampler", "head", "block", "adapter", "augment", "target", "memory", "evaluator",
         "merge", "wrapper", "similarity", "model", "tokenizer", "transform", "decoder", "retriever")
"""Component kinds (for listing and documentation; names are unique across kinds)."""

_MODULES = ("representation.losses", "representation.miners", "representation.samplers", "representation.heads",
            "representation.blocks", "representation.adapters", "representation.augment", "representation.targets",
            "representation.memory", "representation.eval", "representation.merging", "representation.similarity",
            "representation.lm", "representation.decoding", "representation.text", "representation.retrieval")


@dataclass(frozen=True)
class Entry:
    name: str
    kind: str
    cls: type


_REGISTRY: dict[str, Entry] = {}
_LOADED = False
T = TypeVar("T", bound=type)


def register(name: str, kind: str) -> Callable[[T], T]:
    """Class decorator: register ``cls`` under ``name`` (unique) as a component of ``kind``."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; one of {KINDS}")

    def deco(cls: T) -> T:
        old = _REGISTRY.get(name)
        if old is not None and old.cls.__qualname__ != cls.__qualname__:
            raise ValueError(f"registry name {name!r} is already used by {old.cls.__module__}.{old.cls.__qualname__}")
        _REGISTRY[name] = Entry(name, kind, cls)
        cls.registry_name = name  # type: ignore[attr-defined]
        cls.registry_kind = kind  # type: ignore[attr-defined]
        return cls

    return deco


def _load_all() -> None:
    global _LOADED
    if _LOADED:
        return
    for mod in _MODULES:
        importlib.import_module(mod)
    _LOADED = True


def names(kind: str | None = None) -> list[str]:
    """Registered names (of one ``kind``), sorted."""
    _load_all()
    return sorted(n for n, e in _REGISTRY.items() if kind is None or e.kind == kind)


def entries() -> list[Entry]:
    """Every registered component."""
    _load_all()
    return [_REGISTRY[n] for n in sorted(_REGISTRY)]


def get(name: str) -> type:
    """The class registered as ``name``; ConfigError with close matches when unknown."""
    _load_all()
    entry = _REGISTRY.get(name)
    if entry is None:
        close = difflib.get_close_matches(name, list(_REGISTRY), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else f"; known: {', '.join(sorted(_REGISTRY))}"
        raise ConfigError(f"unknown component {name!r}{hint}")
    return entry.cls


def build(config: Mapping[str, Any] | str, /, **runtime: Any) -> Any:
    """Instantiate ``{"type": name, **kwargs}`` (or a bare name); ``runtime`` adds or overrides
    keyword arguments (data and modules that a config cannot hold)."""
    if isinstance(config, str):
        config = {"type": config}
    if not isinstance(config, Mapping) or "type" not in config:
        raise ConfigError(f"a component config is a dict with a 'type' key, got {config!r}")
    kwargs = {k: v for k, v in config.items() if k != "type"}
    kwargs.update(runtime)
    cls = get(str(config["type"]))
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"{config['type']}: {exc}") from exc


def resolve(value: Any) -> Any:
    """``build(value)`` if it is a component config (a dict with a 'type' key), else ``value``.
    Constructors call this on arguments that may hold nested components."""
    if isinstance(value, Mapping) and "type" in value:
        return build(value)
    return value


def to_config(obj: Any) -> dict[str, Any]:
    """``{"type": registry name, **obj.get_config_dict()}`` of a registered component."""
    name = getattr(type(obj), "registry_name", None)
    if name is None or _REGISTRY.get(name, Entry("", "", object)).cls is not type(obj):
        raise ConfigError(f"{type(obj).__name__} is not a registered component")
    return {"type": name, **obj.get_config_dict()}


def config_value(value: Any) -> Any:
    """JSON-friendly form of a constructor argument: nested components become their configs,
    objects with ``get_config_dict`` their dicts, tuples lists, tensors are refused."""
    if getattr(type(value), "registry_name", None) is not None:
        return to_config(value)
    if hasattr(value, "get_config_dict") and not isinstance(value, type):
        return value.get_config_dict()
    if isinstance(value, tuple):
        return [config_value(v) for v in value]
    if isinstance(value, list):
        return [config_value(v) for v in value]
    if isinstance(value, Mapping):
        return {k: config_value(v) for k, v in value.items()}
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        raise ConfigError("tensors are data, not configuration: list the argument in runtime_keys")
    return value
