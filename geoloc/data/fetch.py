"""``geoloc data fetch``: download a public geolocation data set and turn it into a manifest.

==============  ==========================================================================================
data set        source and layout
==============  ==========================================================================================
``osv5m``       Hugging Face data set ``osv5m/osv5m`` (through ``huggingface_hub``): labels ``{split}.csv``
                (``id,latitude,longitude,country,region,sub-region,city,...``) at the repository root,
                images in ``images/{split}/00.zip``, ``01.zip``, ... (each zip holds ``NN/<id>.jpg``;
                ``split`` is ``test`` (5 zips, 210k images) or ``train`` (98 zips, 4.9M images)).
``im2gps3k``    IM2GPS3k: 2,997 Flickr photos. Labels: GeoEstimation's ``im2gps3k_places365.csv``
                (:data:`IM2GPS3K_LABELS`, downloaded over HTTPS). Images: ``im2gps3ktest.zip``, published
                only behind a MediaFire page (linked from github.com/lugiavn/revisiting-im2gps), so the
                user downloads it in a browser and passes ``--archive FILE`` (or a direct URL).
``yfcc4k``      YFCC4k: 4,536 Flickr photos, ``yfcc4k.zip`` (same MediaFire publication); its labels are
                a YFCC100M-style ``info.txt`` (tab-separated, field 12 longitude, 13 latitude) inside the
                archive or given with ``--labels``.
==============  ==========================================================================================

Every step is resumable and checked:

* Hub files go through :func:`geoloc.hub.fetch_files` (cache first; an interrupted file continues from
  its ``.incomplete`` part; progress bars); a large (LFS) file is verified against its SHA-256, which is
  its blob name in the cache (:func:`geoloc.hub.verify_lfs_file`), and a corrupt one is deleted with a
  one-line error so that the next run downloads it again.
* URLs go through :func:`download_url`: HTTP ``Range`` requests continue a ``.part`` file, a progress
  bar shows the bytes, and ``--sha256`` (or a pinned digest) is checked before the file is renamed.
* Images are extracted one by one into ``OUT/images/<split>/<id>.jpg``; images already there are kept,
  so a rerun (or a larger ``--max-images``) only adds what is missing. OSV-5M's zips are taken in order
  until the repository has no next one; that count is remembered in ``OUT/.<split>-zips``, so a complete
  rerun needs no network.
* Offline, anything not on disk fails at once with one line naming what to fetch and where
  (:class:`geoloc.hub.OfflineError`): the source is probed with one short TCP connection first.

The manifest (``OUT/manifest.csv``) is written by the project's converters
(:func:`geoloc.data.formats.read_benchmark`) and lists only images that are on disk; ``--max-images N``
keeps the first N labelled images in archive order.
"""

from __future__ import annotations

import shutil
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from geoloc.errors import GeolocError, InputFileError

DATASETS = ("osv5m", "im2gps3k", "yfcc4k")
OSV5M_REPO = "osv5m/osv5m"
OSV5M_SPLITS = ("test", "train")
IM2GPS3K_LABELS = "https://raw.githubusercontent.com/TIBHannover/GeoEstimation/master/meta/im2gps3k_places365.csv"
ARCHIVE_PAGES = {
    "im2gps3k": "im2gps3ktest.zip (MediaFire, linked from https://github.com/lugiavn/revisiting-im2gps)",
    "yfcc4k": "yfcc4k.zip (MediaFire, linked from https://github.com/lugiavn/revisiting-im2gps)",
}
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
CHUNK = 1 << 20
HTTP_TIMEOUT_S = 30.0


@dataclass
class FetchResult:
    """What :func:`fetch_dataset` did.

    Attributes:
        manifest: the manifest written (``OUT/manifest.csv``).
        images: images on disk and listed in the manifest.
        added: images extracted by this run.
        labels: rows of the label file.
        unlabelled: archive images without a label row (skipped).
        downloads: files fetched or found in the cache, in order.
    """

    manifest: Path
    images: int
    added: int
    labels: int
    unlabelled: int = 0
    downloads: list[Path] = field(default_factory=list)


# --------------------------------------------------------------------------- URLs


def download_url(url: str, dest: str | Path, *, sha256: str | None = None, what: str = "",
                 progress: bool = True, timeout: float = HTTP_TIMEOUT_S) -> Path:
    """Download ``url`` (``http(s)://`` or ``file://``) to ``dest``, resumable: the bytes go to
    ``dest.part`` and a rerun asks the server for the rest (``Range``; a server that ignores it restarts the
    file). ``sha256`` (hex) is checked before the rename; a mismatch deletes the part and raises one line.
    A ``dest`` that exists is returned as is (after the checksum when one is given). Offline: one line
    (:class:`geoloc.hub.OfflineError`) within seconds."""
    from geoloc.hub import OfflineError, unreachable
    from geoloc.integrity import sha256_file

    dest = Path(dest)
    what = what or dest.name
    if dest.is_file():
        if sha256 and sha256_file(dest) != sha256.lower():
            dest.unlink()
            raise GeolocError(f"{what}: {dest} does not match its SHA-256 and was deleted; run the command again")
        return dest
    if url.startswith(("http://", "https://")):
        reason = unreachable(url)
        if reason:
            raise OfflineError(f"{what}: not on this machine, and {url} cannot be reached ({reason}); download it on "
                               f"a machine with internet and put it at {dest}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    have = part.stat().st_size if part.is_file() else 0
    req = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            status = getattr(r, "status", 200)
            resumed = have > 0 and status == 206
            total = r.headers.get("Content-Length")
            total = int(total) + (have if resumed else 0) if total and total.isdigit() else None
            bar = None
            if progress:
                from tqdm.auto import tqdm

                bar = tqdm(total=total, initial=have if resumed else 0, unit="B", unit_scale=True, desc=what)
            with part.open("ab" if resumed else "wb") as f:
                for block in iter(lambda: r.read(CHUNK), b""):
                    f.write(block)
                    if bar is not None:
                        bar.update(len(block))
            if bar is not None:
                bar.close()
        if total is not None and part.stat().st_size < total:
            raise OSError(f"connection closed after {part.stat().st_size:,} of {total:,} bytes")
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # nothing left to send: the part is complete
            pass
        else:
            raise GeolocError(f"{what}: {url} answered HTTP {exc.code}; the partial file {part} is kept, run the "
                              f"command again to resume") from None
    except (urllib.error.URLError, OSError) as exc:
        raise GeolocError(f"{what}: download from {url} failed ({getattr(exc, 'reason', exc)}); the partial file "
                          f"{part} is kept, run the command again to resume") from None
    if sha256 and sha256_file(part) != sha256.lower():
        part.unlink()
        raise GeolocError(f"{what}: the download of {url} does not match its SHA-256 and was deleted; run the "
                          f"command again")
    part.replace(dest)
    return dest


def local_or_url(source: str, dest_dir: Path, *, sha256: str | None, what: str, progress: bool) -> Path:
    """A local file as is (checksum checked when given), else :func:`download_url` into ``dest_dir``."""
    from geoloc.integrity import sha256_file

    if "://" not in source:
        path = Path(source).expanduser()
        if not path.is_file():
            raise InputFileError(f"{what}: no such file {path}")
        if sha256 and sha256_file(path) != sha256.lower():
            raise GeolocError(f"{what}: {path} does not match the SHA-256 given")
        return path
    name = PurePosixPath(source.split("?", 1)[0]).name or "download"
    return download_url(source, dest_dir / name, sha256=sha256, what=what, progress=progress)


# --------------------------------------------------------------------------- archives


def _image_members(zf: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    return [m for m in zf.infolist() if not m.is_dir() and PurePosixPath(m.filename).suffix.lower() in IMAGE_SUFFIXES
            and not PurePosixPath(m.filename).name.startswith(".") and "__MACOSX" not in m.filename]


def extract_images(archive: Path, dest: Path, wanted: Callable[[str], str | None], *, limit: int | None,
                   have: set[str]) -> tuple[int, int, list[str]]:
    """Extract the images of a zip whose file name ``wanted`` maps to a label key (else skipped) into
    ``dest/<key><suffix>``, in archive order, until ``have`` (keys on disk, updated) holds ``limit`` keys.
    Returns (images added, images without a label, keys in archive order that are on disk)."""
    added = unlabelled = 0
    order: list[str] = []
    dest.mkdir(parents=True, exist_ok=True)
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        raise GeolocError(f"{archive} is not a readable zip archive ({exc}); delete it and run the command again "
                          f"to download it anew") from None
    with zf:
        for m in _image_members(zf):
            if limit is not None and len(have) >= limit:
                break
            name = PurePosixPath(m.filename).name
            key = wanted(name)
            if key is None:
                unlabelled += 1
                continue
            if key in have:
                order.append(key)
                continue
            target = dest / (key + PurePosixPath(name).suffix.lower())
            tmp = target.with_name(target.name + ".tmp")
            with zf.open(m) as src, tmp.open("wb") as out:
                shutil.copyfileobj(src, out, CHUNK)
            tmp.replace(target)
            have.add(key)
            order.append(key)
            added += 1
    return added, unlabelled, order


def images_on_disk(folder: Path) -> dict[str, Path]:
    """Image stem -> path of the images already in ``folder`` (not recursive)."""
    if not folder.is_dir():
        return {}
    return {p.stem: p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()}


def write_fetched_manifest(df, keys, out: Path, on_disk: dict[str, Path], order: Iterable[str]) -> Path:
    """Keep the label rows whose image key (``keys``, one per row) is on disk, in archive order (then the
    rest), one row per key; point ``path`` at the file relative to ``out``; write ``out/manifest.csv``."""
    from geoloc.data.manifest import PATH, write_manifest

    keys = keys.astype(str).reset_index(drop=True)
    rank = {k: i for i, k in enumerate(dict.fromkeys(order))}
    sub = df.reset_index(drop=True).assign(_key=keys, _rank=keys.map(lambda k: rank.get(k, len(rank))))
    sub = sub[sub["_key"].isin(on_disk.keys())].sort_values("_rank", kind="stable")
    sub = sub.drop_duplicates(subset=["_key"], keep="first")
    sub[PATH] = [str(on_disk[k].relative_to(out)) for k in sub["_key"]]
    return write_manifest(sub.drop(columns=["_key", "_rank"]).reset_index(drop=True), out / "manifest.csv")


# --------------------------------------------------------------------------- data sets


def _verified(path: Path, what: str) -> Path:
    from geoloc.hub import verify_lfs_file

    if verify_lfs_file(path) is False:
        import os

        os.unlink(os.path.realpath(path))
        raise GeolocError(f"{what}: the cached file does not match its SHA-256 (the Hub's checksum) and was "
                          f"deleted; run the command again to download it anew")
    return path


def fetch_osv5m(out: str | Path, *, split: str = "test", max_images: int | None = None, repo: str = OSV5M_REPO,
                revision: str | None = None, progress: bool = True) -> FetchResult:
    """OSV-5M ``split`` from the Hub into ``out`` (module docstring): labels, then image zips in order until
    ``max_images`` labelled images are on disk (all zips when None)."""
    from geoloc.data.formats import read_osv5m
    from geoloc.hub import fetch_files

    if split not in OSV5M_SPLITS:
        raise GeolocError(f"OSV-5M split must be one of {', '.join(OSV5M_SPLITS)}, got {split!r}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    what = f"OSV-5M {split}"
    (labels_cached,) = fetch_files(repo, [[f"{split}.csv"]], what=f"{what} labels", repo_type="dataset",
                                   revision=revision)
    labels = out / f"{split}.csv"
    if not labels.is_file() or labels.stat().st_size != Path(labels_cached).stat().st_size:
        shutil.copyfile(_verified(Path(labels_cached), f"{what} labels"), labels)
    df = read_osv5m(labels)
    ids = set(df["id"].astype(str))
    dest = out / "images" / split
    on_disk = images_on_disk(dest)
    have = set(on_disk) & ids
    downloads = [Path(labels_cached)]
    added = unlabelled = 0
    order: list[str] = []
    index = 0
    count_file = out / f".{split}-zips"          # how many zips the split has, once a run has seen the end
    n_zips = int(count_file.read_text()) if count_file.is_file() else None
    while (max_images is None or len(have) < max_images) and (n_zips is None or index < n_zips):
        name = f"images/{split}/{index:02d}.zip"
        (zpath,) = fetch_files(repo, [[name]], what=f"{what} images {name}", repo_type="dataset", revision=revision,
                               required=[False])
        if zpath is None:
            count_file.write_text(str(index))
            break
        downloads.append(_verified(Path(zpath), f"{what} images {name}"))
        a, u, o = extract_images(Path(zpath), dest, lambda n: PurePosixPath(n).stem if PurePosixPath(n).stem in ids
                                 else None, limit=max_images, have=have)
        added, unlabelled, order = added + a, unlabelled + u, order + o
        index += 1
    on_disk = {k: v for k, v in images_on_disk(dest).items() if k in ids}
    if max_images is not None:
        on_disk = dict(list(_ordered(on_disk, order).items())[:max_images])
    manifest = write_fetched_manifest(df, df["id"], out, on_disk, order)
    return FetchResult(manifest, len(on_disk), added, len(df), unlabelled, downloads)


def _ordered(on_disk: dict[str, Path], order: list[str]) -> dict[str, Path]:
    first = [k for k in dict.fromkeys(order) if k in on_disk]
    return {**{k: on_disk[k] for k in first}, **{k: v for k, v in sorted(on_disk.items()) if k not in first}}


def fetch_archive_dataset(name: str, out: str | Path, *, archive: str | None, labels: str | None = None,
                          sha256: str | None = None, max_images: int | None = None,
                          progress: bool = True) -> FetchResult:
    """IM2GPS3k or YFCC4k from the user's ``archive`` (a local zip or a direct URL) and labels (default:
    :data:`IM2GPS3K_LABELS` for im2gps3k, ``info.txt`` inside the archive for yfcc4k)."""
    from geoloc.data.formats import read_benchmark

    if archive is None:
        raise GeolocError(f"{name}: its images are published only as {ARCHIVE_PAGES[name]}; download that file in "
                          f"a browser and pass --archive PATH (or --archive URL for a direct link)")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    zpath = local_or_url(archive, out / "downloads", sha256=sha256, what=f"{name} images", progress=progress)
    downloads = [zpath]
    if labels is not None:
        label_file = local_or_url(labels, out / "downloads", sha256=None, what=f"{name} labels", progress=progress)
    elif name == "im2gps3k":
        label_file = download_url(IM2GPS3K_LABELS, out / "downloads" / PurePosixPath(IM2GPS3K_LABELS).name,
                                  what=f"{name} labels", progress=progress)
    else:
        label_file = _label_from_archive(zpath, out / "downloads", "info.txt", name)
    downloads.append(label_file)
    df = read_benchmark(label_file, name)
    from geoloc.data.manifest import PATH

    keys = df[PATH].astype(str).map(lambda p: PurePosixPath(p).stem)
    known = set(keys)
    dest = out / "images"
    have = set(images_on_disk(dest)) & known
    added, unlabelled, order = extract_images(zpath, dest, lambda n: PurePosixPath(n).stem if PurePosixPath(n).stem
                                              in known else None, limit=max_images, have=have)
    on_disk = {k: v for k, v in images_on_disk(dest).items() if k in known}
    if max_images is not None:
        on_disk = dict(list(_ordered(on_disk, order).items())[:max_images])
    manifest = write_fetched_manifest(df, keys, out, on_disk, order)
    return FetchResult(manifest, len(on_disk), added, len(df), unlabelled, downloads)


def _label_from_archive(archive: Path, dest_dir: Path, filename: str, name: str) -> Path:
    with zipfile.ZipFile(archive) as zf:
        member = next((m for m in zf.infolist() if PurePosixPath(m.filename).name == filename), None)
        if member is None:
            raise GeolocError(f"{name}: {archive} holds no {filename}; pass the label file with --labels")
        dest_dir.mkdir(parents=True, exist_ok=True)
        target = dest_dir / filename
        with zf.open(member) as src, target.open("wb") as f:
            shutil.copyfileobj(src, f)
    return target


def fetch_dataset(name: str, out: str | Path, *, max_images: int | None = None, split: str = "test",
                  archive: str | None = None, labels: str | None = None, sha256: str | None = None,
                  revision: str | None = None, progress: bool = True) -> FetchResult:
    """Dispatch on ``name`` (one of :data:`DATASETS`)."""
    if max_images is not None and max_images < 1:
        raise GeolocError(f"--max-images must be >= 1, got {max_images}")
    if name == "osv5m":
        if archive or labels:
            raise GeolocError("osv5m comes from the Hugging Face Hub: --archive and --labels are for im2gps3k/yfcc4k")
        return fetch_osv5m(out, split=split, max_images=max_images, revision=revision, progress=progress)
    if name in ARCHIVE_PAGES:
        return fetch_archive_dataset(name, out, archive=archive, labels=labels, sha256=sha256,
                                     max_images=max_images, progress=progress)
    raise GeolocError(f"unknown data set {name!r}; known: {', '.join(DATASETS)}")


__all__ = ["ARCHIVE_PAGES", "DATASETS", "IM2GPS3K_LABELS", "OSV5M_REPO", "FetchResult", "download_url",
           "extract_images", "fetch_archive_dataset", "fetch_dataset", "fetch_osv5m", "images_on_disk"]
