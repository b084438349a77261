"""Shared pytest configuration: `slow` tests run only with --runslow; `gpu` tests only with CUDA."""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--runslow", action="store_true", default=False, help="run tests marked slow")


def pytest_configure(config: pytest.Config) -> None:
    # Two xdist workers on two cores: one intra-op thread each avoids oversubscription
    # (measured: 5 min -> 40 s for the representation methods suite under load).
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:  # pragma: no cover
        pass


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip_slow = pytest.mark.skip(reason="slow: pass --runslow to run")
    cuda = False
    try:
        import torch

        cuda = torch.cuda.is_available()
    except ImportError:  # pragma: no cover
        pass
    skip_gpu = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "slow" in item.keywords and not config.getoption("--runslow"):
            item.add_marker(skip_slow)
        if "gpu" in item.keywords and not cuda:
            item.add_marker(skip_gpu)


@pytest.fixture(scope="session")
def tiny_bundle_dir(tmp_path_factory):
    """A complete bundle with a random ``geoloc-tiny-vit`` model (one per xdist worker)."""
    from geoloc.testing import tiny_bundle

    return tiny_bundle(tmp_path_factory.mktemp("tiny-bundle") / "tiny")
