"""MVLPT: -inf task masking (p = 0), shared prompt learner, prompted open_clip CLIP."""

from __future__ import annotations

import pytest
import torch

from representation.adapters.open_clip_prompts import PromptedCLIP
from representation.adapters.prompt_learner import (
    SharedPromptLearner,
    insert_after_first,
    mask_task_logits,
    task_class_mask,
)

open_clip_model = pytest.importorskip("open_clip.model")


def _tiny_clip() -> torch.nn.Module:
    torch.manual_seed(0)
    return open_clip_model.CLIP(
        embed_dim=24,
        vision_cfg=open_clip_model.CLIPVisionCfg(layers=1, width=32, head_width=16, patch_size=8, image_size=16),
        text_cfg=open_clip_model.CLIPTextCfg(context_length=12, vocab_size=50, width=32, heads=2, layers=1),
    ).eval()


def _tokens(c: int = 4) -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    t = torch.zeros(c, 12, dtype=torch.long)
    t[:, 0] = 48  # start token
    t[:, 1:4] = torch.randint(1, 40, (c, 3), generator=g)
    t[:, 4] = 49  # end token (the argmax)
    return t


def test_out_of_task_classes_get_zero_probability() -> None:
    torch.manual_seed(0)
    logits = torch.randn(5, 7)
    class_task = torch.tensor([0, 0, 0, 1, 1, 2, 2])
    task = torch.tensor([0, 1, 2, 1, 0])
    p = mask_task_logits(logits, class_task, task).softmax(1)
    valid = task_class_mask(class_task, task)
    assert torch.equal(p[~valid], torch.zeros(int((~valid).sum())))
    torch.testing.assert_close(p.sum(1), torch.ones(5))
    for b in range(5):  # within-task probabilities = softmax over the task's classes only
        torch.testing.assert_close(p[b, valid[b]], logits[b, valid[b]].softmax(0))
    # the reference's multiply-by-zero keeps probability mass on other tasks' classes
    p_bug = (logits * valid).softmax(1)
    assert (p_bug[~valid] > 0).all()
    with pytest.raises(ValueError, match="no class"):
        mask_task_logits(logits, class_task, torch.tensor([0, 1, 2, 3, 0]))


def test_insert_after_first_layout() -> None:
    tok = torch.arange(2 * 5 * 3, dtype=torch.float32).reshape(2, 5, 3)
    pr = -torch.ones(2, 3)
    out = insert_after_first(tok, pr)
    assert out.shape == (2, 7, 3)
    torch.testing.assert_close(out[:, 0], tok[:, 0])
    torch.testing.assert_close(out[:, 1:3], pr.expand(2, -1, -1))
    torch.testing.assert_close(out[:, 3:], tok[:, 1:])
    torch.testing.assert_close(insert_after_first(tok, pr, keep_length=True), out[:, :5])


def test_shared_projector_couples_text_and_visual_prompts() -> None:
    torch.manual_seed(0)
    learner = SharedPromptLearner(3, 2, text_dim=32, visual_dim=16, proj_dim=8)
    text_ctx, vis_ctx = learner()
    assert text_ctx.shape == (3, 32) and vis_ctx.shape == (2, 16)
    text_ctx.sum().backward()
    assert learner.vpt.grad is not None and learner.vpt.grad.abs().sum() > 0  # text loss reaches VPT
    ident = SharedPromptLearner(3, 2, 32, 16, project="identity")
    t, v = ident()
    assert t is ident.ctx and v is ident.vpt


def test_zero_length_prompts_equal_frozen_clip() -> None:
    clip = _tiny_clip()
    model = PromptedCLIP(clip, SharedPromptLearner(0, 0, text_dim=32, visual_dim=32))
    img = torch.randn(3, 3, 16, 16)
    txt = _tokens()
    with torch.no_grad():
        torch.testing.assert_close(model.encode_text(txt), clip.encode_text(txt), atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(model.encode_image(img), clip.encode_image(img), atol=1e-5, rtol=1e-5)
        a = model(img, txt)
        b = clip.logit_scale.exp() * clip.encode_image(img, normalize=True) @ clip.encode_text(txt, normalize=True).T
    torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-5)


def test_prompts_change_outputs_and_only_prompt_params_get_grad() -> None:
    clip = _tiny_clip()
    model = PromptedCLIP(clip, SharedPromptLearner(2, 3, text_dim=32, visual_dim=32, proj_dim=16))
    img = torch.randn(4, 3, 16, 16)
    txt = _tokens()
    with torch.no_grad():
        assert (model.encode_text(txt) - clip.encode_text(txt)).abs().max() > 1e-4
        assert (model.encode_image(img) - clip.encode_image(img)).abs().max() > 1e-4
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all(n.startswith("learner.") for n in trainable)
    loss = torch.nn.functional.cross_entropy(model(img, txt), torch.tensor([0, 1, 2, 3]))
    loss.backward()
    assert all(p.grad is None for p in clip.parameters())
    assert model.learner.ctx.grad is not None and model.learner.vpt.grad is not None


def test_prompt_tuning_reduces_masked_multitask_loss() -> None:
    clip = _tiny_clip()
    model = PromptedCLIP(clip, SharedPromptLearner(2, 2, text_dim=32, visual_dim=32, proj_dim=16))
    img = torch.randn(8, 3, 16, 16)
    txt = _tokens(4)
    class_task = torch.tensor([0, 0, 1, 1])
    task = torch.tensor([0, 1] * 4)
    labels = torch.tensor([0, 2, 1, 3, 0, 3, 1, 2])
    opt = torch.optim.Adam(model.learner.parameters(), lr=5e-2)

    def loss_fn() -> torch.Tensor:
        return torch.nn.functional.cross_entropy(mask_task_logits(model(img, txt), class_task, task), labels)

    first = loss_fn().item()
    for _ in range(30):
        opt.zero_grad()
        loss_fn().backward()
        opt.step()
    assert loss_fn().item() < first - 0.05


def test_prompts_that_push_the_end_token_out_are_rejected() -> None:
    clip = _tiny_clip()
    model = PromptedCLIP(clip, SharedPromptLearner(8, 0, text_dim=32, visual_dim=32))
    with pytest.raises(ValueError, match="context length"):
        model.encode_text(_tokens())
    with pytest.raises(ValueError, match="text_dim"):
        PromptedCLIP(clip, SharedPromptLearner(1, 0, text_dim=16, visual_dim=32))
