"""ShardDataset under torch.distributed (gloo, 2 processes): ranks read disjoint shards."""

from __future__ import annotations

import json

import pytest
import torch.distributed as dist
import torch.multiprocessing as mp
from datahelpers import gradient_rgb

from geoloc.data.shards import write_shards


def _rank_main(rank: int, world: int, init_file: str, shard_dir: str, out_dir: str) -> None:
    from geoloc.data.datasets import ShardDataset

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        ds = ShardDataset(shard_dir, views=1, image_size=8, shuffle=4, seed=1)
        ids = [s["id"] for s in ds]
        with open(f"{out_dir}/rank{rank}.json", "w") as fh:
            json.dump(ids, fh)
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_ranks_get_disjoint_shards(tmp_path):
    if not dist.is_available():
        pytest.skip("torch.distributed unavailable")
    recs = [{"id": f"s{i}", "images": [gradient_rgb(8, 8, seed=i)], "meta": {"lat": 0.0, "lon": 0.0}}
            for i in range(8)]
    write_shards(recs, tmp_path / "shards", maxcount=2)  # 4 shards
    mp.spawn(_rank_main, args=(2, str(tmp_path / "init"), str(tmp_path / "shards"), str(tmp_path)),
             nprocs=2, join=True)
    got = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    assert len(got[0]) == 4 and len(got[1]) == 4
    assert set(got[0]).isdisjoint(got[1]) and set(got[0]) | set(got[1]) == {f"s{i}" for i in range(8)}
