"""Downloads that fail fast offline: the Hugging Face Hub (bundles, open_clip weights, data sets).

Every download in geoloc goes through here so that a machine without internet answers within
seconds with ONE line naming what to fetch and where to put it, instead of waiting on network
timeouts and retries (huggingface_hub retries a failed lookup for about a minute):

1. the local cache is tried first (``huggingface_hub``'s standard cache, ``$HF_HUB_CACHE``, default
   ``~/.cache/huggingface/hub``), without touching the network;
2. if something is missing, :func:`unreachable` opens one TCP connection to the host (or to the
   HTTPS proxy) with a short timeout (:data:`PROBE_TIMEOUT_S`, DNS included); ``HF_HUB_OFFLINE=1``
   skips the probe. Unreachable -> :class:`OfflineError` (a :class:`~geoloc.errors.GeolocError`);
3. otherwise the files are downloaded with ``huggingface_hub`` (progress bars, resumable: an
   interrupted file continues from its ``.incomplete`` part) and used from the cache afterwards.

Functions:

* :func:`parse_hub_name` ``("hf-hub:org/name@rev")`` -> ``("org/name", "rev")``.
* :func:`fetch_files` ``(repo_id, [names...])``: the first file of each group that exists, cached.
* :func:`fetch_snapshot` ``(repo_id, revision, allow_patterns=...)``: a repository snapshot folder.
* :func:`ensure_clip_weights` ``(arch, pretrained)``: an open_clip tag or ``hf-hub:`` CLIP made
  available in the cache; :func:`hub_offline` then lets open_clip read it without any request.
* :func:`verify_lfs_file`: a cached LFS file's SHA-256 equals its blob name (the hub's checksum).
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import threading
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from urllib.parse import urlparse

from geoloc.errors import GeolocError

HF_PREFIX = "hf-hub:"
PROBE_TIMEOUT_S = 3.0
"""Seconds the reachability probe waits for DNS + TCP connect before calling a host unreachable."""
SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")


class OfflineError(GeolocError):
    """Something must be downloaded and the machine cannot reach the source (one line: what and where)."""


# --------------------------------------------------------------------------- network


def hub_endpoint() -> str:
    """The Hub's base URL (``$HF_ENDPOINT``, default https://huggingface.co)."""
    from huggingface_hub import constants

    return str(constants.ENDPOINT).rstrip("/")


def hub_cache_dir() -> Path:
    """huggingface_hub's standard cache folder (``$HF_HUB_CACHE``; default ~/.cache/huggingface/hub)."""
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def offline_forced() -> bool:
    """True when the user set ``HF_HUB_OFFLINE=1`` (read by huggingface_hub at import)."""
    from huggingface_hub import constants

    return bool(constants.is_offline_mode())


def _probe_target(url: str) -> tuple[str, int]:
    """(host, port) a request to ``url`` would first connect to: its HTTP(S) proxy if one applies."""
    parsed = urlparse(url)
    host = parsed.hostname or ""
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    proxies = urllib.request.getproxies()
    proxy = proxies.get(parsed.scheme) or proxies.get("all")
    if proxy and not urllib.request.proxy_bypass(host):
        p = urlparse(proxy if "://" in proxy else f"http://{proxy}")
        return p.hostname or host, p.port or 80
    return host, port


def unreachable(url: str, timeout: float = PROBE_TIMEOUT_S) -> str | None:
    """None when a TCP connection to ``url``'s host (or its proxy) opens within ``timeout`` seconds,
    else why not (DNS failure, refused, timed out). The lookup runs in a daemon thread, so a hanging
    resolver cannot hold the caller longer than ``timeout``."""
    host, port = _probe_target(url)
    if not host:
        return f"{url} has no host"
    result: list[str | None] = []

    def attempt() -> None:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            result.append(f"cannot resolve {host} ({exc.strerror or exc})")
            return
        last = "no address"
        for family, kind, proto, _, addr in infos:
            try:
                with socket.socket(family, kind, proto) as s:
                    s.settimeout(timeout)
                    s.connect(addr)
                result.append(None)
                return
            except OSError as exc:
                last = exc.strerror or str(exc) or type(exc).__name__
        result.append(f"cannot connect to {host}:{port} ({last})")

    t = threading.Thread(target=attempt, name="geoloc-probe", daemon=True)
    t.start()
    t.join(timeout)
    if not result:
        return f"no answer from {host}:{port} within {timeout:g} s"
    return result[0]


def offline_reason(url: str) -> str | None:
    """Why ``url`` cannot be downloaded now (``HF_HUB_OFFLINE`` set for Hub URLs, or :func:`unreachable`),
    or None."""
    if offline_forced() and url.startswith(hub_endpoint()):
        return "HF_HUB_OFFLINE is set"
    return unreachable(url)


@contextlib.contextmanager
def hub_offline() -> Iterator[None]:
    """Inside the block huggingface_hub answers from its cache only (no request at all), as with
    ``HF_HUB_OFFLINE=1``; used once the files are known to be cached, so that code which downloads
    on its own (open_clip) cannot wait on the network."""
    from huggingface_hub import constants

    old = constants.HF_HUB_OFFLINE
    constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        constants.HF_HUB_OFFLINE = old


# --------------------------------------------------------------------------- names and files


def parse_hub_name(name: str) -> tuple[str, str | None]:
    """``"hf-hub:org/name[@revision]"`` (the prefix is optional) -> ``(repo_id, revision or None)``."""
    text = name[len(HF_PREFIX):] if name.startswith(HF_PREFIX) else name
    repo, _, rev = text.partition("@")
    repo = repo.strip().strip("/")
    if repo.count("/") != 1 or not all(repo.split("/")):
        raise GeolocError(f"{name!r}: a Hub name is hf-hub:ORG/NAME[@REVISION]")
    return repo, (rev.strip() or None)


def _repo_url(repo_id: str, repo_type: str) -> str:
    return f"{hub_endpoint()}/{'datasets/' if repo_type == 'dataset' else ''}{repo_id}"


def _cache_folder(repo_id: str, repo_type: str) -> Path:
    return hub_cache_dir() / f"{repo_type}s--{repo_id.replace('/', '--')}"


def download_hint(repo_id: str, files: Sequence[str] = (), *, repo_type: str = "model",
                  revision: str | None = None) -> str:
    """Where to get ``files`` of a Hub repository by hand and where they must go (one clause)."""
    cmd = ["hf", "download", repo_id, *files]
    if repo_type != "model":
        cmd.append(f"--repo-type {repo_type}")
    if revision:
        cmd.append(f"--revision {revision}")
    return (f"on a machine with internet run `{' '.join(cmd)}` and copy {_cache_folder(repo_id, repo_type).name} "
            f"into {hub_cache_dir()} here (or set HF_HUB_CACHE to a folder that holds it)")


def _cached(repo_id: str, filename: str, repo_type: str, revision: str | None) -> Path | None:
    from huggingface_hub import try_to_load_from_cache

    got = try_to_load_from_cache(repo_id, filename, revision=revision, repo_type=repo_type)
    return Path(got) if isinstance(got, str) and os.path.isfile(got) else None


def fetch_files(repo_id: str, groups: Sequence[Sequence[str]], *, what: str, repo_type: str = "model",
                revision: str | None = None, required: Sequence[bool] | None = None) -> list[Path | None]:
    """For each group of alternative file names (e.g. ``["model.safetensors", "model.bin"]``, preferred
    first, the canonical name last), the path
    of the first one the repository has, from the cache or downloaded (progress bar, resumable).

    ``required[i]`` False: a group none of whose files exists gives None instead of an error.
    Raises :class:`OfflineError` when a file is not cached and the Hub cannot be reached, and
    :class:`GeolocError` (one line) for a missing repository, revision or file."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError

    required = [True] * len(groups) if required is None else list(required)
    out: list[Path | None] = []
    missing: list[int] = []
    for i, group in enumerate(groups):
        hit = next((p for p in (_cached(repo_id, f, repo_type, revision) for f in group) if p is not None), None)
        out.append(hit)
        if hit is None:
            missing.append(i)
    if not missing:
        return out
    reason = offline_reason(_repo_url(repo_id, repo_type))
    if reason:
        names = [groups[i][-1] for i in missing]  # the canonical name is last (alternatives first)
        raise OfflineError(f"{what}: not on this machine, and {hub_endpoint()} cannot be reached ({reason}); "
                           f"{download_hint(repo_id, names, repo_type=repo_type, revision=revision)}")
    for i in missing:
        for name in groups[i]:
            try:
                out[i] = Path(hf_hub_download(repo_id, name, revision=revision, repo_type=repo_type))
                break
            except EntryNotFoundError:
                continue
            except Exception as exc:
                raise _download_error(exc, what, f"{repo_id}/{name}", repo_id, revision) from None
        if out[i] is None and required[i]:
            raise GeolocError(f"{what}: {repo_id} has none of {list(groups[i])}")
    return out


def fetch_snapshot(repo_id: str, *, what: str, revision: str | None = None, repo_type: str = "model",
                   allow_patterns: Sequence[str] | None = None, complete=None) -> Path:
    """A snapshot folder of a Hub repository (only ``allow_patterns``, if given): the cached one when
    ``complete(folder)`` accepts it (default: it exists), else downloaded (resumable, progress bars).
    Raises :class:`OfflineError` / :class:`GeolocError` as :func:`fetch_files`."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    check = complete or (lambda p: Path(p).is_dir())
    patterns = list(allow_patterns) if allow_patterns else None
    try:
        with hub_offline():
            local = Path(snapshot_download(repo_id, revision=revision, repo_type=repo_type,
                                           allow_patterns=patterns, local_files_only=True))
        if check(local):
            return local
    except (LocalEntryNotFoundError, OSError, ValueError, HfHubHTTPError):
        pass
    except Exception as exc:  # e.g. IncompleteSnapshotError: treat as not cached
        if type(exc).__module__.split(".")[0] != "huggingface_hub":
            raise
    reason = offline_reason(_repo_url(repo_id, repo_type))
    if reason:
        raise OfflineError(f"{what}: not on this machine, and {hub_endpoint()} cannot be reached ({reason}); "
                           f"{download_hint(repo_id, repo_type=repo_type, revision=revision)}")
    try:
        return Path(snapshot_download(repo_id, revision=revision, repo_type=repo_type, allow_patterns=patterns))
    except Exception as exc:
        raise _download_error(exc, what, repo_id, repo_id, revision) from None


def _download_error(exc: Exception, what: str, target: str, repo_id: str, revision: str | None) -> Exception:
    """The one-line error for a failed Hub download of ``target`` (re-raises anything that is not one)."""
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    if isinstance(exc, RepositoryNotFoundError | GatedRepoError):
        return GeolocError(f"{what}: Hub repository {repo_id} not found or not accessible "
                           f"({type(exc).__name__}; a private or gated one needs `hf auth login`)")
    if isinstance(exc, RevisionNotFoundError):
        return GeolocError(f"{what}: {repo_id} has no revision {revision!r}")
    if isinstance(exc, HfHubHTTPError | OSError):
        return GeolocError(f"{what}: download of {target} failed ({' '.join(str(exc).split())[:200]}); "
                           f"run the command again to resume")
    raise exc


def verify_lfs_file(path: str | os.PathLike) -> bool | None:
    """True when a file of the Hub cache hashes to its blob name (the hub stores large files under
    their SHA-256), False when it does not (corrupt), None when the blob name is not a SHA-256 (a
    small git file, checked by git's own hash at download)."""
    real = Path(os.path.realpath(path))
    if not SHA256_HEX.match(real.name):
        return None
    from geoloc.integrity import sha256_file

    return sha256_file(real) == real.name


# --------------------------------------------------------------------------- open_clip weights

OPEN_CLIP_CONFIG = "open_clip_config.json"
OPEN_CLIP_WEIGHTS = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")


def _tag_files(arch: str, tag: str) -> tuple[str, list[str]] | str | None:
    """Where open_clip's pretrained ``tag`` of ``arch`` lives: (hub repo, file alternatives in open_clip's
    order), or a URL, or None for an unknown tag."""
    from open_clip.pretrained import get_pretrained_cfg

    cfg = get_pretrained_cfg(arch, tag)
    if not cfg:
        return None
    if cfg.get("hf_hub"):
        repo, filename = os.path.split(str(cfg["hf_hub"]).rstrip(" "))
        filename = filename or "open_clip_pytorch_model.bin"
        alts = []
        if filename == "open_clip_pytorch_model.bin":
            alts.append("open_clip_model.safetensors")
        elif filename.endswith((".bin", ".pth")):
            alts.append(filename[:-4] + ".safetensors")
        return repo.strip("/"), [*alts, filename]
    return str(cfg.get("url", "")) or None


def ensure_clip_weights(arch: str, pretrained: str | None) -> None:
    """Make the weights open_clip needs for ``arch`` (an architecture with a ``pretrained`` tag, or an
    ``hf-hub:org/repo`` CLIP) available in the caches, downloading them when the source can be reached.
    A ``pretrained`` that is a file path, or no weights at all, needs nothing. Raises
    :class:`OfflineError` (offline, not cached) or :class:`GeolocError` (unknown tag, missing repo)."""
    import open_clip

    if arch.startswith(HF_PREFIX):
        repo, rev = parse_hub_name(arch)
        fetch_files(repo, [[OPEN_CLIP_CONFIG], list(OPEN_CLIP_WEIGHTS)], what=f"open_clip model {arch}", revision=rev)
        return
    if not pretrained or os.path.isfile(pretrained):
        return
    where = _tag_files(arch, pretrained)
    if where is None:
        tags = open_clip.list_pretrained_tags_by_model(arch) if arch in open_clip.list_models() else []
        raise GeolocError(f"open_clip has no pretrained tag {pretrained!r} for {arch!r}"
                          + (f" (known: {', '.join(tags)})" if tags else " (it has no pretrained weights)")
                          + "; or pass a local checkpoint file")
    what = f"CLIP weights {arch} (pretrained {pretrained!r})"
    if isinstance(where, tuple):
        repo, files = where
        fetch_files(repo, [files], what=what)
        return
    target = Path(os.path.expanduser("~/.cache/clip")) / os.path.basename(where)
    if not target.is_file():
        reason = unreachable(where)
        if reason:
            raise OfflineError(f"{what}: not on this machine, and {urlparse(where).hostname} cannot be reached "
                               f"({reason}); download {where} into {target.parent}/ or pass a local checkpoint")


__all__ = ["HF_PREFIX", "OPEN_CLIP_CONFIG", "OPEN_CLIP_WEIGHTS", "PROBE_TIMEOUT_S", "OfflineError",
           "download_hint", "ensure_clip_weights", "fetch_files", "fetch_snapshot", "hub_cache_dir", "hub_endpoint",
           "hub_offline", "offline_forced", "offline_reason", "parse_hub_name", "unreachable", "verify_lfs_file"]
