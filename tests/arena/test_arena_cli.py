"""`geoloc arena serve` through typer's CliRunner."""

from __future__ import annotations

import pandas as pd
from arena_helpers import solid_views
from typer.testing import CliRunner

from bot.arena.cli import app
from geoloc.errors import InputFileError


def test_serve_a_manifest_for_a_moment(tmp_path):
    rows = []
    for v, img in enumerate(solid_views()):
        img.save(tmp_path / f"v{v}.png")
        rows.append({"id": "a", "view": v, "lat": 45.0, "lon": 7.0, "path": f"v{v}.png"})
    pd.DataFrame(rows).to_csv(tmp_path / "m.csv", index=False)
    result = CliRunner().invoke(app, ["serve", "--map", str(tmp_path / "m.csv"), "--port", "0", "--hide-answer",
                                      "--duration", "0.3"])
    assert result.exit_code == 0, result.output
    assert "http://127.0.0.1:" in result.output and "hide-answer on" in result.output and "1 places" in result.output


def test_missing_map_is_a_user_error(tmp_path):
    result = CliRunner().invoke(app, ["serve", "--map", str(tmp_path / "none.csv"), "--duration", "0.1"])
    assert result.exit_code != 0 and isinstance(result.exception, InputFileError)


def test_help():
    result = CliRunner().invoke(app, ["serve", "--help"])
    assert result.exit_code == 0 and "--hide-answer" in result.output
