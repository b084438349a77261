import core_ddp_workers as workers
import pytest
import torch

from representation.testing.ddp import run_ddp


def test_two_processes_gather_and_reduce(ddp_suite):
    inputs, res = ddp_suite
    assert [r["info"]["rank"] for r in res] == [0, 1]
    assert all(r["info"]["world"] == 2 and r["info"]["total"] == 3.0 for r in res)
    for r in res:
        torch.testing.assert_close(r["info"]["gathered"], inputs["gather_x"])


def test_worker_error_is_reported():
    with pytest.raises(RuntimeError, match="DDP worker failure"):
        run_ddp(workers.rank_info_and_gather, world_size=1, args=("not a tensor",))
