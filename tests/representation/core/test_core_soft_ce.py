import warnings

import pytest
import torch

from representation.distributed import GatherSpec, gather_features, rank_offset_labels
from representation.functional import soft_cross_entropy
from representation.testing.reference import naive_soft_ce_rows


def _case(seed=0):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(5, 6, generator=g, dtype=torch.float64)
    targets = torch.rand(5, 6, generator=g, dtype=torch.float64) * (torch.rand(5, 6, generator=g) > 0.4)
    mask = torch.rand(5, 6, generator=g) > 0.25
    mask[:, 0] = True
    targets[2] = 0.0  # a row without target mass
    return logits, targets, mask


def test_matches_loops_with_mask_and_reductions():
    logits, targets, mask = _case()
    rows = naive_soft_ce_rows(logits, targets, mask)
    per = soft_cross_entropy(logits, targets, mask, reduction="none")
    for i, r in enumerate(rows):
        assert float(per[i]) == pytest.approx(0.0 if r is None else r, rel=1e-12)
    valid = [r for r in rows if r is not None]
    assert float(soft_cross_entropy(logits, targets, mask)) == pytest.approx(sum(valid) / len(valid))
    assert float(soft_cross_entropy(logits, targets, mask, reduction="sum")) == pytest.approx(sum(valid))


def test_unnormalised_targets_scale_the_loss_and_one_hot_is_ce():
    logits, targets, _ = _case(1)
    norm = soft_cross_entropy(logits, targets, reduction="none")
    raw = soft_cross_entropy(logits, targets, normalize_targets=False, reduction="none")
    torch.testing.assert_close(raw, norm * targets.sum(1))
    labels = torch.tensor([0, 3, 5, 1, 2])
    one_hot = torch.nn.functional.one_hot(labels, 6).double()
    torch.testing.assert_close(soft_cross_entropy(logits, one_hot), torch.nn.functional.cross_entropy(logits, labels))


def test_masked_columns_get_no_gradient_and_values_stay_finite():
    logits, targets, mask = _case(2)
    logits.requires_grad_(True)
    soft_cross_entropy(logits, targets, mask).backward()
    assert bool(torch.isfinite(logits.grad).all())
    assert bool((logits.grad[~mask] == 0).all())
    # changing a masked logit does not change the loss
    bumped = logits.detach().clone()
    bumped[~mask] += 100.0
    torch.testing.assert_close(soft_cross_entropy(bumped, targets, mask), soft_cross_entropy(logits.detach(), targets, mask))


def test_single_process_gather_is_identity_and_footgun_warns():
    x = torch.randn(3, 2)
    assert gather_features(x) is x
    assert rank_offset_labels(3).tolist() == [0, 1, 2]
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        GatherSpec(local_loss=True, with_grad=False)
    assert any("no gradient" in str(m.message) for m in w)
