"""The DDP suite spawns gloo ranks once per world size (W = 2 and W = 3) for all its tests."""

from __future__ import annotations

import ddp_workers as workers
import pytest

from representation.testing.ddp import run_ddp
from representation.testing.equivalence import case_sizes


@pytest.fixture(scope="module", params=[2, 3], ids=["W2", "W3"])
def ddp_run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict:
    world = request.param
    cases = workers.build_cases()
    sizes = {c.name: case_sizes(c, world) for c in cases}
    trainer_dir = str(tmp_path_factory.mktemp(f"ddp_trainer_w{world}"))
    results = run_ddp(workers.suite, world_size=world, args=(cases, sizes, trainer_dir), timeout_s=300)
    return {"world": world, "cases": cases, "sizes": sizes, "results": results}
