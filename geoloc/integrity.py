"""File integrity helpers shared by the model bundle and the prototype files."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from geoloc.errors import BundleError


def sha256_file(path: str | Path) -> str:
    """SHA-256 hex digest of a file's bytes (read in 1 MiB blocks)."""
    h = hashlib.sha256()
    with Path(path).open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_json(path: str | Path, *, error: type[Exception] = BundleError) -> Any:
    """Parse a JSON file; a file that is not valid JSON raises ``error`` naming it."""
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise error(f"{path} is not valid JSON ({exc})") from exc
