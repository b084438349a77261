"""aTLAS: task vectors and learned anisotropic merging via functional_call."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from representation.merging.atlas import LearnedAnisotropicMerge
from representation.merging.task_vector import TaskVector


def _net() -> nn.Module:
    return nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))


def _finetuned(base: nn.Module, seed: int) -> nn.Module:
    ft = copy.deepcopy(base)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in ft.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=g))
    return ft


@pytest.fixture()
def models() -> tuple[nn.Module, list[nn.Module]]:
    torch.manual_seed(0)
    base = _net().eval()
    with torch.no_grad():
        base[1].running_mean.normal_()
        base[1].running_var.uniform_(0.5, 2.0)
    return base, [_finetuned(base, s).eval() for s in (1, 2)]


def test_task_vector_round_trip_and_arithmetic(models) -> None:
    base, (ft1, ft2) = models
    tv1, tv2 = TaskVector.from_models(base, ft1), TaskVector.from_models(base, ft2)
    merged = tv1.apply_to(base)
    for k, v in ft1.state_dict().items():
        torch.testing.assert_close(merged[k], v)
    both = (tv1 + tv2).apply_to(base, 0.5)
    for n, p in base.named_parameters():
        torch.testing.assert_close(both[n], p + 0.5 * (tv1.deltas[n] + tv2.deltas[n]))
    neg = (-tv1).apply_to(tv1.apply_to(base))
    for k, v in base.state_dict().items():
        torch.testing.assert_close(neg[k], v)
    assert (2 * tv1).norm() == pytest.approx(2 * tv1.norm(), rel=1e-6)


def test_lambda_zero_is_base_and_one_hot_is_finetuned(models) -> None:
    base, fts = models
    merge = LearnedAnisotropicMerge(base, [TaskVector.from_models(base, f) for f in fts])
    x = torch.randn(5, 6)
    assert merge.coefficients.shape == (2, len(list(base.parameters())))
    assert torch.count_nonzero(merge.coefficients) == 0
    torch.testing.assert_close(merge(x), base(x))
    for t, ft in enumerate(fts):
        lam = torch.zeros(2, merge.coefficients.shape[1])
        lam[t] = 1.0
        merge.set_coefficients(lam)
        torch.testing.assert_close(merge(x), ft(x))


def test_only_lambda_gets_grad_and_grad_matches_directional_derivative(models) -> None:
    base, fts = models
    tvs = [TaskVector.from_models(base, f) for f in fts]
    merge = LearnedAnisotropicMerge(base, tvs).double()
    assert [n for n, _ in merge.named_parameters()] == ["coefficients"]
    x = torch.randn(4, 6, dtype=torch.float64)
    merge(x).sum().backward()
    assert merge.coefficients.grad is not None
    assert all(p.grad is None for p in base.parameters())
    # d/dλ_{t,b} of sum(f) equals the finite difference along τ_{t,b}
    b = merge.block_names.index("3.weight")
    eps = 1e-6
    with torch.no_grad():
        merge.coefficients[1, b] += eps
        up = merge(x).sum()
        merge.coefficients[1, b] -= 2 * eps
        down = merge(x).sum()
    assert merge.coefficients.grad[1, b].item() == pytest.approx(((up - down) / (2 * eps)).item(), rel=1e-5)


def test_to_dtype_then_repeated_forwards_are_stable(models) -> None:
    """The METHODS.md pitfall: after .to(), buffers must not be a one-shot generator."""
    base, fts = models
    merge = LearnedAnisotropicMerge(base, [TaskVector.from_models(base, f) for f in fts])
    merge = merge.to(torch.float64)
    merge.set_coefficients(0.5)
    x = torch.randn(3, 6, dtype=torch.float64)
    a, b = merge(x), merge(x)
    assert a.dtype == torch.float64
    torch.testing.assert_close(a, b)
    ref = copy.deepcopy(base).double()
    ref.load_state_dict(merge.merged_state_dict())
    torch.testing.assert_close(ref(x), a)


def test_block_grouping_and_partial_task_vectors(models) -> None:
    base, fts = models
    partial = TaskVector({k: v for k, v in TaskVector.from_models(base, fts[0]).deltas.items()
                          if k.startswith("3.")})
    merge = LearnedAnisotropicMerge(base, [partial], block_of=lambda n: n.split(".")[0])
    assert merge.block_names == ["0", "1", "3"]
    merge.set_coefficients(1.0)
    sd = merge.merged_state_dict()
    torch.testing.assert_close(sd["0.weight"], base[0].weight)
    torch.testing.assert_close(sd["3.weight"], fts[0][3].weight)
    with pytest.raises(KeyError, match="not in the base"):
        LearnedAnisotropicMerge(base, [TaskVector({"nope": torch.zeros(1)})])


def test_learning_lambda_reduces_loss(models) -> None:
    base, fts = models
    merge = LearnedAnisotropicMerge(base, [TaskVector.from_models(base, f) for f in fts])
    x = torch.randn(32, 6)
    target = fts[0](x).detach()
    opt = torch.optim.Adam(merge.parameters(), lr=0.05)
    first = nn.functional.mse_loss(merge(x), target).item()
    for _ in range(40):
        opt.zero_grad()
        nn.functional.mse_loss(merge(x), target).backward()
        opt.step()
    assert nn.functional.mse_loss(merge(x), target).item() < 0.3 * first


@pytest.mark.slow
def test_toy_learned_anisotropic_merge_beats_uniform_task_arithmetic() -> None:
    """Two tasks fine-tuned from one base net with a two-task head (outputs 0:2 and 2:4). Learned
    per-tensor λ (64 labelled samples) beats the best scalar λ of task arithmetic on held-out data."""
    torch.manual_seed(0)
    d = 8
    base = nn.Sequential(nn.Linear(d, 32), nn.ReLU(), nn.Linear(32, 4))
    xs = torch.randn(1000, d)
    ys = [((xs[:, 0] + xs[:, 1]) > 0).long(), (xs[:, 2] * xs[:, 3] > 0).long()]
    sl = [slice(0, 2), slice(2, 4)]

    def finetune(t: int) -> nn.Module:
        m = copy.deepcopy(base)
        opt = torch.optim.Adam(m.parameters(), lr=1e-2)
        for _ in range(300):
            opt.zero_grad()
            nn.functional.cross_entropy(m(xs[:500])[:, sl[t]], ys[t][:500]).backward()
            opt.step()
        return m

    tvs = [TaskVector.from_models(base, finetune(t)) for t in range(2)]

    def acc(model_fn) -> float:
        with torch.no_grad():
            out = model_fn(xs[500:])
            return sum((out[:, sl[t]].argmax(1) == ys[t][500:]).float().mean().item() for t in range(2)) / 2

    uniform = {s: acc(lambda x, s=s: torch.func.functional_call(base, (tvs[0] + tvs[1]).apply_to(base, s), (x,)))
               for s in (0.25, 0.5, 0.75, 1.0, 1.25)}
    merge = LearnedAnisotropicMerge(base, tvs)
    opt = torch.optim.Adam(merge.parameters(), lr=0.05)
    for _ in range(200):
        opt.zero_grad()
        out = merge(xs[:64])
        loss = sum(nn.functional.cross_entropy(out[:, sl[t]], ys[t][:64]) for t in range(2))
        loss.backward()
        opt.step()
    learned = acc(merge)
    print(f"toy aTLAS mean task accuracy: uniform {uniform}, learned {learned:.3f}")
    assert learned > max(uniform.values())
