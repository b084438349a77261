"""Shared pytest configuration: `slow` tests run only with --runslow; `gpu` tests only with CUDA;
`browser` tests only where Chromium and its driver are installed (one reason, from
:func:`bot.driver.browser_unavailable`). A test that is not marked `browser` may not start one: the
autouse fixture below sets ``GEOLOC_NO_BROWSER`` for it, so an unmarked browser test fails on every
machine instead of failing only where Chromium is missing."""

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
    from bot.driver import browser_unavailable

    no_browser = browser_unavailable()
    skip_browser = pytest.mark.skip(reason=no_browser or "")
    for item in items:
        # markers, not item.keywords: keywords also hold the names of the folders above the test
        # (a checkout in a folder named "gpu" or "slow" would otherwise skip every test)
        if item.get_closest_marker("browser") and no_browser:
            item.add_marker(skip_browser)
        if item.get_closest_marker("slow") and not config.getoption("--runslow"):
            item.add_marker(skip_slow)
        if item.get_closest_marker("gpu") and not cuda:
            item.add_marker(skip_gpu)


@pytest.fixture(autouse=True)
def _browser_only_when_marked(request, monkeypatch):
    """Tests not marked ``browser`` cannot start Chromium (see the module docstring)."""
    if request.node.get_closest_marker("browser") is None:
        from bot.driver import NO_BROWSER_ENV

        monkeypatch.setenv(NO_BROWSER_ENV, f"{request.node.nodeid} is not marked pytest.mark.browser")


@pytest.fixture(scope="session")
def tiny_bundle_dir(tmp_path_factory):
    """A complete bundle with a random ``geoloc-tiny-vit`` model (one per xdist worker)."""
    from geoloc.testing import tiny_bundle

    return tiny_bundle(tmp_path_factory.mktemp("tiny-bundle") / "tiny")


@pytest.fixture
def offline_hub(tmp_path, monkeypatch):
    """Offline, as far as the Hugging Face Hub goes: an empty Hub cache in ``tmp_path/hf-cache`` (returned) and
    an endpoint on a closed loopback port, which refuses connections at once; ``$GEOLOC_MODEL`` unset."""
    from huggingface_hub import constants

    cache = tmp_path / "hf-cache"
    cache.mkdir()
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.delenv("GEOLOC_MODEL", raising=False)
    return cache
