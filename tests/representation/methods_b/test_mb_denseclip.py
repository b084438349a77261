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


@pytest.mark.slow
def test_toy_context_decoder_beats_static_text_under_per_image_style_shift() -> None:
    """Pixels = class prototype + a per-image 'style' offset + noise. Learnable static class
    embeddings (CoOp-like) cannot follow the offset; text + γ·Dec(text, pixels) can. Same data
    and number of steps for both; per-pixel accuracy on held-out images."""
    torch.manual_seed(0)
    n_cls, d, hw = 4, 16, 6
    protos = F.normalize(torch.randn(n_cls, d), dim=-1)
    g = torch.Generator().manual_seed(1)

    def batch(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        lab = torch.randint(0, n_cls, (n, hw, hw), generator=g)
        style = 1.5 * torch.randn(n, d, 1, 1, generator=g)
        return protos[lab].permute(0, 3, 1, 2) + style + 0.3 * torch.randn(n, d, hw, hw, generator=g), lab

    train = [batch(16) for _ in range(150)]
    test_pix, test_lab = batch(200)
    init_text = protos + 0.1 * torch.randn(n_cls, d)

    def tokens(p: torch.Tensor) -> torch.Tensor:
        return p.flatten(2).transpose(1, 2)

    text = torch.nn.Parameter(init_text.clone())
    dec = ContextDecoder(d, width=32, layers=2, heads=4)
    text_dec = torch.nn.Parameter(init_text.clone())
    runs = {"static text": ([text], lambda p: text), "context decoder": ([*dec.parameters(), text_dec],
                                                                          lambda p: dec(text_dec, tokens(p)))}
    acc = {}
    for name, (params, text_fn) in runs.items():
        opt = torch.optim.Adam(params, lr=3e-3 if name == "context decoder" else 1e-2)
        for _ in range(3):
            for pix, lab in train:
                opt.zero_grad()
                score_map_loss(pixel_text_score_map(pix, text_fn(pix), 10.0), lab).backward()
                opt.step()
        with torch.no_grad():
            pred = pixel_text_score_map(test_pix, text_fn(test_pix), 10.0).argmax(1)
            acc[name] = (pred == test_lab).float().mean().item()
    print(f"toy DenseCLIP per-pixel accuracy: {acc}")
    assert acc["context decoder"] > acc["static text"] + 0.1
