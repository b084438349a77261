import core_ddp_workers as workers
import pytest
import torch

from representation.testing.ddp import run_ddp


def test_two_processes_gather_and_reduce():
    x = torch.arange(12.0).reshape(6, 2)
    res = run_ddp(workers.rank_info_and_gather, world_size=2, args=(x,))
    assert [r["rank"] for r in res] == [0, 1]
    assert all(r["world"] == 2 and r["total"] == 3.0 for r in res)
    for r in res:
        torch.testing.assert_close(r["gathered"], x)


def test_worker_error_is_reported():
    with pytest.raises(RuntimeError, match="DDP worker failure"):
        run_ddp(workers.rank_info_and_gather, world_size=1, args=("not a tensor",))
