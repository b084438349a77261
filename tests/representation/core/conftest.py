"""One shared 2-process gloo run for all core DDP tests (see core_ddp_workers.suite)."""

from __future__ import annotations

import core_ddp_workers as workers
import pytest
import torch

from representation.targets import same_label_targets
from representation.testing.ddp import run_ddp


def ddp_inputs() -> dict:
    g = torch.Generator().manual_seed(3)
    q = torch.randn(8, 6, generator=g, dtype=torch.float64)
    k = q + 0.8 * torch.randn(8, 6, generator=g, dtype=torch.float64)
    neg = torch.randn(4, 6, generator=g, dtype=torch.float64)
    labels = torch.tensor([0, 1, 0, 2, 1, 0, 3, 3])
    soft = same_label_targets(labels, labels, dtype=torch.float64)
    soft[5] = 0  # a row without mass: counted on one rank only -> global normalisation matters
    from representation.distributed import GatherSpec

    cases = [
        {"q": q, "k": k, "loss_kwargs": {"temperature": 0.1, "symmetric": True}},
        {"q": q, "k": k, "loss_kwargs": {"temperature": 0.05, "symmetric": False},
         "call_kwargs": {"negatives": neg}},
        {"q": q, "k": k, "loss_kwargs": {"temperature": 0.1, "symmetric": True,
                                          "gather": GatherSpec(local_loss=False)}},
        {"q": q, "k": k, "loss_kwargs": {"temperature": 0.1, "symmetric": True}, "call_kwargs": {"targets": soft}},
    ]
    g = torch.Generator().manual_seed(0)
    xs = torch.randn(6, 12, 8, generator=g)
    ys = xs[..., :5] + 0.3 * torch.randn(6, 12, 5, generator=g)
    return {"gather_x": torch.arange(12.0).reshape(6, 2), "infonce_cases": cases,
            "kinds": ["infonce", "siglip", "siglip_ring"], "xs": xs, "ys": ys}


@pytest.fixture(scope="session")
def ddp_suite(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, list[dict]]:
    inputs = ddp_inputs()
    inputs["trainer_dir"] = str(tmp_path_factory.mktemp("ddp_trainer"))
    return inputs, run_ddp(workers.suite, world_size=2, args=(inputs,), timeout_s=300)
