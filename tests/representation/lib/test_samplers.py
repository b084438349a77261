"""DDP-aware batch samplers. Issue 14 (MCL under DDP): at every step all ranks' batches share one
cluster id, clusters are split across ranks, and every rank walks the clusters in the same order
(as the reference ``MCL_batch_sampler_DDP``). Also the m-per-class and no-duplicates samplers,
whose property holds for the gathered (global) batch."""

from __future__ import annotations

from collections import Counter

import pytest
import torch

from representation.samplers import ClusterBatchSampler, MPerClassSampler, NoDuplicatesBatchSampler


def _rank_batches(cls, world: int, *args, **kw) -> list[list[list[int]]]:
    return [list(cls(*args, num_replicas=world, rank=r, **kw)) for r in range(world)]


@pytest.mark.parametrize("world", [2, 3])
@pytest.mark.parametrize("drop_last", [True, False])
def test_mcl_all_ranks_draw_the_same_cluster_at_every_step(world: int, drop_last: bool) -> None:
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(0, 5, (103,), generator=g)
    per_rank = _rank_batches(ClusterBatchSampler, world, ids, 4, drop_last=drop_last, seed=1)
    lengths = {len(b) for b in per_rank}
    assert len(lengths) == 1 and lengths.pop() > 0
    assert all(len(s) == len(ClusterBatchSampler(ids, 4, drop_last=drop_last, seed=1, num_replicas=world, rank=r))
               for r, s in enumerate(per_rank))
    seen: set[int] = set()
    for step in zip(*per_rank, strict=True):
        clusters = {int(ids[i]) for batch in step for i in batch}
        assert len(clusters) == 1, f"step draws clusters {clusters}"  # one cluster for the gathered batch
        sizes = [len(b) for b in step]
        assert max(sizes) - min(sizes) <= 1 and min(sizes) >= 1
        if drop_last:
            assert sizes == [4] * world
        flat = [i for batch in step for i in batch]
        assert seen.isdisjoint(flat)
        seen.update(flat)
    # clusters really are split across ranks (not dealt whole)
    assert any(len({int(ids[i]) for i in b}) == 1 for b in per_rank[1])


def test_mcl_single_process_and_epochs() -> None:
    ids = torch.tensor([0] * 7 + [1] * 5 + [2] * 2)
    sampler = ClusterBatchSampler(ids, 3, seed=0)
    batches = list(sampler)
    assert sorted(i for b in batches for i in b) == list(range(14))  # each index once
    assert all(len({int(ids[i]) for i in b}) == 1 for b in batches)
    sampler.set_epoch(1)
    assert list(sampler) != batches
    assert all(len(b) == 3 for b in ClusterBatchSampler(ids, 3, drop_last=True))


@pytest.mark.parametrize("world", [1, 2, 3])
def test_m_per_class_global_batches(world: int) -> None:
    labels = torch.tensor([c for c in range(8) for _ in range(5)] + [8, 9])  # 8 and 9 have one sample
    per_rank = _rank_batches(MPerClassSampler, world, labels, 2, 4, seed=3)
    assert len(per_rank[0]) == 42 // (4 * world)
    for step in zip(*per_rank, strict=True):
        assert [len(b) for b in step] == [4] * world
        counts = Counter(int(labels[i]) for b in step for i in b)
        assert set(counts.values()) == {2} and len(counts) == 2 * world
    with pytest.raises(ValueError, match="multiple of m"):
        MPerClassSampler(labels, 3, 4)


@pytest.mark.parametrize("world", [1, 2])
def test_no_duplicates_in_the_gathered_batch(world: int) -> None:
    values = ["a", "b", "a", "c", "d", "b", "e", "f", "a", "g", "h", "c"]
    per_rank = _rank_batches(NoDuplicatesBatchSampler, world, values, 2, seed=0)
    used = []
    for step in zip(*per_rank, strict=True):
        flat = [i for b in step for i in b]
        assert len({values[i] for i in flat}) == len(flat)  # no duplicate value across ranks
        used += flat
    assert len(used) == len(set(used))
    pairs = [("x", "y"), ("y", "z"), ("u", "v"), ("w", "w"), ("p", "q")]
    batches = list(NoDuplicatesBatchSampler(pairs, 2, shuffle=False))
    assert batches == [[0, 2], [1, 4]]  # ("w", "w") repeats itself and is never used
