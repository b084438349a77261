"""PixPro: pixel propagation module, warped-centre positive mask, pixel propagation loss."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from representation.blocks.pixel_propagation import PixelPropagationModule, propagation_weights
from representation.losses.pixpro import (
    PixelPropagationLoss,
    crop_pixel_centers,
    pixel_propagation_loss,
    pixpro_positive_mask,
)


@pytest.mark.parametrize("normalize_value", [True, False])
def test_ppm_matches_naive_loop(normalize_value: bool) -> None:
    """Issue 14 (fidelity): as upstream ``featprop``, g(x) is L2-normalised over channels before
    propagation (``normalize_value=False`` keeps the earlier raw-g reading, as an option)."""
    torch.manual_seed(0)
    ppm = PixelPropagationModule(4, gamma=2.0, transform_layers=1, normalize_value=normalize_value).double()
    x = torch.randn(2, 4, 3, 2, dtype=torch.float64)
    y = ppm(x)
    g = ppm.transform(x)
    for b in range(2):
        pix = [(h, w) for h in range(3) for w in range(2)]
        for hi, wi in pix:
            acc = torch.zeros(4, dtype=torch.float64)
            for hj, wj in pix:
                c = F.cosine_similarity(x[b, :, hi, wi], x[b, :, hj, wj], dim=0)
                value = g[b, :, hj, wj]
                if normalize_value:
                    value = value / math.sqrt(sum(float(v) ** 2 for v in value.detach()))
                acc += max(float(c), 0.0) ** 2 * value
            torch.testing.assert_close(y[b, :, hi, wi], acc)


def test_propagation_weights_range_and_identity_transform() -> None:
    torch.manual_seed(0)
    x = torch.randn(2, 5, 4, 4)
    s = propagation_weights(x, 3.0)
    assert ((s >= 0) & (s <= 1 + 1e-6)).all()
    torch.testing.assert_close(torch.diagonal(s, dim1=1, dim2=2), torch.ones(2, 16))
    ppm = PixelPropagationModule(5, transform_layers=0)
    value = F.normalize(x.flatten(2), dim=1)
    torch.testing.assert_close(ppm(x), torch.einsum("bij,bcj->bci", s.pow(2 / 3), value).reshape(x.shape),
                               atol=1e-5, rtol=1e-4)


def test_crop_centres_match_loop() -> None:
    boxes = torch.tensor([[10.0, 20.0, 50.0, 40.0]], dtype=torch.float64)
    c, diag = crop_pixel_centers(boxes, 2, 4)
    bw, bh = 40 / 4, 20 / 2
    for h in range(2):
        for w in range(4):
            torch.testing.assert_close(c[0, h * 4 + w], torch.tensor([10 + (w + 0.5) * bw, 20 + (h + 0.5) * bh],
                                                                     dtype=torch.float64))
    assert diag.item() == pytest.approx(math.hypot(bw, bh))


def test_same_crop_gives_diagonal_mask_and_swap_gives_transpose() -> None:
    box = torch.tensor([[0.0, 0.0, 70.0, 70.0], [5.0, 5.0, 33.0, 33.0]])
    mask = pixpro_positive_mask(box, box, (7, 7))
    assert torch.equal(mask, torch.eye(49, dtype=torch.bool).expand(2, -1, -1))
    other = torch.tensor([[20.0, 10.0, 90.0, 80.0], [0.0, 0.0, 40.0, 40.0]])
    ab = pixpro_positive_mask(box, other, (7, 7), (5, 5))
    ba = pixpro_positive_mask(other, box, (5, 5), (7, 7))
    assert torch.equal(ab, ba.transpose(1, 2))
    far = torch.tensor([[200.0, 200.0, 270.0, 270.0]] * 2)
    assert not pixpro_positive_mask(box, far, (7, 7)).any()


def _naive_loss(q: torch.Tensor, k: torch.Tensor, pos: torch.Tensor) -> float:
    b = q.shape[0]
    qf, kf = q.flatten(2), k.flatten(2)
    total = 0.0
    for s in range(b):
        num, cnt = 0.0, 0
        for i in range(qf.shape[2]):
            for j in range(kf.shape[2]):
                if pos[s, i, j]:
                    num += float(F.cosine_similarity(qf[s, :, i], kf[s, :, j], dim=0))
                    cnt += 1
        total += num / cnt if cnt else 0.0
    return -2.0 * total / b


def test_loss_matches_naive_is_bounded_and_minus_two_for_identical() -> None:
    torch.manual_seed(0)
    q, k = torch.randn(3, 6, 4, 4, dtype=torch.float64), torch.randn(3, 6, 3, 3, dtype=torch.float64)
    boxes_q = torch.tensor([[0.0, 0.0, 40.0, 40.0], [10.0, 0.0, 50.0, 40.0], [0.0, 0.0, 20.0, 20.0]])
    boxes_k = torch.tensor([[5.0, 5.0, 35.0, 35.0], [0.0, 0.0, 30.0, 30.0], [30.0, 30.0, 60.0, 60.0]])
    pos = pixpro_positive_mask(boxes_q, boxes_k, (4, 4), (3, 3))
    assert pos[0].any() and pos[1].any()
    got = PixelPropagationLoss()(q, k, boxes_q, boxes_k)
    assert got.item() == pytest.approx(_naive_loss(q, k, pos), rel=1e-10)
    assert -2.0 <= got.item() <= 2.0
    x = torch.randn(2, 6, 4, 4)
    box = torch.tensor([[0.0, 0.0, 40.0, 40.0]] * 2)
    assert PixelPropagationLoss()(x, x.clone(), box, box).item() == pytest.approx(-2.0, abs=1e-6)
    assert PixelPropagationLoss()(x, -x, box, box).item() == pytest.approx(2.0, abs=1e-6)


def test_loss_gradcheck_and_target_detached() -> None:
    torch.manual_seed(0)
    q = torch.randn(2, 3, 2, 2, dtype=torch.float64, requires_grad=True)
    k = torch.randn(2, 3, 2, 2, dtype=torch.float64, requires_grad=True)
    pos = torch.rand(2, 4, 4) < 0.5
    assert torch.autograd.gradcheck(lambda a, b: pixel_propagation_loss(a, b, pos), (q, k))
    PixelPropagationLoss()(q, k, mask=pos).backward()
    assert q.grad is not None and k.grad is None
    with pytest.raises(ValueError, match="boxes"):
        PixelPropagationLoss()(q, k)


def test_ppm_training_decreases_loss() -> None:
    torch.manual_seed(0)
    enc = torch.nn.Conv2d(3, 8, 1)
    ppm = PixelPropagationModule(8, transform_layers=1)
    img = torch.randn(4, 3, 6, 6)
    box = torch.tensor([[0.0, 0.0, 6.0, 6.0]] * 4)
    target = torch.randn(4, 8, 6, 6)
    loss_fn = PixelPropagationLoss()
    opt = torch.optim.Adam([*enc.parameters(), *ppm.parameters()], lr=1e-2)
    first = loss_fn(ppm(enc(img)), target, box, box).item()
    for _ in range(50):
        opt.zero_grad()
        loss_fn(ppm(enc(img)), target, box, box).backward()
        opt.step()
    assert loss_fn(ppm(enc(img)), target, box, box).item() < first - 0.1
