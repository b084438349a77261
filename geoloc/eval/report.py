"""Evaluation report: metrics JSON, a Markdown table, an error histogram and an error map."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from geoloc.eval.metrics import THRESHOLDS_KM, distance_errors_km, geolocation_metrics, threshold_key
from geoloc.eval.plots import plot_error_histogram, plot_error_map


@dataclass
class EvalReport:
    """Metrics (JSON-ready dict), the Markdown table, and the files written (if any)."""

    metrics: dict[str, Any]
    markdown: str
    files: dict[str, Path] = field(default_factory=dict)


def _fmt(key: str, v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if key.startswith("acc@") or key.endswith("_acc"):
        return f"{100 * v:.1f}"
    if key in ("median_km", "mean_km"):
        return f"{v:.1f}"
    if key == "geoguessr_score":
        return f"{v:.0f}"
    return str(v)


def markdown_table(rows: Mapping[str, Mapping[str, Any]], thresholds=THRESHOLDS_KM) -> str:
    """One Markdown row per named result (e.g. full system and ablations).

    Columns: n, acc@X km (%), median and mean km, GeoGuessr score, and country / admin-1
    accuracy (%) when any row has them.
    """
    cols = ["n", *[threshold_key(t) for t in thresholds], "median_km", "mean_km", "geoguessr_score"]
    for extra in ("country_acc", "admin1_acc"):
        if any(extra in r for r in rows.values()):
            cols.append(extra)
    names = {"n": "n", "median_km": "median km", "mean_km": "mean km", "geoguessr_score": "GeoGuessr",
             "country_acc": "country %", "admin1_acc": "admin-1 %"}
    head = ["model", *[names.get(c, c.replace("acc@", "") + " %") for c in cols]]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] + ["---:"] * len(cols)) + "|"]
    for name, r in rows.items():
        lines.append("| " + " | ".join([name, *[_fmt(c, r.get(c)) for c in cols]]) + " |")
    return "\n".join(lines) + "\n"


def report(pred_lat, pred_lon, true_lat, true_lon, *, out_dir: str | Path | None = None, name: str = "model",
           pred_country=None, true_country=None, pred_admin1=None, true_admin1=None,
           thresholds=THRESHOLDS_KM, plots: bool = True, admin_from_coordinates: bool = False) -> EvalReport:
    """Compute the metrics; with ``out_dir``, write ``metrics.json``, ``metrics.md``,
    ``error_histogram.png`` and ``error_map.png`` there.

    Args:
        pred_lat, pred_lon, true_lat, true_lon: [N] degrees.
        name: row label in the Markdown table and plot titles.
        pred_country ... true_admin1: optional [N] label arrays (ISO codes, admin-1 codes).
        admin_from_coordinates: where labels are not given, look up the country (``adm0_a3``)
            and admin-1 (``adm1_code``) of the predicted and true points (Natural Earth).
    """
    if admin_from_coordinates and (pred_country is None or true_country is None
                                   or pred_admin1 is None or true_admin1 is None):
        from geoloc.eval.admin import admin_labels

        pc, pa = admin_labels(pred_lat, pred_lon)
        tc, ta = admin_labels(true_lat, true_lon)
        if pred_country is None or true_country is None:
            pred_country, true_country = pc, tc
        if pred_admin1 is None or true_admin1 is None:
            pred_admin1, true_admin1 = pa, ta
    m = geolocation_metrics(pred_lat, pred_lon, true_lat, true_lon, pred_country=pred_country,
                            true_country=true_country, pred_admin1=pred_admin1, true_admin1=true_admin1,
                            thresholds=thresholds)
    md = markdown_table({name: m}, thresholds)
    rep = EvalReport(metrics=m, markdown=md)
    if out_dir is None:
        return rep
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rep.files["json"] = out / "metrics.json"
    rep.files["json"].write_text(json.dumps({"name": name, **m}, indent=2, allow_nan=True) + "\n")
    rep.files["markdown"] = out / "metrics.md"
    rep.files["markdown"].write_text(md)
    if plots:
        e = distance_errors_km(pred_lat, pred_lon, true_lat, true_lon)
        rep.files["histogram"] = plot_error_histogram(e, out / "error_histogram.png", title=name,
                                                      thresholds=thresholds)
        rep.files["map"] = plot_error_map(pred_lat, pred_lon, true_lat, true_lon, e, out / "error_map.png",
                                          title=f"{name}: true locations coloured by error, lines to predictions")
    return rep
