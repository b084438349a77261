"""DSE: siamese head [u, v, u*v, |u-v|] and the (1-α)CE + α‖ŷ - teacher‖² distillation loss."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from representation.heads.siamese import SiameseCombineHead, siamese_features
from representation.losses.distill import DistillLoss, distill_loss


def _naive_distill(student: torch.Tensor, teacher: torch.Tensor, labels: torch.Tensor, alpha: float) -> float:
    n, c = student.shape
    ce = 0.0
    for i in range(n):
        lse = math.log(sum(math.exp(float(student[i, j])) for j in range(c)))
        ce += lse - float(student[i, labels[i]])
    mse = sum(float(student[i, j] - teacher[i, j]) ** 2 for i in range(n) for j in range(c)) / (n * c)
    return (1 - alpha) * ce / n + alpha * mse


def test_siamese_features_layout_and_head_input_is_4d() -> None:
    u, v = torch.randn(3, 5), torch.randn(3, 5)
    f = siamese_features(u, v)
    assert f.shape == (3, 20)
    for i in range(3):
        for j in range(5):
            assert f[i, j] == u[i, j] and f[i, 5 + j] == v[i, j]
            assert torch.isclose(f[i, 10 + j], u[i, j] * v[i, j])
            assert torch.isclose(f[i, 15 + j], (u[i, j] - v[i, j]).abs())
    for hidden in (None, 7):
        head = SiameseCombineHead(5, 3, hidden=hidden)
        first = next(m for m in head.net if isinstance(m, torch.nn.Linear))
        assert first.in_features == head.in_features == 20
        assert head(u, v).shape == (3, 3)
    with pytest.raises(ValueError):
        siamese_features(u, v[:, :4])


def test_siamese_head_symmetric_part_only_swaps_halves() -> None:
    u, v = torch.randn(4, 6), torch.randn(4, 6)
    a, b = siamese_features(u, v), siamese_features(v, u)
    torch.testing.assert_close(a[:, 12:], b[:, 12:])
    torch.testing.assert_close(a[:, :6], b[:, 6:12])


@pytest.mark.parametrize("alpha", [0.0, 0.3, 1.0])
def test_distill_loss_matches_naive_reference(alpha: float) -> None:
    torch.manual_seed(0)
    s, t = torch.randn(5, 4, dtype=torch.float64), torch.randn(5, 4, dtype=torch.float64)
    y = torch.randint(0, 4, (5,))
    assert DistillLoss(alpha)(s, t, y).item() == pytest.approx(_naive_distill(s, t, y, alpha), rel=1e-10)
    assert distill_loss(s, t, y, alpha).item() == pytest.approx(_naive_distill(s, t, y, alpha), rel=1e-10)


def test_alpha_zero_is_ce_and_matching_logits_give_zero_distill_term() -> None:
    torch.manual_seed(0)
    s, t = torch.randn(6, 3), torch.randn(6, 3)
    y = torch.randint(0, 3, (6,))
    torch.testing.assert_close(DistillLoss(0.0)(s, t, y), F.cross_entropy(s, y))
    out = DistillLoss(0.5)(s, s.clone(), y, return_dict=True)
    assert out["logs"]["mse"].item() == 0.0
    torch.testing.assert_close(out["distill_loss"], 0.5 * F.cross_entropy(s, y))
    assert DistillLoss(1.0)(s, s.clone(), y).item() == 0.0
    with pytest.raises(ValueError):
        DistillLoss(1.5)


def test_binary_logits_use_bce_and_teacher_gets_no_grad() -> None:
    s = torch.randn(5, 1, requires_grad=True)
    t = torch.randn(5, 1, requires_grad=True)
    y = torch.tensor([0, 1, 1, 0, 1])
    loss = DistillLoss(0.0)(s, t, y)
    torch.testing.assert_close(loss, F.binary_cross_entropy_with_logits(s.squeeze(1), y.float()))
    DistillLoss(0.5)(s, t, y).backward()
    assert s.grad is not None and t.grad is None


def test_student_loss_decreases() -> None:
    torch.manual_seed(0)
    emb = torch.nn.Linear(8, 6)
    head = SiameseCombineHead(6, 2, hidden=16)
    a, b = torch.randn(32, 8), torch.randn(32, 8)
    teacher = torch.randn(32, 2)
    y = teacher.argmax(1)
    loss_fn = DistillLoss(0.5)
    opt = torch.optim.Adam([*emb.parameters(), *head.parameters()], lr=1e-2)
    first = loss_fn(head(emb(a), emb(b)), teacher, y).item()
    for _ in range(50):
        opt.zero_grad()
        loss_fn(head(emb(a), emb(b)), teacher, y).backward()
        opt.step()
    assert loss_fn(head(emb(a), emb(b)), teacher, y).item() < 0.7 * first


@pytest.mark.slow
def test_toy_distillation_beats_ce_only_student_with_few_labels() -> None:
    """A 'cross-attention' teacher knows the pair rule (relevant iff u^T W v > 0, W symmetric low
    rank). With 128 labelled pairs, a siamese student trained with the teacher's logits (α=0.7)
    generalises better than one trained with CE on the hard labels."""
    gen = torch.Generator().manual_seed(0)
    d = 8
    a = torch.randn(d, 2, generator=gen)
    w = a @ a.T - 0.5 * torch.eye(d)

    def pairs(n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        u, v = torch.randn(n, d, generator=gen), torch.randn(n, d, generator=gen)
        score = ((u @ w) * v).sum(1)
        return u, v, torch.stack([-score, score], 1)

    u, v, t = pairs(128)
    y = t.argmax(1)
    ut, vt, tt = pairs(2000)
    yt = tt.argmax(1)
    acc = {}
    for alpha in (0.0, 0.7):
        torch.manual_seed(0)
        enc = torch.nn.Linear(d, 16)
        head = SiameseCombineHead(16, 2)
        opt = torch.optim.Adam([*enc.parameters(), *head.parameters()], lr=1e-2)
        loss_fn = DistillLoss(alpha)
        for _ in range(200):
            opt.zero_grad()
            loss_fn(head(enc(u), enc(v)), t, y).backward()
            opt.step()
        with torch.no_grad():
            acc[alpha] = (head(enc(ut), enc(vt)).argmax(1) == yt).float().mean().item()
    print(f"toy DSE accuracy (alpha -> test acc): {acc}")
    assert acc[0.7] > acc[0.0] + 0.03
