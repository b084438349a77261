"""Issue 14: ``representation`` is a standalone library: importing every one of its modules does
not load ``geoloc`` (geoloc depends on representation, never the reverse), and the one haversine
implementation lives in representation and is reused by geoloc."""

from __future__ import annotations

import json
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import representation


def _all_modules() -> list[str]:
    root = Path(representation.__file__).parent
    return sorted(m.name for m in pkgutil.walk_packages([str(root)], prefix="representation."))


def test_every_module_imports_without_geoloc() -> None:
    modules = _all_modules()
    assert len(modules) > 60 and "representation.registry" in modules
    code = ("import importlib, json, sys\n"
            f"mods = {modules!r}\n"
            "for m in mods:\n"
            "    importlib.import_module(m)\n"
            "print(json.dumps(sorted(k for k in sys.modules if k == 'geoloc' or k.startswith('geoloc.'))))\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(representation.__file__).parents[1]),
                                                         os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=240)
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_no_source_file_imports_geoloc() -> None:
    root = Path(representation.__file__).parent
    offenders = [str(p.relative_to(root)) for p in root.rglob("*.py")
                 if any(line.lstrip().startswith(("import geoloc", "from geoloc"))
                        for line in p.read_text(encoding="utf-8").splitlines())]
    assert offenders == []


def test_geoloc_reuses_the_one_haversine() -> None:
    import geoloc.geo
    import geoloc.geo.distance
    from representation import geodesy

    assert geoloc.geo.distance.haversine_km_torch is geodesy.haversine_km_torch
    assert geoloc.geo.haversine_km_torch is geodesy.haversine_km_torch
    assert geoloc.geo.distance.EARTH_RADIUS_KM == geodesy.EARTH_RADIUS_KM
