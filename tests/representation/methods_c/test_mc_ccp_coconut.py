"""Issue 15, rows 1 (CCP: per-group FIFO memory, group-restricted negatives) and 15 (COCONUT:
negative-student positive-teacher loss, rehearsal buffer)."""

import math

import pytest
import torch
import torch.nn.functional as F

from representation.blocks import AsymmetricBatchNorm
from representation.losses import CCPLoss, InfoNCELoss, NSPTLoss, SupConLoss
from representation.memory import GroupedMemoryBank, RehearsalBuffer


def test_grouped_memory_is_a_fifo_per_key():
    bank = GroupedMemoryBank(num_groups=3, size=4, dim=1)
    stream = [(float(i), i % 3 if i < 20 else 1) for i in range(30)]
    for v, gid in stream:
        bank.enqueue(torch.tensor([[v]]), torch.tensor([gid]))
    rows, group, valid = bank.entries()
    for gid in range(3):
        expect = sorted(v for v, k in stream if k == gid)[-4:]
        got = sorted(float(r) for r, g, ok in zip(rows[:, 0], group, valid) if int(g) == gid and ok)
        assert got == expect, (gid, got, expect)
    partial = GroupedMemoryBank(2, 5, 1)
    partial.enqueue(torch.tensor([[1.0], [2.0]]), torch.tensor([1, 1]))
    assert partial.entries()[2].sum() == 2
    with pytest.raises(ValueError, match="group ids"):
        partial.enqueue(torch.ones(1, 1), torch.tensor([2]))


def naive_ccp(q, k, groups, mem, mem_groups, tau):
    total = 0.0
    for i in range(q.shape[0]):
        cands = [j for j in range(k.shape[0]) if groups[j] == groups[i]]
        logits = [float(F.cosine_similarity(q[i], k[j], dim=0)) / tau for j in cands]
        logits += [float(F.cosine_similarity(q[i], m, dim=0)) / tau for m, mg in zip(mem, mem_groups) if mg == groups[i]]
        pos = float(F.cosine_similarity(q[i], k[i], dim=0)) / tau
        total += -pos + math.log(sum(math.exp(v) for v in logits))
    return total / q.shape[0]


def test_ccp_loss_uses_same_group_batch_and_queue_negatives():
    g = torch.Generator().manual_seed(0)
    q, k = torch.randn(10, 6, generator=g, dtype=torch.float64), torch.randn(10, 6, generator=g, dtype=torch.float64)
    groups = torch.tensor([0, 1, 0, 2, 1, 0, 2, 1, 1, 0])
    loss = CCPLoss(num_groups=3, dim=6, queue_size=4, temperature=0.2).double()
    old = torch.randn(9, 6, generator=g, dtype=torch.float64)
    old_groups = torch.tensor([0, 0, 1, 2, 2, 2, 2, 2, 1])
    loss.memory.enqueue(old, old_groups)
    mem, mem_g, valid = (t.clone() for t in loss.memory.entries())  # the loss then enqueues in place
    value = loss(q, k, groups)
    ref = naive_ccp(q, k, groups.tolist(), [m for m, ok in zip(mem, valid) if ok],
                    [int(x) for x, ok in zip(mem_g, valid) if ok], 0.2)
    assert abs(float(value) - ref) < 1e-10
    assert loss.memory.filled.tolist() == [4, 4, 4]  # the batch keys went into their queues (capped at 4)


def test_ccp_without_memory_and_group_restriction_is_infonce():
    q, k = torch.randn(8, 5, dtype=torch.float64), torch.randn(8, 5, dtype=torch.float64)
    ccp = CCPLoss(num_groups=2, dim=5, queue_size=0, temperature=0.1, same_group_negatives=False)
    base = InfoNCELoss(temperature=0.1, symmetric=False)
    torch.testing.assert_close(ccp(q, k, torch.tensor([0, 1] * 4)), base(q, k))


def test_asymmetric_batch_norm_normalises_one_branch_only():
    bn = AsymmetricBatchNorm(4)
    q, k = torch.randn(16, 4) * 5 + 3, torch.randn(16, 4) * 5 + 3
    qn, kn = bn(q, k)
    assert kn is k
    torch.testing.assert_close(qn.mean(0), torch.zeros(4), atol=1e-5, rtol=0)


# ------------------------------------------------------------------ COCONUT


def naive_nspt(s, t, y, tau, self_pos=False):
    s, t = F.normalize(s, dim=1), F.normalize(t, dim=1)
    rows = []
    for i in range(s.shape[0]):
        pos = [p for p in range(s.shape[0]) if y[p] == y[i] and (p != i or self_pos)]
        if not pos:
            continue
        den = sum(math.exp(float(s[i] @ s[a]) / tau) for a in range(s.shape[0]) if a != i)
        rows.append(-sum(math.log(math.exp(float(s[i] @ t[p]) / tau) / den) for p in pos) / len(pos))
    return sum(rows) / len(rows)


@pytest.mark.parametrize("self_pos", [False, True])
def test_nspt_matches_the_loop_reference(self_pos):
    g = torch.Generator().manual_seed(1)
    s, t = torch.randn(9, 5, generator=g, dtype=torch.float64), torch.randn(9, 5, generator=g, dtype=torch.float64)
    y = torch.tensor([0, 1, 0, 2, 1, 0, 3, 2, 1])  # label 3 has no positive (unless self)
    value = NSPTLoss(temperature=0.2, teacher_self_positive=self_pos)(s, t, y)
    assert abs(float(value) - naive_nspt(s, t, y.tolist(), 0.2, self_pos)) < 1e-10


def test_nspt_with_teacher_equal_student_is_supcon_and_teacher_gets_no_gradient():
    g = torch.Generator().manual_seed(2)
    s = torch.randn(10, 6, generator=g, dtype=torch.float64, requires_grad=True)
    y = torch.tensor([0, 1, 0, 2, 1, 0, 3, 2, 1, 4])
    torch.testing.assert_close(NSPTLoss(temperature=0.1)(s, s, y), SupConLoss(temperature=0.1)(s, y))
    teacher = torch.randn(10, 6, generator=g, dtype=torch.float64, requires_grad=True)
    NSPTLoss()(s, teacher, y).backward()
    assert teacher.grad is None and s.grad.abs().sum() > 0


def test_rehearsal_buffer_is_a_uniform_reservoir():
    inclusion = torch.zeros(400)
    for seed in range(60):
        buf = RehearsalBuffer(capacity=40, seed=seed)
        for start in range(0, 400, 50):  # classes arrive in stages
            idx = torch.arange(start, start + 50)
            buf.add(idx.float().unsqueeze(1), idx // 50)
        x, y = buf.items()
        assert len(buf) == 40 and torch.equal(x[:, 0].long() // 50, y)
        inclusion[x[:, 0].long()] += 1
    per_stage = inclusion.reshape(8, 50).sum(1) / 60  # expected 40 / 8 = 5 per stage
    assert torch.all((per_stage - 5).abs() < 1.5), per_stage
    a, b = RehearsalBuffer(5, seed=3), RehearsalBuffer(5, seed=3)
    for buf in (a, b):
        buf.add(torch.arange(30.0).unsqueeze(1), torch.zeros(30))
    assert torch.equal(a.items()[0], b.items()[0])
    xs, ys = a.sample(3)
    assert xs.shape == (3, 1) and ys.shape == (3,)
