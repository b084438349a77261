"""segment_best_torch and PartitionedIndex against brute force, including empty segments and
several chunks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import geoloc.refine.search as search
from geoloc.refine import PartitionedIndex, segment_best_torch


@pytest.mark.parametrize("metric", ["l2", "ip"])
@pytest.mark.parametrize("chunk", [1 << 22, 64])
def test_segment_best_equals_brute_force(monkeypatch, metric, chunk):
    monkeypatch.setattr(search, "_CHUNK_ELEMENTS", chunk)  # 64 -> many small chunks
    rng = np.random.default_rng(0)
    table = rng.normal(size=(300, 8)).astype(np.float32)
    q = rng.normal(size=(7, 8)).astype(np.float32)
    lengths = rng.integers(0, 30, 40)
    lengths[[3, 11]] = 0
    starts = rng.integers(0, 300 - 30, 40)
    seg_q = rng.integers(0, 7, 40)
    score, row = segment_best_torch(torch.from_numpy(q), torch.from_numpy(table), torch.from_numpy(seg_q),
                                    torch.from_numpy(starts), torch.from_numpy(lengths), metric)
    for i in range(40):
        if lengths[i] == 0:
            assert row[i] == -1 and score[i] == float("-inf")
            continue
        cand = table[starts[i]: starts[i] + lengths[i]]
        s = cand @ q[seg_q[i]] if metric == "ip" else -np.linalg.norm(cand - q[seg_q[i]], axis=1)
        assert row[i] == starts[i] + int(np.argmax(s))
        assert score[i].item() == pytest.approx(float(s.max()), abs=1e-4)


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_partitioned_index_equals_brute_force(dtype):
    rng = np.random.default_rng(1)
    table = rng.normal(size=(200, 12)).astype(dtype)
    offsets = np.r_[0, np.cumsum(rng.multinomial(200, np.ones(10) / 10))]
    offsets[4] = offsets[3]  # make list 3 empty ...
    offsets = np.maximum.accumulate(offsets)
    idx = PartitionedIndex(table, offsets, "l2")
    q = rng.normal(size=(25, 12)).astype(np.float32)
    lists = rng.integers(-1, 10, 25)
    score, row = idx.best(q, lists)
    for i, lst in enumerate(lists):
        a, b = (offsets[lst], offsets[lst + 1]) if lst >= 0 else (0, 0)
        if b == a:
            assert row[i] == -1
            continue
        d = np.linalg.norm(table[a:b].astype(np.float32) - q[i], axis=1)
        assert row[i] == a + int(np.argmin(d))
        assert score[i] == pytest.approx(-d.min(), abs=1e-4)
