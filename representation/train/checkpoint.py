"""Checkpoints: model (+ loss) weights as safetensors, optimizer / scheduler / scaler /
progress as ``trainer_state.pt``, and one ``rng_rank<r>.pt`` per rank.

Layout: ``<out_dir>/checkpoint-<step:08d>/{weights.safetensors, trainer_state.pt,
rng_rank0.pt, ...}``. Crash safety (tested by killing real training processes with SIGKILL,
also in the middle of a write):

* every file is written into a ``.tmp-checkpoint-<step>`` directory and fsynced, then the
  directory is fsynced and renamed to ``checkpoint-<step>`` with ``os.replace`` (atomic on
  POSIX), then the parent directory is fsynced; a kill before the rename leaves only a
  ``.tmp-`` directory, which resume ignores and the next save removes;
* re-saving an existing step moves the old directory aside (``.old-``) before the rename and
  deletes it after, so a complete checkpoint of that step exists at every moment;
* :func:`write_text_atomic` does the same for small text files (``config.json``, metrics).

``trainer_state.pt`` and the RNG files are pickles written by this library: load only
checkpoints you trust.
"""

from __future__ import annotations

import os
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

WEIGHTS = "weights.safetensors"
STATE = "trainer_state.pt"


def checkpoint_dir(out_dir: str | Path, step: int) -> Path:
    return Path(out_dir) / f"checkpoint-{step:08d}"


def list_checkpoints(out_dir: str | Path) -> list[Path]:
    """Complete checkpoints in ``out_dir``, oldest first."""
    root = Path(out_dir)
    if not root.is_dir():
        return []
    done = [p for p in root.glob("checkpoint-*")
            if p.is_dir() and p.name[len("checkpoint-"):].isdigit() and (p / WEIGHTS).exists() and (p / STATE).exists()]
    return sorted(done, key=lambda p: int(p.name.split("-")[1]))


def latest_checkpoint(out_dir: str | Path) -> Path | None:
    found = list_checkpoints(out_dir)
    return found[-1] if found else None


def flat_state(modules: dict[str, torch.nn.Module]) -> dict[str, torch.Tensor]:
    """``{"<prefix>.<name>": tensor}`` over the state dicts, as contiguous CPU copies
    (safetensors refuses shared storage, so tied weights are stored twice)."""
    out: dict[str, torch.Tensor] = {}
    for prefix, module in modules.items():
        for name, t in module.state_dict().items():
            out[f"{prefix}.{name}"] = t.detach().to("cpu").contiguous().clone()
    return out


def load_flat_state(modules: dict[str, torch.nn.Module], tensors: dict[str, torch.Tensor]) -> None:
    for prefix, module in modules.items():
        sub = {k[len(prefix) + 1:]: v for k, v in tensors.items() if k.startswith(prefix + ".")}
        module.load_state_dict(sub, strict=True)


def rng_state(device: torch.device) -> dict[str, Any]:
    st: dict[str, Any] = {"python": random.getstate(), "numpy": np.random.get_state(),
                          "torch": torch.get_rng_state()}
    if device.type == "cuda":
        st["cuda"] = torch.cuda.get_rng_state(device)
    return st


def set_rng_state(st: dict[str, Any], device: torch.device) -> None:
    random.setstate(st["python"])
    np.random.set_state(st["numpy"])
    torch.set_rng_state(st["torch"])
    if device.type == "cuda" and "cuda" in st:
        torch.cuda.set_rng_state(st["cuda"], device)


def fsync_path(path: Path) -> None:
    """Flush a file's (or a directory's entries') data to disk."""
    flags = os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if path.is_dir() else 0)
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    except OSError:  # some filesystems refuse fsync on directories; the rename is still atomic
        pass
    finally:
        os.close(fd)


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` via a fsynced temporary file and ``os.replace``."""
    path = Path(path)
    tmp = path.with_name(f".tmp-{path.name}")
    with tmp.open("w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_path(path.parent)


def tmp_dir_for(final: Path) -> Path:
    return final.parent / f".tmp-{final.name}"


def write_main(final: Path, modules: dict[str, torch.nn.Module], state: dict[str, Any]) -> None:
    """Rank 0: create the temp dir and write weights + trainer state into it (fsynced)."""
    tmp = tmp_dir_for(final)
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    save_file(flat_state(modules), str(tmp / WEIGHTS))
    fsync_path(tmp / WEIGHTS)
    torch.save(state, tmp / STATE)
    fsync_path(tmp / STATE)


def write_rng(final: Path, rank: int, device: torch.device) -> None:
    path = tmp_dir_for(final) / f"rng_rank{rank}.pt"
    torch.save(rng_state(device), path)
    fsync_path(path)


def publish(final: Path, keep: int) -> None:
    """Rank 0: atomically rename temp -> final (see the module docstring), then delete all but the
    ``keep`` newest checkpoints and any leftovers of interrupted saves."""
    tmp = tmp_dir_for(final)
    fsync_path(tmp)
    old = final.parent / f".old-{final.name}"
    if final.exists():
        if old.exists():
            shutil.rmtree(old)
        os.replace(final, old)
    os.replace(tmp, final)
    fsync_path(final.parent)
    if old.exists():
        shutil.rmtree(old, ignore_errors=True)
    for stale in [*final.parent.glob(".tmp-checkpoint-*"), *final.parent.glob(".old-checkpoint-*")]:
        shutil.rmtree(stale, ignore_errors=True)
    for done in list_checkpoints(final.parent)[:-keep] if keep > 0 else []:
        shutil.rmtree(done, ignore_errors=True)


def read(ckpt: Path, modules: dict[str, torch.nn.Module], rank: int, device: torch.device
         ) -> dict[str, Any]:
    """Load weights into ``modules`` and this rank's RNG state; return the trainer state."""
    load_flat_state(modules, load_file(str(ckpt / WEIGHTS)))
    state = torch.load(ckpt / STATE, map_location="cpu", weights_only=False)
    rng_file = ckpt / f"rng_rank{rank}.pt"
    if rng_file.exists():
        set_rng_state(torch.load(rng_file, weights_only=False), device)
    return state
