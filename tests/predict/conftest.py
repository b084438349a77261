"""Shared fixtures: a tiny random GeoModel, semantic geocells from a few hundred prior points,
prototypes from random embeddings, and a saved bundle of them (built once per session)."""

from __future__ import annotations

import pytest

CARD = {"data": "random weights, 300 prior photo locations (tests)", "training_command": "none (untrained)",
        "metrics": {"acc@2500km": 0.0}, "metrics_command": "pytest tests/predict"}


@pytest.fixture(scope="session")
def parts():
    from geoloc.testing import tiny_bundle_parts

    return tiny_bundle_parts()


@pytest.fixture(scope="session")
def bundle_dir(parts, tmp_path_factory):
    from geoloc.bundle import save_bundle

    path = tmp_path_factory.mktemp("bundles") / "tiny"
    save_bundle(path, model=parts["model"], config=parts["config"], geocells=parts["geocells"],
                prototypes=parts["prototypes"], card=CARD, views=1)
    return path
