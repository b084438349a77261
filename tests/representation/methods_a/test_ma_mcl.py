import pytest
import torch
import torch.nn.functional as F

from representation.samplers.cluster import ClusterBatchSampler, MultistageEncoder, concat_stage_features

IDS = [0, 1, 1, 2, 0, 1, 2, 2, 2, 0, 1, 3, 1, 1, 2, 0, 0]


def test_each_batch_one_cluster_and_each_sample_once():
    s = ClusterBatchSampler(IDS, batch_size=3, seed=1)
    batches = list(s)
    assert len(batches) == len(s)
    for b in batches:
        assert len({IDS[i] for i in b}) == 1 and 1 <= len(b) <= 3
    flat = sorted(i for b in batches for i in b)
    assert flat == list(range(len(IDS)))


def test_drop_last_and_epochs_reshuffle():
    s = ClusterBatchSampler(IDS, batch_size=3, drop_last=True, seed=0)
    batches = list(s)
    assert all(len(b) == 3 for b in batches) and len(batches) == len(s)
    e0 = list(s)
    s.set_epoch(1)
    assert list(s) != e0
    s.set_epoch(0)
    assert list(s) == e0
    unshuffled = list(ClusterBatchSampler(IDS, batch_size=2, shuffle=False))
    assert unshuffled[0] == [0, 4]


def test_ddp_shards_disjoint_equal_length():
    shards = [list(ClusterBatchSampler(IDS, batch_size=2, seed=3, num_replicas=2, rank=r)) for r in range(2)]
    assert len(shards[0]) == len(shards[1]) == len(ClusterBatchSampler(IDS, 2, num_replicas=2))
    idx = [set(i for b in sh for i in b) for sh in shards]
    assert not idx[0] & idx[1]
    with pytest.raises(ValueError):
        ClusterBatchSampler(IDS, batch_size=2, num_replicas=2, rank=2)


def test_concat_stage_features_cosine_is_weighted_mean():
    g = torch.Generator().manual_seed(0)
    a1, a2 = torch.randn(5, 4, generator=g, dtype=torch.float64), torch.randn(5, 7, generator=g, dtype=torch.float64)
    b1, b2 = torch.randn(5, 4, generator=g, dtype=torch.float64), torch.randn(5, 7, generator=g, dtype=torch.float64)
    w = [0.25, 0.75]
    ca, cb = concat_stage_features([a1, a2], w), concat_stage_features([b1, b2], w)
    torch.testing.assert_close(ca.norm(dim=1), torch.ones(5, dtype=torch.float64))
    expect = 0.25 * F.cosine_similarity(a1, b1) + 0.75 * F.cosine_similarity(a2, b2)
    torch.testing.assert_close((ca * cb).sum(1), expect)
    with pytest.raises(ValueError):
        concat_stage_features([a1, a2], [0.5, 0.6])


def test_multistage_encoder_freezes_previous_stages():
    enc = MultistageEncoder([torch.nn.Linear(3, 4), torch.nn.Linear(3, 5)])
    out = enc(torch.randn(2, 3))
    assert out.shape == (2, 9)
    out.sum().backward()
    assert enc.stages[0].weight.grad is None and enc.stages[1].weight.grad is not None
