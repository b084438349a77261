"""Issue 14: numeric references (float64 loops from the papers' formulas, using the modules'
weights) for CLOSE's embedding augmentations and X-CLIP's cross-frame attention (CCT), multi-frame
integration transformer (MIT) and video-specific prompt generator, not only properties."""

from __future__ import annotations

import math

import pytest
import torch

from representation.adapters import VideoSpecificPrompt
from representation.augment import GaussianNoise, MeanShift
from representation.blocks import CrossFrameAttention, MultiFrameIntegration

Vec = list[float]


def _vec(t: torch.Tensor) -> Vec:
    return [float(v) for v in t.detach()]


def _layer_norm(v: Vec, ln: torch.nn.LayerNorm) -> Vec:
    mean = sum(v) / len(v)
    var = sum((x - mean) ** 2 for x in v) / len(v)
    w, b = _vec(ln.weight), _vec(ln.bias)
    return [(x - mean) / math.sqrt(var + ln.eps) * w[i] + b[i] for i, x in enumerate(v)]


def _linear(v: Vec, weight: torch.Tensor, bias: torch.Tensor | None) -> Vec:
    weight = weight.detach()
    bias = None if bias is None else bias.detach()
    return [sum(float(weight[i, j]) * v[j] for j in range(len(v))) + (float(bias[i]) if bias is not None else 0.0)
            for i in range(weight.shape[0])]


def _gelu(x: float) -> float:
    return 0.5 * x * (1 + math.erf(x / math.sqrt(2)))


def _mlp(v: Vec, seq: torch.nn.Sequential) -> Vec:
    h = [_gelu(x) for x in _linear(v, seq[0].weight, seq[0].bias)]
    return _linear(h, seq[2].weight, seq[2].bias)


def _attention(queries: list[Vec], keys: list[Vec], mha: torch.nn.MultiheadAttention,
               skip: list[bool] | None = None) -> list[Vec]:
    """softmax(Q K^T / sqrt(d_h)) V per head, heads concatenated, output projection."""
    d, h = mha.embed_dim, mha.num_heads
    dh = d // h
    w, b = mha.in_proj_weight, mha.in_proj_bias
    q = [_linear(x, w[:d], b[:d]) for x in queries]
    k = [_linear(x, w[d:2 * d], b[d:2 * d]) for x in keys]
    v = [_linear(x, w[2 * d:], b[2 * d:]) for x in keys]
    out = []
    for qi in q:
        heads: Vec = []
        for hd in range(h):
            sl = range(hd * dh, (hd + 1) * dh)
            scores = [sum(qi[c] * kj[c] for c in sl) / math.sqrt(dh) for kj in k]
            allowed = [j for j in range(len(k)) if not (skip and skip[j])]
            mx = max(scores[j] for j in allowed)
            weights = {j: math.exp(scores[j] - mx) for j in allowed}
            total = sum(weights.values())
            heads += [sum(weights[j] / total * v[j][c] for j in allowed) for c in sl]
        out.append(_linear(heads, mha.out_proj.weight, mha.out_proj.bias))
    return out


def _add(a: Vec, b: Vec) -> Vec:
    return [x + y for x, y in zip(a, b, strict=True)]


def test_cross_frame_attention_matches_the_cct_formulas() -> None:
    torch.manual_seed(0)
    block = CrossFrameAttention(4, heads=2, mlp_ratio=2.0).double().eval()
    x = torch.randn(2, 3, 3, 4, dtype=torch.float64)  # B clips, T frames, L tokens (token 0 = class), D
    pad = torch.tensor([[False, False, True], [False, False, False]])
    got = block(x, frame_padding_mask=pad)
    for b in range(2):
        msgs = [_linear(_vec(x[b, t, 0]), block.message_fc.weight, block.message_fc.bias) for t in range(3)]
        normed = [_layer_norm(m, block.message_ln) for m in msgs]
        msgs = [_add(m, a) for m, a in zip(msgs, _attention(normed, normed, block.message_attn, pad[b].tolist()),
                                           strict=True)]
        for t in range(3):
            tokens = [_vec(x[b, t, i]) for i in range(3)] + [msgs[t]]
            normed = [_layer_norm(z, block.ln_1) for z in tokens]
            tokens = [_add(z, a) for z, a in zip(tokens, _attention(normed, normed, block.attn), strict=True)][:3]
            for i, z in enumerate(tokens):
                expect = _add(z, _mlp(_layer_norm(z, block.ln_2), block.mlp))
                torch.testing.assert_close(got[b, t, i], torch.tensor(expect, dtype=torch.float64), rtol=1e-9, atol=1e-10)


def test_multi_frame_integration_matches_the_mit_formula() -> None:
    torch.manual_seed(1)
    mit = MultiFrameIntegration(4, layers=2, heads=2, max_frames=5, mlp_ratio=2.0).double().eval()
    x = torch.randn(2, 3, 4, dtype=torch.float64)
    got = mit(x)
    for b in range(2):
        h = [_add(_vec(x[b, t]), _vec(mit.pos[t])) for t in range(3)]
        for layer in mit.layers:
            normed = [_layer_norm(z, layer.ln_1) for z in h]
            h = [_add(z, a) for z, a in zip(h, _attention(normed, normed, layer.attn), strict=True)]
            h = [_add(z, _mlp(_layer_norm(z, layer.ln_2), layer.mlp)) for z in h]
        frames = [_add(_vec(x[b, t]), h[t]) for t in range(3)]
        expect = [sum(f[c] for f in frames) / 3 for c in range(4)]
        torch.testing.assert_close(got[b], torch.tensor(expect, dtype=torch.float64), rtol=1e-9, atol=1e-10)


def test_video_specific_prompt_matches_the_formula() -> None:
    torch.manual_seed(2)
    prompt = VideoSpecificPrompt(4, layers=2, heads=2).double().eval()
    with torch.no_grad():
        prompt.alpha.copy_(torch.tensor([0.1, -0.3, 0.7, 0.2]))
    text = torch.randn(3, 4, dtype=torch.float64)
    visual = torch.randn(2, 5, 4, dtype=torch.float64)
    got = prompt(text, visual)
    for b in range(2):
        vis = [_layer_norm(_vec(visual[b, i]), prompt.visual_norm) for i in range(5)]
        q = [_vec(text[c]) for c in range(3)]
        for layer in prompt.layers:
            q = [_add(z, a) for z, a in zip(q, _attention([_layer_norm(z, layer.norm_q) for z in q], vis,
                                                          layer.cross_attn), strict=True)]
            q = [_add(z, _mlp(_layer_norm(z, layer.norm_mlp), layer.mlp)) for z in q]
        for c in range(3):
            expect = [float(text[c, i]) + float(prompt.alpha.detach()[i]) * q[c][i] for i in range(4)]
            torch.testing.assert_close(got[b, c], torch.tensor(expect, dtype=torch.float64), rtol=1e-9, atol=1e-10)


def test_close_gaussian_noise_matches_the_formula() -> None:
    x = torch.nn.functional.normalize(torch.randn(3, 5, dtype=torch.float64), dim=-1)
    aug = GaussianNoise(std=0.1, generator=torch.Generator().manual_seed(7))
    got = aug(x)
    eps = torch.randn(3, 5, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    for i in range(3):
        noisy = [float(x[i, j]) + 0.1 * float(eps[i, j]) for j in range(5)]
        norm = math.sqrt(sum(v * v for v in noisy))
        torch.testing.assert_close(got[i], torch.tensor([v / norm for v in noisy], dtype=torch.float64))
    assert torch.equal(aug.eval()(x), x)


def test_close_mean_shift_matches_the_formula() -> None:
    g = torch.Generator().manual_seed(3)
    text, image = torch.randn(6, 4, generator=g, dtype=torch.float64), torch.randn(5, 4, generator=g) + 1.0
    shift = MeanShift(4).double().fit(text, image)
    def unit(v: Vec) -> Vec:
        n = math.sqrt(sum(a * a for a in v))
        return [a / n for a in v]
    mu_t = [sum(unit(_vec(r))[c] for r in text) / 6 for c in range(4)]
    mu_i = [sum(unit(_vec(r))[c] for r in image) / 5 for c in range(4)]
    delta = [a - b for a, b in zip(mu_i, mu_t, strict=True)]
    torch.testing.assert_close(shift.shift, torch.tensor(delta, dtype=torch.float64), rtol=1e-6, atol=1e-7)
    got = shift(text)
    for i in range(6):
        torch.testing.assert_close(got[i], torch.tensor(unit(_add(_vec(text[i]), delta)), dtype=torch.float64),
                                   rtol=1e-6, atol=1e-7)
    assert torch.equal(shift.eval()(text), text)
    assert pytest.approx(1.0) == float(MeanShift(4, apply_in_eval=True).double().eval()(text).norm(dim=-1)[0])
