"""BLOOMZ's target-only, per-sample-normalised LM loss; UDR's listwise LambdaMRR + in-batch loss;
task hinting; one training run of a tiny LM through the library's Trainer."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
import torch.nn.functional as F
from lm_reference import fast_normalize_loss, lambda_mrr_loop

from representation import registry
from representation.functional.ranking import lambda_mrr_pairs, rank_relevance
from representation.lm import IGNORE, ByteTokenizer, TinyDecoderLM, pack, prompt_target
from representation.losses import ListwiseRankLoss, TargetOnlyLMLoss, TaskHintingLoss
from representation.train import TrainConfig, Trainer

TOK = ByteTokenizer(num_sentinels=0)


def _packed(lengths: list[tuple[int, int]], max_len: int = 24, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    exs = [prompt_target(torch.randint(0, 256, (p,), generator=g).tolist(), torch.randint(0, 256, (t,), generator=g).tolist())
           for p, t in lengths]
    return exs, pack(exs, max_len, TOK.pad_id)


def test_per_sample_loss_matches_the_reference_formulation() -> None:
    exs, pb = _packed([(3, 2), (2, 9), (4, 1), (1, 6), (5, 5)])
    logits = torch.randn(*pb.input_ids.shape, TOK.vocab_size, dtype=torch.float64)
    loss = TargetOnlyLMLoss()(logits, pb.labels, pb.segment_ids)
    token_losses = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), pb.labels.clamp_min(0).reshape(-1),
                                   reduction="none").view(pb.labels.shape)
    ref = fast_normalize_loss(token_losses, (pb.labels != IGNORE).long())
    assert math.isclose(float(loss), ref, rel_tol=1e-6)
    # equivalently: the mean over samples of each sample's mean target NLL, sample by sample
    per_sample = []
    for r in range(pb.labels.shape[0]):
        for s in pb.segment_ids[r].unique().tolist():
            if s == 0:
                continue
            sel = (pb.segment_ids[r] == s) & (pb.labels[r] != IGNORE)
            per_sample.append(float(token_losses[r][sel].mean()))
    assert len(per_sample) == len(exs)
    assert math.isclose(float(loss), sum(per_sample) / len(per_sample), rel_tol=1e-6)


def test_input_tokens_get_zero_loss_and_gradient() -> None:
    _, pb = _packed([(6, 2), (3, 4)])
    logits = torch.randn(*pb.input_ids.shape, TOK.vocab_size, dtype=torch.float64, requires_grad=True)
    TargetOnlyLMLoss()(logits, pb.labels, pb.segment_ids).backward()
    no_loss = pb.labels == IGNORE
    assert torch.all(logits.grad[no_loss] == 0)
    assert torch.all(logits.grad[~no_loss].abs().sum(-1) > 0)
    changed = logits.detach().clone()
    changed[no_loss] = torch.randn_like(changed[no_loss])  # scores at input positions do not matter
    torch.testing.assert_close(TargetOnlyLMLoss()(changed, pb.labels, pb.segment_ids),
                               TargetOnlyLMLoss()(logits.detach(), pb.labels, pb.segment_ids))


def test_short_and_long_targets_weigh_the_same() -> None:
    """A 1-token and a 12-token target with the same per-token NLL each contribute half; with token
    normalisation the long target dominates (12 : 1)."""
    _, pb = _packed([(2, 1), (2, 12)], max_len=20)
    v = TOK.vocab_size
    logits = torch.zeros(*pb.input_ids.shape, v, dtype=torch.float64)
    seg = pb.segment_ids
    short = (seg == 1) & (pb.labels != IGNORE)
    long_ = (seg == 2) & (pb.labels != IGNORE)
    # per-token NLL: log V on the short sample, 0-ish on the long one (a confident right answer)
    rows, cols = long_.nonzero(as_tuple=True)
    logits[rows, cols, pb.labels[rows, cols]] = 50.0
    per_sample = float(TargetOnlyLMLoss("sample")(logits, pb.labels, seg))
    per_token = float(TargetOnlyLMLoss("token")(logits, pb.labels, seg))
    assert math.isclose(per_sample, math.log(v) / 2, rel_tol=1e-6)
    assert math.isclose(per_token, math.log(v) / 13, rel_tol=1e-3)
    assert short.sum() == 1 and long_.sum() == 12


def test_packed_equals_unpacked() -> None:
    torch.manual_seed(0)
    m = TinyDecoderLM(TOK.vocab_size, dim=16, layers=1, heads=2).double()
    exs, pb = _packed([(3, 2), (2, 5), (4, 3)], max_len=16)
    unp = pack(exs, 16, TOK.pad_id, packed=False)
    loss_fn = TargetOnlyLMLoss()
    a = loss_fn(m(pb.input_ids, pb.attention_mask, segment_ids=pb.segment_ids).logits, pb.labels, pb.segment_ids)
    b = loss_fn(m(unp.input_ids, unp.attention_mask).logits, unp.labels, unp.segment_ids)
    torch.testing.assert_close(a, b)


def test_lambda_mrr_matches_the_reference_loop() -> None:
    g = torch.Generator().manual_seed(0)
    s = torch.randn(4, 6, generator=g, dtype=torch.float64)
    rel = rank_relevance(6, torch.tensor([6, 4, 5, 2]))
    total, pairs = lambda_mrr_pairs(s, rel)
    assert math.isclose(float(total / pairs), lambda_mrr_loop(s.tolist(), rel.tolist()), rel_tol=1e-9)


def test_lambda_mrr_is_near_minimal_for_the_true_order_and_ignores_padding() -> None:
    rel = rank_relevance(5)
    true = torch.tensor([[10.0, 8.0, 6.0, 4.0, 2.0]], dtype=torch.float64)
    t_loss = lambda_mrr_pairs(true, rel)
    value = float(t_loss[0] / t_loss[1])
    for perm in itertools.permutations(range(5)):
        s = true[:, list(perm)]
        tot, n = lambda_mrr_pairs(s, rel)
        assert float(tot / n) >= value - 1e-12
    assert value < 0.02  # well separated scores in the true order: close to 0
    # padding: extra padded candidates with any score change nothing
    padded = torch.cat([true, torch.tensor([[100.0, -3.0]], dtype=torch.float64)], dim=1)
    prel = torch.cat([rel, torch.full((1, 2), -1.0)], dim=1)
    tot, n = lambda_mrr_pairs(padded, prel)
    assert math.isclose(float(tot / n), value, rel_tol=1e-12)


def test_listwise_loss_in_batch_term_and_padding() -> None:
    g = torch.Generator().manual_seed(1)
    b, k, d = 3, 4, 5
    q = torch.randn(b, d, generator=g, dtype=torch.float64, requires_grad=True)
    c = torch.randn(b, k, d, generator=g, dtype=torch.float64, requires_grad=True)
    loss = ListwiseRankLoss(rank_weight=0.5)
    out = loss(q, c, return_dict=True)
    scores = q @ c.reshape(b * k, d).T
    ce = F.cross_entropy(scores, torch.arange(b) * k)  # the reference's in-batch term
    torch.testing.assert_close(out["inbatch_loss"], ce)
    rk = torch.einsum("bd,bkd->bk", q, c)
    ref = lambda_mrr_loop(rk.tolist(), rank_relevance(k, batch=b).tolist())
    assert math.isclose(float(out["listwise_loss"]), 0.5 * ref, rel_tol=1e-9)
    # padded candidates: removed from the ranking pairs AND the in-batch softmax
    lengths = torch.tensor([4, 2, 3])
    out_p = loss(q, c, lengths=lengths, return_dict=True)
    keep = (torch.arange(k).unsqueeze(0) < lengths.unsqueeze(1)).reshape(-1)
    ce_p = F.cross_entropy(scores[:, keep], torch.tensor([0, 4, 6]))
    torch.testing.assert_close(out_p["inbatch_loss"], ce_p)
    c2 = c.detach().clone()
    c2[1, 2:] = 100.0  # garbage in padded slots
    torch.testing.assert_close(loss(q.detach(), c2, lengths=lengths), loss(q.detach(), c.detach(), lengths=lengths))
    out["listwise_loss"].add(out["inbatch_loss"]).backward()
    assert torch.isfinite(q.grad).all() and torch.isfinite(c.grad).all()
    assert torch.autograd.gradcheck(lambda a, bb: ListwiseRankLoss()(a, bb, lengths=lengths), (q.detach().requires_grad_(), c.detach().requires_grad_()))


def test_task_hinting_is_main_plus_weighted_hint() -> None:
    loss = registry.build({"type": "task_hinting", "main": {"type": "cross_entropy"}, "hint": {"type": "cross_entropy"},
                           "hint_weight": 0.3})
    assert isinstance(loss, TaskHintingLoss)
    a, ya = torch.randn(5, 4), torch.randint(0, 4, (5,))
    h = torch.randn(5, 3, requires_grad=True)
    yh = torch.randint(0, 3, (5,))
    total = loss({"main": (a, ya), "hint": (h, yh)})
    torch.testing.assert_close(total, F.cross_entropy(a, ya) + 0.3 * F.cross_entropy(h, yh))
    assert registry.build(registry.to_config(loss)).get_config_dict() == loss.get_config_dict()
    off = TaskHintingLoss({"type": "cross_entropy"}, {"type": "cross_entropy"}, hint_weight=0.0)
    h2 = torch.randn(5, 3, requires_grad=True)
    off({"main": (a.requires_grad_(), ya), "hint": (h2, yh)}).backward()
    assert h2.grad is None  # the hint head gets no gradient without the hint


def test_tiny_lm_trains_with_the_library_trainer(tmp_path) -> None:
    """BLOOMZ-style fine-tuning through representation.train.Trainer (no second trainer)."""
    torch.manual_seed(0)
    exs = [prompt_target(TOK.encode(f"{i} plus one is"), TOK.encode(f" {i + 1}.")) for i in range(40)]
    pb = pack(exs, 48, TOK.pad_id)
    data = torch.utils.data.TensorDataset(pb.input_ids, pb.labels, pb.segment_ids)
    model = TinyDecoderLM(TOK.vocab_size, dim=32, layers=1, heads=2)

    class Wrapped(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lm = model

        def forward(self, batch):
            ids, _, seg = batch
            return self.lm(ids, (seg > 0).long(), segment_ids=seg).logits

    loss = TargetOnlyLMLoss()
    cfg = TrainConfig(out_dir=str(tmp_path), total_steps=30, batch_size=4, lr=3e-3, progress=False, device="cpu",
                      checkpoint_every=1000)
    wrapped = Wrapped()
    full = (pb.input_ids, pb.labels, pb.segment_ids)
    with torch.no_grad():
        first = float(loss(wrapped(full), pb.labels, pb.segment_ids))
    Trainer(wrapped, lambda logits, batch: loss(logits, batch[1], batch[2], return_dict=True), data, cfg).fit()
    with torch.no_grad():
        last = float(loss(wrapped(full), pb.labels, pb.segment_ids))
    assert last < first - 1.0


@pytest.mark.parametrize("name", ["target_only_lm", "listwise_rank"])
def test_registry_round_trip(name: str) -> None:
    x = registry.build(name)
    assert registry.build(registry.to_config(x)).get_config_dict() == x.get_config_dict()
