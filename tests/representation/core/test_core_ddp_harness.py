import core_ddp_workers as workers
import pytest

from representation.testing.ddp import run_ddp


def test_worker_error_is_reported():
    with pytest.raises(RuntimeError, match="DDP worker failure"):
        run_ddp(workers.rank_info_and_gather, world_size=1, args=("not a tensor",))
