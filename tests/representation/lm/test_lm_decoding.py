"""Decoding: greedy / beam search on the cache, contrastive search (Su et al. 2022) and
trie-constrained decoding (UGR)."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from lm_reference import naive_contrastive, naive_greedy
from torch import nn

from representation import registry
from representation.decoding import (
    ContrastiveSearch,
    Trie,
    beam_search,
    contrastive_search,
    generate,
    trie_constrained_generate,
)
from representation.eval import isotropy
from representation.lm import LMOutput, TinyDecoderLM, TinyEncoderDecoder, pad

V = 40


def _lm(seed: int = 0, positions: str = "learned") -> TinyDecoderLM:
    torch.manual_seed(seed)
    m = TinyDecoderLM(V, dim=16, layers=2, heads=2, positions=positions).double().eval()
    with torch.no_grad():  # sharper next-token distributions than the 0.02 init
        m.stack.embed.weight.mul_(40)
    return m


def test_greedy_matches_naive_loop() -> None:
    m = _lm()
    ids = [3, 9, 4]
    got = generate(m, torch.tensor([ids]), max_new_tokens=7)[0].tolist()
    assert got == naive_greedy(m, ids, 7)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_contrastive_search_matches_uncached_reference(seed: int) -> None:
    m = _lm(seed, "rotary")
    ids = [1, 7, 2, 7]
    got = contrastive_search(m, torch.tensor([ids]), alpha=0.6, k=4, max_new_tokens=8)[0].tolist()
    assert got == naive_contrastive(m, ids, 0.6, 4, 8)


def test_alpha_zero_is_greedy_batched_and_encoder_decoder() -> None:
    m = _lm(3, "rotary")
    ids, mask = pad([[1, 2, 3, 4, 5], [6, 7]], 0, side="left")
    g = generate(m, ids, mask, max_new_tokens=10)
    c = contrastive_search(m, ids, mask, alpha=0.0, k=5, max_new_tokens=10)
    assert torch.equal(g, c)
    torch.manual_seed(4)
    ed = TinyEncoderDecoder(V, dim=16, layers=1, heads=2).double().eval()
    src = torch.randint(3, V, (3, 6))
    g = generate(ed, src, max_new_tokens=6, decoder_start_id=1)
    c = contrastive_search(ed, src, alpha=0.0, k=3, max_new_tokens=6, decoder_start_id=1)
    assert torch.equal(g, c)


class LoopLM(nn.Module):
    """A toy LM stuck in a repetition loop: the next token is (current + 1) mod 3 with probability
    0.55, and any of 3 + j otherwise; the hidden state of a token is its own one-hot row, so a
    repeated token is a perfect cosine match of its earlier occurrence."""

    is_encoder_decoder = False

    def __init__(self, vocab: int = 12) -> None:
        super().__init__()
        self.vocab = vocab
        p = torch.full((vocab, vocab), 0.45 / (vocab - 3))
        p[:, :3] = 0.0
        for t in range(vocab):
            p[t, (t + 1) % 3] = 0.55
        self.register_buffer("logp", p.clamp_min(1e-9).log())

    def forward(self, input_ids, attention_mask=None, *, past_key_values=None, use_cache=False, **_):
        hidden = torch.nn.functional.one_hot(input_ids, self.vocab).double()
        return LMOutput(self.logp[input_ids].double(), hidden, () if use_cache else None)


def _rep2(seq: list[int]) -> float:
    """Fraction of repeated bigrams (rep-2 of Su et al.)."""
    grams = list(itertools.pairwise(seq))
    return 1.0 - len(set(grams)) / len(grams)


def test_contrastive_search_escapes_a_repetition_loop() -> None:
    m = LoopLM()
    ids = torch.tensor([[0]])
    greedy = generate(m, ids, max_new_tokens=20)[0].tolist()
    assert greedy[:6] == [1, 2, 0, 1, 2, 0]  # stuck
    cs = contrastive_search(m, ids, alpha=0.6, k=4, max_new_tokens=20)[0].tolist()
    assert _rep2(greedy) > 0.8 and _rep2(cs) < _rep2(greedy) - 0.3
    assert len(set(cs)) > len(set(greedy))


def test_isotropy_of_gaussian_vectors_is_about_one() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(400, 64, generator=g)
    assert abs(isotropy(x) - 1.0) < 0.01
    assert isotropy(x + 10.0) < 0.1  # anisotropic: all vectors near one direction


def test_contrastive_search_config_round_trip() -> None:
    d = registry.build({"type": "contrastive_search", "alpha": 0.4, "k": 3, "max_new_tokens": 5})
    assert isinstance(d, ContrastiveSearch) and registry.to_config(d)["alpha"] == 0.4
    out = d(_lm(), torch.tensor([[1, 2]]))
    assert out.shape == (1, 5)
    with pytest.raises(ValueError, match="alpha"):
        ContrastiveSearch(alpha=1.5)


def _seq_logprob(m, prompt: list[int], seq: list[int]) -> float:
    lp = torch.log_softmax(m(torch.tensor([[*prompt, *seq]])).logits[0].double(), -1)
    return sum(float(lp[len(prompt) - 1 + i, t]) for i, t in enumerate(seq))


def test_beam_search_finds_the_best_sequence_by_enumeration() -> None:
    m = _lm(5)
    prompt = [4, 5]
    eos = 0
    seqs, scores = beam_search(m, torch.tensor([prompt]), num_beams=V * V, max_new_tokens=2, eos_id=eos)
    # an exhaustive beam over two steps is exact: compare with all V * V continuations
    best = max(itertools.product(range(V), repeat=2),
               key=lambda s: _seq_logprob(m, prompt, list(s[:1]) if s[0] == eos else list(s)))
    got = seqs[0, 0].tolist()
    want = [best[0], 0] if best[0] == eos else list(best)
    assert got == want
    assert math.isclose(float(scores[0, 0]), _seq_logprob(m, prompt, got[:1] if got[0] == eos else got), rel_tol=1e-9)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.lists(st.integers(2, V - 1), min_size=1, max_size=4), min_size=1, max_size=8),
       st.integers(0, 5), st.integers(1, 6))
def test_trie_constrained_decoding_emits_only_valid_ids(ids: list[list[int]], seed: int, beams: int) -> None:
    trie = Trie(ids, eos_id=1)
    valid = {tuple(s) for s in ids}
    m = _lm(seed)
    out = trie_constrained_generate(m, torch.tensor([[3, 4], [5, 6]]), trie, num_beams=beams)
    for row in out:
        assert row, "at least one valid identifier"
        assert all(tuple(s) in valid for s, _ in row)
        assert len({tuple(s) for s, _ in row}) == len(row)
        assert [sc for _, sc in row] == sorted((sc for _, sc in row), reverse=True)
    assert len(out[0]) == min(beams, len(valid)) or len(out[0]) <= beams


def test_trie_beam_scores_are_exact_and_best_is_argmax() -> None:
    m = _lm(7)
    ids = [[2, 3], [2, 4, 5], [6], [7, 8, 9]]
    trie = Trie(ids, eos_id=1)
    prompt = [10, 11]
    out = trie_constrained_generate(m, torch.tensor([prompt]), trie, num_beams=4)[0]
    # reference: the model's log-probability of the identifier followed by eos (no renormalisation)
    scores = {tuple(s): _seq_logprob(m, prompt, [*s, 1]) for s in ids}
    assert {tuple(s) for s, _ in out} == set(scores)
    for s, sc in out:
        assert math.isclose(sc, scores[tuple(s)], rel_tol=1e-9)
    assert tuple(out[0][0]) == max(scores, key=scores.get)


def test_trie_basics() -> None:
    t = Trie([[1, 2], [1, 3, 4]], eos_id=0)
    assert t.allowed([]) == [1] and t.allowed([1]) == [2, 3] and t.allowed([1, 2]) == [0]
    assert t.allowed([5]) == [] and [1, 3, 4] in t and [1, 3] not in t and len(t) == 2
    with pytest.raises(ValueError, match="eos"):
        Trie([[0, 1]], eos_id=0)
