import random
from collections import Counter

import pytest
import torch
import torch.nn.functional as F
from ma_reference import naive_clip, reference_cl2l

from representation.augment.text import EDA, STOP_WORDS, drop_stop_words, random_deletion, random_swap
from representation.errors import ConfigError
from representation.losses.cl2l import CL2LLoss, ViewProjectors
from representation.losses.classification import CrossEntropyLoss
from representation.losses.multi_positive import clip_pair_loss
from representation.losses.multitask import MultiTaskLoss
from representation.losses.negclip import NegCLIPLoss

# ---------------- CL2L (Fini et al.) ----------------


def _pairs(a=2, b=5, d=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    r = lambda *s: F.normalize(torch.randn(*s, generator=g, dtype=torch.float64), dim=-1)  # noqa: E731
    return r(b, d), r(b, d), r(a, b, d), r(a, b, d)


def test_cl2l_no_augs_is_clip():
    img, txt, _, _ = _pairs()
    got = CL2LLoss(temperature=0.1)(img, txt)
    assert got.item() == pytest.approx(naive_clip(img, txt, 10.0), rel=1e-10)


def test_label_smoothing_matches_torch_and_zero_is_ce():
    img, txt, _, _ = _pairs()
    labels = torch.arange(5)
    for eps in (0.0, 0.1, 0.3):
        ref = 0.5 * (F.cross_entropy(7 * img @ txt.T, labels, label_smoothing=eps)
                     + F.cross_entropy(7 * txt @ img.T, labels, label_smoothing=eps))
        assert clip_pair_loss(img, txt, 7.0, label_smoothing=eps).item() == pytest.approx(ref.item(), rel=1e-10)
        assert clip_pair_loss(img, txt, 7.0, label_smoothing=eps).item() == pytest.approx(
            naive_clip(img, txt, 7.0, eps), rel=1e-10)


def test_cl2l_equals_clip_rocket_formulation():
    """Issue 14 (fidelity): every image view x every text view, separate local scale,
    (global + A * mean_local) / (1 + A); expected value from the reference's code as loops."""
    img, txt, iv, tv = _pairs(a=3)
    fn = CL2LLoss(temperature=0.1, local_temperature=0.25, label_smoothing=0.1)
    out = fn(img, txt, image_views=iv, text_views=tv, return_dict=True)
    total = fn(img, txt, image_views=iv, text_views=tv)
    expect = reference_cl2l(img, txt, list(iv), list(tv), 10.0, 4.0, 0.1)
    assert total.item() == pytest.approx(expect, rel=1e-10)
    summed = CL2LLoss(temperature=0.1, local_temperature=0.25, sum_directions=True)
    assert summed(img, txt, image_views=iv, text_views=tv).item() == pytest.approx(
        reference_cl2l(img, txt, list(iv), list(tv), 10.0, 4.0, 0.1, "sum"), rel=1e-10)
    # the library's earlier reading (matched views, shared scale) is an option and differs
    matched = CL2LLoss(temperature=0.1, label_smoothing=0.1, view_pairs="matched", separate_local_scale=False)
    terms = [naive_clip(img, txt, 10.0)] + [naive_clip(iv[a], tv[a], 10.0, 0.1) for a in range(3)]
    assert matched(img, txt, image_views=iv, text_views=tv).item() == pytest.approx(sum(terms) / 4, rel=1e-10)
    assert abs(matched(img, txt, image_views=iv, text_views=tv).item() - expect) > 1e-4
    # learnable scales: separate parameters, the local one starts at temperature 0.1 (reference)
    learn = CL2LLoss(learn_scale=True)
    assert learn.local_scale_module is not None and learn.logit_scale_module is not None
    assert learn.local_scale_module().item() == pytest.approx(10.0)
    learned = learn(img, txt, image_views=iv, text_views=tv)
    expect_l = reference_cl2l(img, txt, list(iv), list(tv), learn.logit_scale_module().item(), 10.0, 0.1)
    assert learned.item() == pytest.approx(expect_l, rel=1e-10)
    learned.backward()
    assert learn.local_scale_module.log_scale.grad is not None and learn.logit_scale_module.log_scale.grad is not None
    assert (out["clip_loss"] + out["cl2l_aug_loss"]).item() == pytest.approx(total.item(), rel=1e-12)
    assert out["logs"]["num_augs"] == 3
    with pytest.raises(ValueError):
        fn(img, txt, image_views=iv)
    with pytest.raises(ValueError):
        CL2LLoss(label_smoothing=1.0)


def test_view_projectors_are_separate():
    proj = ViewProjectors(6, 4, num_augs=2)  # reference: one global and one shared local projector
    x = torch.randn(3, 6)
    outs = [proj(x, v) for v in range(3)]
    assert not torch.allclose(outs[0], outs[1]) and torch.equal(outs[1], outs[2])
    outs[1].sum().backward()
    assert proj.heads[1].weight.grad is not None and proj.heads[0].weight.grad is None
    per_view = ViewProjectors(6, 4, num_augs=2, shared_local=False)
    assert len(per_view.heads) == 3 and not torch.allclose(per_view(x, 1), per_view(x, 2))
    assert len(ViewProjectors(6, 4, separate_local=False).heads) == 1


def test_eda_operations():
    words = "a photo of the old harbour in Porto at dusk".split()
    rng = random.Random(0)
    assert Counter(random_swap(words, 3, rng)) == Counter(words)
    kept = random_deletion(words, 0.5, rng)
    assert 1 <= len(kept) <= len(words) and all(w in words for w in kept)
    assert random_deletion(words, 1.0, rng) and len(random_deletion(words, 1.0, rng)) == 1
    assert drop_stop_words(words) == ["photo", "old", "harbour", "Porto", "dusk"]
    assert drop_stop_words(["the", "of"]) == ["the", "of"]
    eda = EDA(seed=3)
    outs = {eda(" ".join(words)) for _ in range(30)}
    assert len(outs) > 3 and all(o for o in outs)
    assert EDA(n_swaps=0, p_delete=0, drop_stop=False)("keep me as is") == "keep me as is"
    assert "the" in STOP_WORDS


# ---------------- MOFI multi-task combiner ----------------


class _Toy(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = torch.nn.Linear(6, 8)
        self.cls_head = torch.nn.Linear(8, 5)
        self.img_proj = torch.nn.Linear(8, 4)
        self.txt_tower = torch.nn.Linear(3, 4)


def _inputs(model, x, y, t):
    h = model.backbone(x)
    return {"cls": (model.cls_head(h), y), "clip": {"image": model.img_proj(h), "text": model.txt_tower(t)}}


def test_multitask_sum_dict_and_gradient_isolation():
    torch.manual_seed(0)
    model = _Toy()
    x, y, t = torch.randn(6, 6), torch.randint(0, 5, (6,)), torch.randn(6, 3)
    fn = MultiTaskLoss({"cls": torch.nn.CrossEntropyLoss(), "clip": NegCLIPLoss(temperature=0.1)},
                       weights={"cls": 0.3, "clip": 2.0})
    out = fn(_inputs(model, x, y, t), return_dict=True)
    inp = _inputs(model, x, y, t)
    ce = F.cross_entropy(*inp["cls"])
    cl = NegCLIPLoss(temperature=0.1)(**inp["clip"])
    assert out["cls_loss"].item() == pytest.approx(0.3 * ce.item())
    assert out["clip_loss"].item() == pytest.approx(2.0 * cl.item())
    total = fn(_inputs(model, x, y, t))
    assert total.item() == pytest.approx(0.3 * ce.item() + 2.0 * cl.item(), rel=1e-6)
    # each term's gradient reaches only the parameters it depends on
    params = dict(model.named_parameters())
    g_cls = torch.autograd.grad(out["cls_loss"], list(params.values()), allow_unused=True, retain_graph=True)
    g_clip = torch.autograd.grad(out["clip_loss"], list(params.values()), allow_unused=True)
    by_name_cls = dict(zip(params, g_cls))
    by_name_clip = dict(zip(params, g_clip))
    assert by_name_cls["txt_tower.weight"] is None and by_name_cls["img_proj.weight"] is None
    assert by_name_cls["cls_head.weight"] is not None and by_name_cls["backbone.weight"] is not None
    assert by_name_clip["cls_head.weight"] is None and by_name_clip["txt_tower.weight"] is not None


def test_multitask_disabled_term_leaves_grad_none():
    model = _Toy()
    fn = MultiTaskLoss({"cls": torch.nn.CrossEntropyLoss(), "clip": NegCLIPLoss()}, weights={"cls": 0.0})
    x, y, t = torch.randn(4, 6), torch.randint(0, 5, (4,)), torch.randn(4, 3)
    inp = _inputs(model, x, y, t)
    out = fn({"clip": inp["clip"]}, return_dict=True)
    assert set(out) == {"clip_loss", "logs"}
    out["clip_loss"].backward()
    assert model.cls_head.weight.grad is None and model.txt_tower.weight.grad is not None
    with pytest.raises(ValueError):
        MultiTaskLoss({"cls": torch.nn.CrossEntropyLoss()}, weights={"nope": 1.0})
    with pytest.raises(ValueError):
        MultiTaskLoss({"cls": torch.nn.CrossEntropyLoss()})({})
    with pytest.raises(ConfigError, match="not a registered component"):
        fn.get_config_dict()  # torch's CrossEntropyLoss has no config; the library's has
    fn2 = MultiTaskLoss({"cls": CrossEntropyLoss(), "clip": NegCLIPLoss()}, weights={"cls": 0.0})
    cfg = fn2.get_config_dict()
    assert cfg["weights"] == {"cls": 0.0, "clip": 1.0} and cfg["losses"]["cls"]["type"] == "cross_entropy"
    assert MultiTaskLoss(**cfg).get_config_dict() == cfg


def test_multitask_accepts_dict_terms():
    fn = MultiTaskLoss({"a": lambda x: {"a_loss": x.sum(), "b_loss": 2 * x.sum(), "logs": {}}}, {"a": 0.5})
    x = torch.ones(3)
    assert fn({"a": (x,)}).item() == pytest.approx(0.5 * 9.0)


# ---------------- MultiPositiveLoss ----------------


def test_multi_positive_one_positive_is_clip_and_matches_loop():
    from ma_reference import naive_soft_ce

    from representation.losses.multi_positive import MultiPositiveLoss

    img, txt, _, _ = _pairs()
    eye = torch.eye(5, dtype=torch.bool)
    fn = MultiPositiveLoss(temperature=0.1, symmetric=True)
    assert fn(img, txt, targets=eye).item() == pytest.approx(naive_clip(img, txt, 10.0), rel=1e-10)
    g = torch.Generator().manual_seed(9)
    pos = torch.rand(5, 7, generator=g) > 0.6
    k = F.normalize(torch.randn(7, 4, generator=g, dtype=torch.float64), dim=-1)
    got = MultiPositiveLoss(temperature=0.1)(img, k, targets=pos)
    assert got.item() == pytest.approx(naive_soft_ce((10 * img @ k.T).tolist(), pos.double().tolist()), rel=1e-10)


def test_multitask_registers_term_parameters():
    fn = MultiTaskLoss({"clip": NegCLIPLoss(learn_scale=True), "fn": lambda x: x.sum()})
    names = [n for n, _ in fn.named_parameters()]
    assert names == ["term_modules.clip.logit_scale_module.log_scale"]
