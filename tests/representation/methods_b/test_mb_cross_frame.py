"""X-CLIP blocks: frame permutation equivariance/invariance, mean fusion, video-specific prompt."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from representation.adapters.video_prompt import VideoSpecificPrompt
from representation.blocks.cross_frame import (
    CrossFrameAttention,
    MultiFrameIntegration,
    ViewFusion,
    mean_fuse,
)


def test_cross_frame_attention_is_frame_permutation_equivariant() -> None:
    torch.manual_seed(0)
    blk = CrossFrameAttention(16, heads=2).eval()
    x = torch.randn(3, 4, 5, 16)
    perm = torch.tensor([2, 0, 3, 1])
    out = blk(x)
    assert out.shape == x.shape
    torch.testing.assert_close(blk(x[:, perm]), out[:, perm], atol=1e-5, rtol=1e-5)


def test_cross_frame_attention_exchanges_information_across_frames() -> None:
    torch.manual_seed(0)
    blk = CrossFrameAttention(16, heads=2).eval()
    x = torch.randn(1, 3, 4, 16)
    y = x.clone()
    y[:, 2] += 1.0  # change only frame 2
    diff = (blk(x) - blk(y))[:, 0].abs().max()
    assert diff > 1e-4  # frame 0 sees frame 2 through the message tokens


def test_cross_frame_padding_mask_hides_missing_frames() -> None:
    torch.manual_seed(0)
    blk = CrossFrameAttention(16, heads=2).eval()
    x = torch.randn(2, 3, 4, 16)
    pad = torch.tensor([[False, False, True], [False, False, True]])
    y = x.clone()
    y[:, 2] = torch.randn(2, 4, 16)
    torch.testing.assert_close(blk(x, pad)[:, :2], blk(y, pad)[:, :2], atol=1e-5, rtol=1e-5)


def test_mit_without_positional_is_frame_permutation_invariant() -> None:
    torch.manual_seed(0)
    mit = MultiFrameIntegration(16, layers=2, heads=2, positional=False).eval()
    x = torch.randn(4, 4, 16)
    out = mit(x)
    assert out.shape == (4, 16)
    torch.testing.assert_close(mit(x[:, torch.tensor([3, 1, 0, 2])]), out, atol=1e-5, rtol=1e-5)


def test_mit_with_positional_embeddings_depends_on_order() -> None:
    torch.manual_seed(0)
    mit = MultiFrameIntegration(16, layers=1, heads=2, positional=True).eval()
    with torch.no_grad():
        mit.pos.normal_(0, 1.0)
    x = torch.randn(2, 4, 16)
    assert (mit(x[:, torch.tensor([3, 1, 0, 2])]) - mit(x)).abs().max() > 1e-4


def test_mean_fuse_matches_loop_with_valid_mask() -> None:
    torch.manual_seed(0)
    x = torch.randn(3, 4, 5)
    valid = torch.tensor([[1, 1, 1, 1], [1, 0, 1, 0], [0, 0, 0, 1]], dtype=torch.bool)
    ref = torch.stack([x[b][valid[b]].mean(0) for b in range(3)])
    torch.testing.assert_close(mean_fuse(x, valid), ref)
    torch.testing.assert_close(mean_fuse(x), x.mean(1))
    with pytest.raises(ValueError, match="no valid view"):
        mean_fuse(x, torch.zeros(3, 4, dtype=torch.bool))


def test_view_fusion_modes_and_masked_views() -> None:
    torch.manual_seed(0)
    x = torch.randn(2, 4, 16)
    torch.testing.assert_close(ViewFusion(16, "mean").fuse(x), x.mean(1))
    fus = ViewFusion(16, "mit", heads=2).eval()
    valid = torch.tensor([[True, True, False, True], [True, False, False, False]])
    y = x.clone()
    y[~valid] = torch.randn(int((~valid).sum()), 16)
    torch.testing.assert_close(fus.fuse(x, valid), fus.fuse(y, valid), atol=1e-5, rtol=1e-5)
    assert fus.get_config_dict()["mode"] == "mit"
    with pytest.raises(ValueError):
        ViewFusion(16, "max")


def test_video_prompt_alpha_zero_gives_plain_text_and_alpha_init() -> None:
    torch.manual_seed(0)
    vp = VideoSpecificPrompt(16, layers=1, heads=2)
    torch.testing.assert_close(vp.alpha.detach(), torch.full((16,), 0.1))
    text = torch.randn(5, 16)
    visual = torch.randn(3, 7, 16)
    out = vp(text, visual)
    assert out.shape == (3, 5, 16)
    assert (out - text).abs().max() > 1e-3
    torch.testing.assert_close(out, text + vp.alpha * vp.delta(text, visual))
    with torch.no_grad():
        vp.alpha.zero_()
    torch.testing.assert_close(vp(text, visual), text.expand(3, -1, -1))


def test_video_prompt_trains_towards_video_specific_text() -> None:
    """Loss decreases: adapt class texts so each clip matches its own class better."""
    torch.manual_seed(0)
    vp = VideoSpecificPrompt(16, layers=1, heads=2)
    text = F.normalize(torch.randn(4, 16), dim=-1)
    labels = torch.arange(4).repeat(2)
    visual = torch.randn(8, 6, 16) + 2 * torch.randn(4, 1, 16)[labels]
    opt = torch.optim.Adam(vp.parameters(), lr=3e-3)

    def loss_fn() -> torch.Tensor:
        t = F.normalize(vp(text, visual), dim=-1)
        v = F.normalize(visual.mean(1), dim=-1)
        logits = 10 * torch.einsum("bd,bcd->bc", v, t)
        return F.cross_entropy(logits, labels)

    first = loss_fn().item()
    for _ in range(60):
        opt.zero_grad()
        loss_fn().backward()
        opt.step()
    assert loss_fn().item() < first - 0.1


def _junk_view_data(n: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """4 views per location; each view is the class prototype + noise, except 2 random views that
    carry a large random 'junk' vector (sky, tarmac). Class = argmax of the prototype."""
    d, c = 16, 6
    protos = torch.randn(c, d, generator=torch.Generator().manual_seed(123)) * 1.0
    y = torch.randint(0, c, (n,), generator=gen)
    views = protos[y][:, None].repeat(1, 4, 1) + 0.5 * torch.randn(n, 4, d, generator=gen)
    junk = torch.rand(n, 4, generator=gen).argsort(1)[:, :2]
    flag = torch.zeros(n, 4, d)
    flag.scatter_(1, junk[..., None].expand(-1, -1, d), 1.0)
    views = torch.where(flag.bool(), 4.0 * torch.randn(n, 4, d, generator=gen), views)
    return views, y


@pytest.mark.slow
def test_toy_mit_fusion_beats_mean_fusion_with_junk_views() -> None:
    gen = torch.Generator().manual_seed(0)
    xtr, ytr = _junk_view_data(2000, gen)
    xte, yte = _junk_view_data(1000, gen)
    accs = {}
    for mode in ("mean", "mit"):
        torch.manual_seed(0)
        fus = ViewFusion(16, mode, layers=1, heads=2)
        head = torch.nn.Linear(16, 6)
        opt = torch.optim.Adam([*fus.parameters(), *head.parameters()], lr=3e-3)
        for _ in range(300):
            idx = torch.randint(0, 2000, (128,))
            loss = F.cross_entropy(head(fus.fuse(xtr[idx])), ytr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        fus.eval()
        with torch.no_grad():
            accs[mode] = (head(fus.fuse(xte)).argmax(1) == yte).float().mean().item()
    print(f"toy junk-view fusion accuracy: {accs}")
    assert accs["mit"] > accs["mean"] + 0.02
