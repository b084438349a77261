"""Shared fixtures: a tiny random GeoModel, semantic geocells from a few hundred prior points,
prototypes from random embeddings, and a saved bundle of them (built once per session)."""

from __future__ import annotations

import numpy as np
import pytest
import torch


@pytest.fixture(scope="session")
def parts():
    from geoloc.cells import build_geocells
    from geoloc.geo import sample_photo_locations
    from geoloc.model import GeoModel, GeoModelConfig
    from geoloc.refine import build_prototypes

    lat, lon = sample_photo_locations(300, seed=5)
    cells, report = build_geocells(lat, lon, min_size=8, max_size=40, progress=False)
    torch.manual_seed(0)
    cfg = GeoModelConfig(num_cells=len(cells), tower="geoloc-tiny-vit", aux_heads={"climate": 5})
    model = GeoModel(cfg).eval()
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(lat.size, model.embed_dim)).astype(np.float32)
    protos = build_prototypes(report.labels, lat, lon, emb, len(cells), progress=False)
    return {"model": model, "config": cfg, "geocells": cells, "prototypes": protos}


CARD = {"data": "random weights, 300 prior photo locations (tests)", "training_command": "none (untrained)",
        "metrics": {"acc@2500km": 0.0}, "metrics_command": "pytest tests/predict"}


@pytest.fixture(scope="session")
def bundle_dir(parts, tmp_path_factory):
    from geoloc.bundle import save_bundle

    path = tmp_path_factory.mktemp("bundles") / "tiny"
    save_bundle(path, model=parts["model"], config=parts["config"], geocells=parts["geocells"],
                prototypes=parts["prototypes"], card=CARD, views=1)
    return path
