"""Issue 15, rows 25 (DebCSE: inverse-propensity pair sampling) and 4 (heuristic vision
pre-training: multi-label BCE, masked reconstruction, the multi-task recipe)."""

import math

import pytest
import torch
import torch.nn.functional as F

from representation.losses import (
    MaskedReconstructionLoss,
    MultiLabelBCELoss,
    heuristic_pretraining_loss,
    random_patch_mask,
)
from representation.miners import (
    PropensityWeighter,
    inverse_propensity_weights,
    length_ratio,
    sample_pairs,
    word_jaccard,
)


def test_inverse_propensity_weights_match_the_histogram_loop():
    g = torch.Generator().manual_seed(0)
    s = torch.rand(6, 7, generator=g, dtype=torch.float64)
    cand = torch.rand(6, 7, generator=g) > 0.3
    w = inverse_propensity_weights(s, cand, bins=4)
    cells = [(i, j) for i in range(6) for j in range(7) if cand[i, j]]
    counts = [0] * 4
    for i, j in cells:
        counts[min(int(float(s[i, j]) * 4), 3)] += 1
    for i in range(6):
        for j in range(7):
            expect = len(cells) / counts[min(int(float(s[i, j]) * 4), 3)] if cand[i, j] else 0.0
            assert abs(float(w[i, j]) - expect) < 1e-12


def _kl_to_uniform(values: torch.Tensor, occupied: torch.Tensor, bins: int = 10) -> float:
    """KL(histogram of values || uniform over the bins that hold candidates)."""
    h = torch.histc(values.double(), bins=bins, min=0.0, max=1.0)[occupied]
    p = h / h.sum()
    return float(sum(pi * math.log(pi * len(p)) for pi in p.tolist() if pi > 0))


def test_ipw_sampling_flattens_the_surface_similarity_histogram():
    torch.manual_seed(1)
    surface = torch.distributions.Beta(torch.tensor(2.0), torch.tensor(5.0)).sample((200, 100)).double()  # biased: mostly low
    occupied = torch.histc(surface, bins=10, min=0.0, max=1.0) >= 200  # bins with >= 1 candidate per row on average
    g = torch.Generator().manual_seed(1)
    semantic = torch.zeros(200, 100, dtype=torch.float64)  # every pair may be a negative
    uniform = PropensityWeighter(num_negatives=20, ipw=False)(surface, semantic, generator=g)[1]
    ipw = PropensityWeighter(num_negatives=20)(surface, semantic, generator=torch.Generator().manual_seed(1))[1]
    kl_u, kl_w = _kl_to_uniform(surface[uniform], occupied), _kl_to_uniform(surface[ipw], occupied)
    assert kl_w < 0.25 * kl_u, (kl_u, kl_w)


def test_semantic_thresholds_and_sample_counts():
    g = torch.Generator().manual_seed(2)
    surface, semantic = torch.rand(5, 30, generator=g), torch.rand(5, 30, generator=g)
    pos, neg = PropensityWeighter(num_positives=2, num_negatives=4, pos_threshold=0.7, neg_threshold=0.4)(
        surface, semantic, generator=g)
    assert bool((semantic[pos] >= 0.7).all()) and bool((semantic[neg] < 0.4).all())
    assert pos.sum(1).tolist() == [min(2, int(c)) for c in (semantic >= 0.7).sum(1)]
    assert neg.sum(1).tolist() == [4] * 5 and not bool((pos & neg).any())
    assert sample_pairs(torch.zeros(2, 3), 2).sum() == 0


def test_surface_similarities():
    a, b = ["the red car", "a car"], ["red car the", "car is here now", ""]
    jac = word_jaccard(a, b)
    assert float(jac[0, 0]) == 1.0 and abs(float(jac[1, 1]) - 1 / 5) < 1e-12 and float(jac[0, 2]) == 0.0
    lr = length_ratio(a, b)
    assert float(lr[0, 0]) == 1.0 and abs(float(lr[1, 1]) - 0.5) < 1e-12


# ------------------------------------------------------------------ heuristic vision pre-training


def test_multilabel_bce_and_masked_reconstruction_match_loops():
    g = torch.Generator().manual_seed(3)
    logits = torch.randn(4, 3, generator=g, dtype=torch.float64)
    labels = torch.tensor([[1, 0, -1], [0, 0, 1], [-1, -1, -1], [1, 1, 0]])
    terms = [-(y * math.log(1 / (1 + math.exp(-z))) + (1 - y) * math.log(1 - 1 / (1 + math.exp(-z))))
             for z, y in zip(logits.flatten().tolist(), labels.flatten().tolist()) if y >= 0]
    assert abs(float(MultiLabelBCELoss()(logits, labels)) - sum(terms) / len(terms)) < 1e-12
    pred, target = torch.randn(3, 5, 4, generator=g, dtype=torch.float64), torch.randn(3, 5, 4, generator=g, dtype=torch.float64)
    mask = random_patch_mask(3, 5, 0.6, g)
    assert mask.sum(1).tolist() == [3, 3, 3]
    ref = [sum((float(pred[i, p, c]) - float(target[i, p, c])) ** 2 for c in range(4)) / 4
           for i in range(3) for p in range(5) if mask[i, p]]
    assert abs(float(MaskedReconstructionLoss()(pred, target, mask)) - sum(ref) / len(ref)) < 1e-12
    tn = (target - target.mean(-1, keepdim=True)) / (target.var(-1, keepdim=True) + 1e-6).sqrt()
    expect = ((pred - tn).pow(2).mean(-1))[mask].mean()
    torch.testing.assert_close(MaskedReconstructionLoss(norm_target=True)(pred, target, mask), expect)


def test_heuristic_recipe_sums_terms_and_a_disabled_task_leaves_its_head_without_gradient():
    torch.manual_seed(4)
    backbone = torch.nn.Linear(6, 8)
    attr_head, mim_head = torch.nn.Linear(8, 3), torch.nn.Linear(8, 4 * 5)
    x, x2 = torch.randn(10, 6), torch.randn(10, 6)
    labels = torch.randint(0, 2, (10, 3))
    target, mask = torch.randn(10, 5, 4), random_patch_mask(10, 5, 0.5)

    def inputs():
        h = backbone(x)
        return {"attributes": (attr_head(h), labels), "mim": (mim_head(h).reshape(10, 5, 4), target, mask),
                "contrastive": (h, backbone(x2))}

    full = heuristic_pretraining_loss({"mim": 0.5})
    out = full(inputs(), return_dict=True)
    assert set(out) == {"attributes_loss", "mim_loss", "contrastive_loss", "logs"}
    torch.testing.assert_close(out["mim_loss"], 0.5 * out["logs"]["mim"])
    off = heuristic_pretraining_loss({"attributes": 0.0})
    off(inputs()).backward()
    assert attr_head.weight.grad is None and mim_head.weight.grad is not None and backbone.weight.grad is not None
    with pytest.raises(ValueError, match="ratio"):
        random_patch_mask(2, 4, 1.5)
    assert F.binary_cross_entropy_with_logits is not None
