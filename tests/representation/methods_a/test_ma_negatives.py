import random

import pytest
import torch
import torch.nn.functional as F
from ma_reference import naive_clip, naive_soft_ce

from representation.augment.negatives import (
    CompositionalTextNegatives,
    aro_swap_accuracy,
    bag_of_words,
    category_swap,
    word_swap,
)
from representation.functional.soft_ce import soft_cross_entropy
from representation.losses.negclip import NegCLIPLoss
from representation.miners.false_negative import FalseNegativeMasker, false_negative_mask

# ---------------- MultiCSR false-negative masking ----------------


def _info_nce_rows(q, k, scale, mask=None):
    logits = scale * F.normalize(q, dim=1) @ F.normalize(k, dim=1).T
    t = torch.eye(q.shape[0], k.shape[0], dtype=q.dtype)
    return soft_cross_entropy(logits, t, mask, reduction="none")


def test_masked_loss_with_duplicates_equals_dedup_loss():
    g = torch.Generator().manual_seed(0)
    base_q = torch.randn(5, 8, generator=g, dtype=torch.float64)
    base_k = base_q + 0.3 * torch.randn(5, 8, generator=g, dtype=torch.float64)
    dup = [0, 1, 2, 3, 4, 1, 3, 1]  # rows 5, 6, 7 duplicate items 1, 3, 1
    q, k = base_q[dup], base_k[dup]
    frozen = base_q[dup]  # a frozen encoder sees identical inputs -> cos 1 for duplicates
    keep = FalseNegativeMasker("cosine", 0.95, dedup_keys=True)(frozen, frozen)
    masked = _info_nce_rows(q, k, 10.0, keep)
    dedup = _info_nce_rows(base_q, base_k, 10.0)
    for row, item in enumerate(dup):
        assert masked[row].item() == pytest.approx(dedup[item].item(), rel=1e-12)
    assert masked.mean().item() != pytest.approx(dedup.mean().item())  # rows are weighted by multiplicity
    # unmasked duplicates are wrongly used as negatives -> different (higher) loss
    assert _info_nce_rows(q, k, 10.0)[1] > dedup[1]


def test_paper_mask_drops_exactly_the_rows_own_copies():
    g = torch.Generator().manual_seed(1)
    base = torch.randn(4, 8, generator=g, dtype=torch.float64)
    dup = [0, 1, 2, 3, 1, 1]
    keep = FalseNegativeMasker("cosine", 0.95)(base[dup])
    copies = torch.tensor([[dup[i] == dup[j] and i != j for j in range(6)] for i in range(6)])
    assert torch.equal(~keep, copies)


def test_diagonal_never_masked_and_positive_index():
    keep = FalseNegativeMasker("cosine", -2.0)(torch.randn(6, 4))  # everything "similar"
    assert torch.equal(keep, torch.eye(6, dtype=torch.bool))
    keep = false_negative_mask(torch.ones(3, 9, dtype=torch.bool), positive_index=torch.tensor([3, 4, 5]))
    assert keep.sum() == 3 and keep[0, 3] and keep[1, 4] and keep[2, 5]
    with pytest.raises(ValueError):
        false_negative_mask(torch.ones(3, 4, dtype=torch.bool), positive_index=torch.tensor([0, 1, 9]))


def test_km_and_cell_modes():
    latlon = torch.tensor([[48.8566, 2.3522], [48.80, 2.13], [51.5072, -0.1276], [40.7128, -74.0060]])
    keep = FalseNegativeMasker("km", 25.0)(latlon)
    # Paris and Versailles (~17 km) mask each other; London/New York stay negatives
    assert not keep[0, 1] and not keep[1, 0] and keep[0, 2] and keep[2, 3]
    assert torch.diagonal(keep).all()
    cells = torch.tensor([4, 4, 7, 9])
    keep = FalseNegativeMasker("cell")(cells)
    assert not keep[0, 1] and keep[0, 2] and torch.diagonal(keep).all()
    with pytest.raises(ValueError):
        FalseNegativeMasker("km", 10.0)(torch.zeros(3, 3))
    with pytest.raises(ValueError):
        FalseNegativeMasker("nearest")


# ---------------- NegCLIP ----------------

COUNTRIES = ["France", "Spain", "Andorra", "United Kingdom", "Ireland"]


def test_category_swap_keeps_bag_of_words_and_differs():
    neg = CompositionalTextNegatives({"country": COUNTRIES}, seed=0)
    caps = ["A street near the border of France and Spain.",
            "A road between the United Kingdom and Ireland, close to Ireland.",
            "Mountains in Andorra with a view of France and Spain"]
    outs, valid = neg(caps)
    assert valid.all()
    for c, o in zip(caps, outs):
        assert o != c and bag_of_words(o) == bag_of_words(c)
    assert outs[0] == "A street near the border of Spain and France."
    assert "the Ireland and United Kingdom" in outs[1] or outs[1].endswith("close to United Kingdom.")


def test_word_swap_fallback_and_invalid():
    neg = CompositionalTextNegatives({"country": COUNTRIES}, seed=1)
    outs, valid = neg(["Red house in Paris", "the the", "France"])
    assert valid.tolist() == [True, False, False]
    assert outs[1] == "the the" and outs[2] == "France"
    assert bag_of_words(outs[0]) == bag_of_words("Red house in Paris") and outs[0] != "Red house in Paris"
    rng = random.Random(0)
    for _ in range(20):
        o = word_swap("a small red car next to a large blue truck", rng)
        assert bag_of_words(o) == bag_of_words("a small red car next to a large blue truck")
    assert category_swap("only France here", neg.patterns["country"], rng) is None
    with pytest.raises(ValueError):
        CompositionalTextNegatives(strategies=["shuffle_everything"])


def _feats(b=5, d=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [F.normalize(torch.randn(b, d, generator=g, dtype=torch.float64), dim=1) for _ in range(3)]


def test_negclip_without_negatives_is_clip():
    img, txt, _ = _feats()
    got = NegCLIPLoss(temperature=0.1)(img, txt)
    assert got.item() == pytest.approx(naive_clip(img, txt, 10.0), rel=1e-10)
    labels = torch.arange(5)
    ref = 0.5 * (F.cross_entropy(10 * img @ txt.T, labels) + F.cross_entropy(10 * txt @ img.T, labels))
    assert got.item() == pytest.approx(ref.item(), rel=1e-10)


def test_negclip_adds_columns_only_and_masks_invalid():
    img, txt, neg = _feats()
    valid = torch.tensor([True, False, True, True, False])
    got = NegCLIPLoss(temperature=0.1)(img, txt, neg_text=neg, neg_text_valid=valid)
    # image -> text: B x 2B logits, labels unchanged, invalid negative columns removed
    logits_i = (10 * img @ torch.cat([txt, neg]).T).tolist()
    t = torch.cat([torch.eye(5), torch.zeros(5, 5)], 1).tolist()
    vmask = [[True] * 5 + valid.tolist() for _ in range(5)]
    logits_t = (10 * txt @ img.T).tolist()
    expect = 0.5 * (naive_soft_ce(logits_i, t, vmask) + naive_soft_ce(logits_t, torch.eye(5).tolist()))
    assert got.item() == pytest.approx(expect, rel=1e-10)
    # hard negatives can only increase the image -> text loss
    assert got > NegCLIPLoss(temperature=0.1)(img, txt)
    all_valid = NegCLIPLoss(temperature=0.1)(img, txt, neg_text=neg, neg_image=neg, return_dict=True)
    assert all_valid["logs"]["num_text_negatives"] == 5


def test_aro_swap_accuracy_matches_loop():
    g = torch.Generator().manual_seed(3)
    img, true = torch.randn(10, 4, generator=g), torch.randn(10, 4, generator=g)
    pert = torch.randn(10, 3, 4, generator=g)
    valid = torch.rand(10, 3, generator=g) > 0.3
    got = aro_swap_accuracy(img, true, pert, valid)
    wins, rows = 0, 0
    for i in range(10):
        negs = [F.cosine_similarity(img[i], pert[i, p], dim=0) for p in range(3) if valid[i, p]]
        if not negs:
            continue
        rows += 1
        wins += int(F.cosine_similarity(img[i], true[i], dim=0) > max(negs))
    assert got == pytest.approx(wins / rows)
    assert aro_swap_accuracy(img, img, -img) == 1.0
    assert aro_swap_accuracy(img, true, pert, torch.zeros(10, 3, dtype=torch.bool)) != aro_swap_accuracy(img, true, pert)


def test_negclip_loss_decreases():
    torch.manual_seed(0)
    x = torch.randn(32, 8)
    img_net, txt_net = torch.nn.Linear(8, 8), torch.nn.Linear(8, 8)
    neg_x = x[torch.randperm(32)]
    opt = torch.optim.Adam([*img_net.parameters(), *txt_net.parameters()], lr=3e-2)
    loss_fn = NegCLIPLoss(temperature=0.1)
    first = None
    for _ in range(30):
        loss = loss_fn(img_net(x), txt_net(x), neg_text=txt_net(neg_x + 0.1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        first = loss.item() if first is None else first
    assert loss.item() < 0.5 * first


def test_country_neighbours_and_neighbour_replace():
    from shapely.geometry import box

    from representation.augment.negatives import country_neighbours

    geoms = [box(0, 0, 1, 1), box(1, 0, 2, 1), box(2, 0, 3, 1), box(2.05, 2, 3, 3)]
    names = ["Westland", "Midland", "Eastland", "Island"]
    nb = country_neighbours(geoms, names)
    assert nb == {"Westland": ["Midland"], "Midland": ["Eastland", "Westland"], "Eastland": ["Midland"],
                  "Island": []}
    assert "Island" in country_neighbours(geoms, names, tolerance_deg=0.6)["Eastland"]
    neg = CompositionalTextNegatives(strategies=["neighbour_replace"], neighbours=nb, seed=0)
    outs, valid = neg(["A farm in Westland", "A bridge in Midland", "A beach on Island", "Nowhere"])
    assert valid.tolist() == [True, True, False, False]
    assert outs[0] == "A farm in Midland" and outs[1] in ("A bridge in Eastland", "A bridge in Westland")
    with pytest.raises(ValueError):
        CompositionalTextNegatives(strategies=["neighbour_replace"])
