"""DenseCLIP: context decoder (γ residual), CoOp context, pixel-text score maps."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from representation.adapters.context_decoder import ContextDecoder, CoOpContext
from representation.heads.score_map import pixel_text_score_map, score_map_loss


def test_gamma_init_and_gamma_zero_gives_clip_text() -> None:
    torch.manual_seed(0)
    dec = ContextDecoder(16, width=8, layers=2, heads=2)
    torch.testing.assert_close(dec.gamma.detach(), torch.full((16,), 1e-4))
    text, visual = torch.randn(5, 16), torch.randn(3, 10, 16)
    out = dec(text, visual)
    assert out.shape == (3, 5, 16)
    torch.testing.assert_close(out, text + 1e-4 * dec.decode(text, visual))
    with torch.no_grad():
        dec.gamma.zero_()
    torch.testing.assert_close(dec(text, visual), text.expand(3, -1, -1))


def test_decoder_output_depends_on_visual_context() -> None:
    torch.manual_seed(0)
    dec = ContextDecoder(16, width=8, layers=1, heads=2, gamma_init=1.0)
    text, visual = torch.randn(5, 16), torch.randn(1, 10, 16)
    assert (dec(text, visual) - dec(text, torch.randn(1, 10, 16))).abs().max() > 1e-4  # (LN: not a shift)


def test_score_map_matches_loop_and_global_logits_at_1x1() -> None:
    torch.manual_seed(0)
    pix, text = torch.randn(2, 8, 3, 4, dtype=torch.float64), torch.randn(5, 8, dtype=torch.float64)
    s = pixel_text_score_map(pix, text, 7.0)
    assert s.shape == (2, 5, 3, 4)
    for b in range(2):
        for c in range(5):
            for h in range(3):
                for w in range(4):
                    ref = 7.0 * F.cosine_similarity(pix[b, :, h, w], text[c], dim=0)
                    assert s[b, c, h, w].item() == pytest.approx(ref.item(), rel=1e-10)
    img = torch.randn(4, 8)
    glob = 100.0 * F.normalize(img, dim=-1) @ F.normalize(text.float(), dim=-1).T
    torch.testing.assert_close(pixel_text_score_map(img[:, :, None, None], text.float(), 100.0)[..., 0, 0], glob)


def test_coop_context_and_aux_loss() -> None:
    torch.manual_seed(0)
    ctx = CoOpContext(4, 8)
    cls_tok = torch.randn(3, 2, 8)
    out = ctx(cls_tok)
    assert out.shape == (3, 6, 8)
    torch.testing.assert_close(out[:, 4:], cls_tok)
    torch.testing.assert_close(out[1, :4], ctx.ctx)
    sm = torch.randn(2, 3, 4, 4)
    target = torch.randint(0, 3, (2, 4, 4))
    torch.testing.assert_close(score_map_loss(sm, target), F.cross_entropy(sm, target))
    assert score_map_loss(sm, torch.randint(0, 3, (2, 8, 8))).isfinite()


def test_context_decoder_training_reduces_dense_loss() -> None:
    torch.manual_seed(0)
    dec = ContextDecoder(8, width=8, layers=1, heads=2, gamma_init=0.1)
    text = torch.randn(3, 8)
    pix = torch.randn(2, 8, 4, 4)
    target = torch.randint(0, 3, (2, 4, 4))
    visual = pix.flatten(2).transpose(1, 2)
    opt = torch.optim.Adam(dec.parameters(), lr=1e-2)

    def loss_fn() -> torch.Tensor:
        return score_map_loss(pixel_text_score_map(pix, dec(text, visual), 10.0), target)

    first = loss_fn().item()
    for _ in range(40):
        opt.zero_grad()
        loss_fn().backward()
        opt.step()
    assert loss_fn().item() < first - 0.05
