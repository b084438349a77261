"""Issue 15, rows 17 (CoLLAP), 37 (SepCLR) and 22 (UNITER word-region alignment)."""

import math

import torch
import torch.nn.functional as F

from representation.blocks import AttentionPooledSimilarity
from representation.functional.ot import cosine_cost, ipot, ot_distance
from representation.losses import CoLLAPLoss, InfoNCELoss, SepCLRLoss, UNITERLoss
from representation.losses.align_uniform import alignment_loss, joint_entropy_loss, uniformity_loss

# ------------------------------------------------------------------ CoLLAP


def naive_fusion(seg, txt, wq, wk, mask):
    n, s, _ = seg.shape
    out = torch.zeros(n, txt.shape[0], dtype=torch.float64)
    d = wq.shape[0]
    for i in range(n):
        for j in range(txt.shape[0]):
            valid = [v for v in range(s) if mask[i, v]]
            e = [float((wq @ txt[j]) @ (wk @ seg[i, v])) / math.sqrt(d) for v in valid]
            z = sum(math.exp(x) for x in e)
            out[i, j] = sum(math.exp(x) / z * float(F.cosine_similarity(seg[i, v], txt[j], dim=0))
                            for x, v in zip(e, valid))
    return out


def test_attention_pooled_similarity_matches_the_loop_and_uniform_is_the_mean():
    g = torch.Generator().manual_seed(0)
    seg, txt = torch.randn(4, 3, 6, generator=g, dtype=torch.float64), torch.randn(5, 6, generator=g, dtype=torch.float64)
    mask = torch.tensor([[1, 1, 1], [1, 0, 1], [0, 1, 0], [1, 1, 0]], dtype=torch.bool)
    pool = AttentionPooledSimilarity(6, attn_dim=4).double()
    ref = naive_fusion(seg, txt, pool.w_q.weight.detach(), pool.w_k.weight.detach(), mask)
    torch.testing.assert_close(pool(seg, txt, mask), ref)
    uniform = AttentionPooledSimilarity(6, attention="uniform")(seg, txt, mask)
    cos = F.cosine_similarity(seg.unsqueeze(1), txt[None, :, None], dim=-1)  # [4, 5, 3]
    mean = (cos * mask[:, None]).sum(-1) / mask.sum(1, keepdim=True)
    torch.testing.assert_close(uniform, mean)
    w = pool.weights(seg, txt, mask)
    torch.testing.assert_close(w.sum(-1), torch.ones(4, 5, dtype=torch.float64))
    assert float(w[1, :, 1].detach().abs().max()) == 0.0


def test_collap_with_one_segment_is_the_clip_loss():
    g = torch.Generator().manual_seed(1)
    a, t = torch.randn(8, 5, generator=g, dtype=torch.float64), torch.randn(8, 5, generator=g, dtype=torch.float64)
    collap = CoLLAPLoss(dim=5, attn_dim=3, temperature=0.1).double()
    torch.testing.assert_close(collap(a.unsqueeze(1), t), InfoNCELoss(temperature=0.1)(a, t))


def test_collap_loss_matches_symmetric_ce_on_the_fusion_scores_and_trains_the_attention():
    g = torch.Generator().manual_seed(2)
    seg, txt = torch.randn(6, 4, 5, generator=g, dtype=torch.float64), torch.randn(6, 5, generator=g, dtype=torch.float64)
    loss = CoLLAPLoss(dim=5, attn_dim=3, temperature=0.2).double()
    s = naive_fusion(seg, txt, loss.pool.w_q.weight.detach(), loss.pool.w_k.weight.detach(),
                     torch.ones(6, 4, dtype=torch.bool)) / 0.2
    a2t = sum(-s[i, i] + torch.logsumexp(s[i], 0) for i in range(6)) / 6
    t2a = sum(-s[i, i] + torch.logsumexp(s[:, i], 0) for i in range(6)) / 6
    value = loss(seg, txt)
    assert abs(float(value.detach()) - 0.5 * float(a2t + t2a)) < 1e-10
    value.backward()
    assert loss.pool.w_q.weight.grad.abs().sum() > 0


# ------------------------------------------------------------------ SepCLR (the reference code's pdist formulation)


def ref_align(x, y, tau=0.5):
    return sum(float(((x[i] - y[i]) ** 2).sum()) for i in range(x.shape[0])) / (2 * tau) / x.shape[0]


def ref_uniform(x, tau=0.5):
    vals = [math.exp(-float(((x[i] - x[j]) ** 2).sum()) / (2 * tau)) for i in range(x.shape[0]) for j in range(i + 1, x.shape[0])]
    return math.log(sum(vals) / len(vals))


def ref_jem(c, s, tau=0.5):
    n = c.shape[0]
    rows = []
    for i in range(n):
        ks = [math.exp(-float(((s[i] - s[j]) ** 2).sum()) / (2 * tau)) * math.exp(-float(((c[i] - c[j]) ** 2).sum()) / (2 * tau))
              for j in range(n)]
        rows.append(math.log(sum(ks) / n))
    return sum(rows) / n


def test_sepclr_terms_match_the_reference_formulation():
    g = torch.Generator().manual_seed(3)
    x, y = torch.randn(7, 3, generator=g, dtype=torch.float64), torch.randn(7, 3, generator=g, dtype=torch.float64)
    assert abs(float(alignment_loss(x, y)) - ref_align(x, y)) < 1e-12
    assert float(alignment_loss(x, x)) == 0.0
    assert abs(float(uniformity_loss(x)) - ref_uniform(x)) < 1e-12
    assert abs(float(joint_entropy_loss(x, y)) - ref_jem(x, y)) < 1e-12


def ref_uniform_logspace(x, tau=0.5):
    """``log mean_{i<j} exp(e_ij)`` with the max shifted out (float64 loop; no underflow)."""
    e = [-float(((x[i] - x[j]) ** 2).sum()) / (2 * tau) for i in range(x.shape[0]) for j in range(i + 1, x.shape[0])]
    m = max(e)
    return m + math.log(sum(math.exp(v - m) for v in e) / len(e))


def test_uniformity_runs_in_log_space_for_far_apart_features_in_float32_and_bf16():
    # pairwise ||x_i - x_j||² / (2τ) is in the hundreds: exp underflows to 0 in any dtype
    x = torch.randn(9, 3, generator=torch.Generator().manual_seed(6), dtype=torch.float64) * 12
    ref = ref_uniform_logspace(x)
    assert ref < -30
    assert abs(float(uniformity_loss(x)) - ref) < 1e-9
    for dtype, tol in ((torch.float32, 1e-4), (torch.bfloat16, 2e-2)):
        xd = x.to(dtype).requires_grad_(True)
        value = uniformity_loss(xd)
        value.backward()
        assert abs(float(value) - ref) < tol * abs(ref)
        assert torch.isfinite(xd.grad.float()).all() and xd.grad.abs().sum() > 0


def test_mi_term_is_lower_for_independent_spaces():
    g = torch.Generator().manual_seed(4)
    c = F.normalize(torch.randn(300, 4, generator=g, dtype=torch.float64), dim=1)
    independent = F.normalize(torch.randn(300, 4, generator=g, dtype=torch.float64), dim=1)
    dependent = c[:, [1, 0, 3, 2]]  # s a function of c
    assert float(joint_entropy_loss(c, independent)) < float(joint_entropy_loss(c, dependent)) - 0.05


def test_sepclr_total_matches_the_reference_script():
    g = torch.Generator().manual_seed(5)
    common, salient = torch.randn(10, 2, 4, generator=g, dtype=torch.float64), torch.randn(10, 2, 3, generator=g, dtype=torch.float64)
    target = torch.tensor([1, 0, 1, 1, 0, 0, 1, 0, 1, 1], dtype=torch.bool)
    c1, c2 = F.normalize(common[:, 0], dim=1), F.normalize(common[:, 1], dim=1)
    s1, s2 = salient[:, 0], salient[:, 1]
    t1, t2 = s1.clone(), s2.clone()
    t1[~target] = 0
    t2[~target] = 0
    cm = ref_align(c1, c2) + 2 * (ref_uniform(c1) + ref_uniform(c2)) / 2
    sp = ref_align(s1[target], s2[target]) + 2 * (ref_uniform(t1) + ref_uniform(t2)) / 2
    reg = (ref_align(t1[~target], s1[~target]) + ref_align(t2[~target], s2[~target])) / 2
    jem = (ref_jem(c1, t1) + ref_jem(c2, t2)) / 2
    expect = cm + 1000 * sp + 1000 * reg + 10 * jem
    out = SepCLRLoss()(common, salient, target, return_dict=True)
    assert abs(sum(float(v) for k, v in out.items() if k.endswith("_loss")) - expect) < 1e-8
    # background salient at 0 and identical views: no alignment, no regulariser
    zero = salient.clone()
    zero[~target] = 0
    zero[:, 1] = zero[:, 0]
    p = SepCLRLoss().parts(common, zero, target)
    assert float(p["reg"]) == 0.0 and float(p["salient_align"]) == 0.0


# ------------------------------------------------------------------ UNITER / IPOT


def naive_ipot(cost, beta=0.5, iterations=50):
    m, n = cost.shape
    a = [[math.exp(-float(cost[i, j]) / beta) for j in range(n)] for i in range(m)]
    t = [[1.0] * n for _ in range(m)]
    sigma = [1.0 / n] * n
    for _ in range(iterations):
        q = [[a[i][j] * t[i][j] for j in range(n)] for i in range(m)]
        delta = [1.0 / (m * sum(q[i][j] * sigma[j] for j in range(n))) for i in range(m)]
        sigma = [1.0 / (n * sum(q[i][j] * delta[i] for i in range(m))) for j in range(n)]
        t = [[delta[i] * q[i][j] * sigma[j] for j in range(n)] for i in range(m)]
    return torch.tensor(t, dtype=torch.float64)


def test_ipot_matches_the_loop_and_has_uniform_marginals():
    g = torch.Generator().manual_seed(6)
    x, y = torch.randn(1, 5, 4, generator=g, dtype=torch.float64), torch.randn(1, 3, 4, generator=g, dtype=torch.float64)
    cost = cosine_cost(x, y)
    plan = ipot(cost)
    torch.testing.assert_close(plan[0], naive_ipot(cost[0]))
    torch.testing.assert_close(plan.sum(1), torch.full((1, 3), 1 / 3, dtype=torch.float64))
    torch.testing.assert_close(plan.sum(2), torch.full((1, 5), 1 / 5, dtype=torch.float64), atol=1e-3, rtol=0)
    xv = torch.tensor([[1, 1, 0, 1, 0]], dtype=torch.bool)  # padding gets no mass
    padded = ipot(cost, xv, None)
    assert float(padded[0, ~xv[0]].abs().sum()) == 0.0
    torch.testing.assert_close(padded.sum(2)[xv], torch.full((3,), 1 / 3, dtype=torch.float64), atol=1e-3, rtol=0)


def test_ot_distance_is_zero_for_identical_sets_and_permutation_invariant():
    g = torch.Generator().manual_seed(7)
    x = torch.randn(2, 6, 8, generator=g, dtype=torch.float64)
    y = torch.randn(2, 4, 8, generator=g, dtype=torch.float64)
    perm = torch.randperm(6, generator=g)
    assert float(ot_distance(x, x[:, perm]).abs().max()) < 1e-3
    d = ot_distance(x, y)
    assert float(d.min()) > 0.1
    torch.testing.assert_close(ot_distance(x[:, perm], y), d)
    torch.testing.assert_close(ot_distance(x, y[:, [3, 1, 0, 2]]), d)


def test_uniter_loss_formula_and_gradient_through_the_cost_only():
    g = torch.Generator().manual_seed(8)
    w = torch.randn(4, 5, 6, generator=g, dtype=torch.float64, requires_grad=True)
    r = torch.randn(4, 3, 6, generator=g, dtype=torch.float64)
    logits = torch.randn(4, 2, generator=g, dtype=torch.float64)
    labels = torch.tensor([1, 0, 1, 0])
    out = UNITERLoss(ot_weight=0.1)(w, r, labels, itm_logits=logits, return_dict=True)
    d = ot_distance(w, r).detach()
    expect_ot = 0.1 * (d[0] + d[2] - d[1] - d[3]) / 4
    torch.testing.assert_close(out["ot_loss"], expect_ot)
    torch.testing.assert_close(out["itm_loss"], F.cross_entropy(logits, labels))
    out["ot_loss"].backward()
    plan = ipot(cosine_cost(w, r).detach())
    w2 = w.detach().clone().requires_grad_(True)
    sign = torch.tensor([1.0, -1.0, 1.0, -1.0], dtype=torch.float64)
    (0.1 * (sign * (cosine_cost(w2, r) * plan).sum((1, 2))).sum() / 4).backward()
    torch.testing.assert_close(w.grad, w2.grad)
