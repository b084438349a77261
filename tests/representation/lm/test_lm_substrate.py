"""The LM substrate: byte tokenizer, tiny decoder-only / encoder-decoder models with a KV cache,
packing with per-sample boundaries, loss masks, padding."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from representation.decoding import advance, select, start
from representation.lm import (
    IGNORE,
    ByteTokenizer,
    Example,
    TinyDecoderLM,
    TinyEncoderDecoder,
    causal_labels,
    pack,
    pad,
    prompt_target,
    seq2seq_batch,
)

TOK = ByteTokenizer(num_sentinels=4, extra_tokens=["[R]", "[S]", "[X]"])


def _dec(positions: str = "learned", seed: int = 0) -> TinyDecoderLM:
    torch.manual_seed(seed)
    return TinyDecoderLM(TOK.vocab_size, dim=32, layers=2, heads=4, positions=positions).eval().double()


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=40))
def test_tokenizer_round_trip(text: str) -> None:
    assert TOK.decode(TOK.encode(text, parse_special=False)) == text
    ids = TOK.encode(text)
    assert all(0 <= i < TOK.vocab_size for i in ids)
    assert TOK.decode(ids) == text  # names of special tokens are re-rendered identically


def test_tokenizer_specials() -> None:
    ids = TOK.encode("a<extra_id_3>b[X]<mask>", add_bos=True, add_eos=True)
    assert ids == [TOK.bos_id, 97, TOK.sentinel_id(3), 98, TOK.token_id("[X]"), TOK.mask_id, TOK.eos_id]
    assert TOK.decode(ids, skip_special=True) == "ab"
    assert TOK.vocab_size == 256 + 6 + 4 + 3
    with pytest.raises(ValueError, match="num_sentinels"):
        TOK.sentinel_id(4)
    with pytest.raises(ValueError, match="outside the vocabulary"):
        TOK.decode([TOK.vocab_size])
    big = ByteTokenizer(num_sentinels=12)  # "<extra_id_10>" must not parse as "<extra_id_1>" + "0>"
    assert big.encode("<extra_id_10>") == [big.sentinel_id(10)]


@pytest.mark.parametrize("positions", ["learned", "rotary"])
def test_decoder_cache_equals_full_forward(positions: str) -> None:
    m = _dec(positions)
    ids = torch.randint(0, 256, (2, 9))
    full = m(ids)
    state = start(m, ids[:, :4])
    for t in range(4, 9):
        torch.testing.assert_close(state.logits, full.logits[:, t - 1])
        state = advance(m, state, ids[:, t])
    torch.testing.assert_close(state.hidden, full.hidden)


def test_left_padding_equals_unpadded_rows() -> None:
    m = _dec("rotary")
    a, b = [5, 6, 7, 8, 9], [11, 12]
    ids, mask = pad([a, b], TOK.pad_id, side="left")
    state = start(m, ids, mask)
    state = advance(m, state, torch.tensor([40, 41]))
    for row, seq, nxt in ((0, a, 40), (1, b, 41)):
        alone = m(torch.tensor([[*seq, nxt]])).logits[0, -1]
        torch.testing.assert_close(state.logits[row], alone)


def test_select_cache_reorders_rows() -> None:
    m = _dec()
    ids = torch.randint(0, 256, (3, 5))
    st3 = start(m, ids)
    picked = advance(m, select(st3, torch.tensor([2, 2, 0])), torch.tensor([1, 2, 3]))
    for r, (src, tok) in enumerate(((2, 1), (2, 2), (0, 3))):
        ref = m(torch.cat([ids[src], torch.tensor([tok])]).unsqueeze(0)).logits[0, -1]
        torch.testing.assert_close(picked.logits[r], ref)


def test_packing_equals_samples_alone() -> None:
    m = _dec()
    exs = [prompt_target(TOK.encode("ab"), TOK.encode("cde")), prompt_target(TOK.encode("wxyz"), TOK.encode("q")),
           prompt_target(TOK.encode("k"), TOK.encode("lmnop"))]
    pb = pack(exs, 12, TOK.pad_id)
    assert pb.input_ids.shape == (2, 12)  # 5 + 5 fit in row 0, 6 in row 1
    assert pb.segment_ids[0].tolist() == [1] * 5 + [2] * 5 + [0, 0]
    out = m(pb.input_ids, pb.attention_mask, segment_ids=pb.segment_ids)
    pos = {0: (0, 0), 1: (0, 5), 2: (1, 0)}
    for i, ex in enumerate(exs):
        r, s = pos[i]
        alone = m(torch.tensor([ex.ids])).logits[0]
        torch.testing.assert_close(out.logits[r, s:s + len(ex.ids)], alone)
        assert pb.labels[r, s:s + len(ex.ids)].tolist() == causal_labels(ex.ids, ex.loss_mask)
    # no label crosses a sample boundary and inputs are never targets
    assert pb.labels[0, 4] == IGNORE and pb.labels[0, 9] == IGNORE
    assert pb.labels[0].tolist()[:4] == [IGNORE, 99, 100, 101]
    unpacked = pack(exs, 12, TOK.pad_id, packed=False)
    assert unpacked.input_ids.shape == (3, 12)


def test_encoder_segments_equal_samples_alone() -> None:
    torch.manual_seed(1)
    m = TinyEncoderDecoder(TOK.vocab_size, dim=32, layers=1).eval().double()
    a, b = torch.tensor([[3, 4, 5]]), torch.tensor([[7, 8]])
    packed = torch.cat([a, b], dim=1)
    seg = torch.tensor([[1, 1, 1, 2, 2]])
    h = m.encode(packed, segment_ids=seg)
    torch.testing.assert_close(h[:, :3], m.encode(a))
    torch.testing.assert_close(h[:, 3:], m.encode(b))


def test_encoder_decoder_cache_and_padding() -> None:
    torch.manual_seed(2)
    m = TinyEncoderDecoder(TOK.vocab_size, dim=32, layers=2, decoder_layers=1).eval().double()
    batch = seq2seq_batch([(TOK.encode("hello"), TOK.encode("hi")), (TOK.encode("yo"), TOK.encode("hey"))],
                          TOK.pad_id, TOK.bos_id)
    out = m(batch["input_ids"], batch["attention_mask"], batch["decoder_input_ids"],
            decoder_attention_mask=batch["decoder_attention_mask"])
    alone = m(torch.tensor([TOK.encode("yo")]), decoder_input_ids=torch.tensor([[TOK.bos_id, *TOK.encode("he")]]))
    torch.testing.assert_close(out.logits[1], alone.logits[0])  # encoder padding is masked
    assert batch["labels"][0].tolist() == [*TOK.encode("hi"), IGNORE]
    state = start(m, batch["input_ids"], batch["attention_mask"], decoder_start_id=TOK.bos_id)
    torch.testing.assert_close(state.logits, out.logits[:, 0])
    state = advance(m, state, batch["decoder_input_ids"][:, 1])
    torch.testing.assert_close(state.logits, out.logits[:, 1])


def test_prefix_embeds_condition_the_decoder() -> None:
    m = _dec()
    ids = torch.randint(0, 256, (2, 4))
    pre = torch.randn(2, 3, 32, dtype=torch.float64)
    out = m(ids, prefix_embeds=pre)
    assert out.logits.shape == (2, 4, TOK.vocab_size)
    state = start(m, ids[:, :2], prefix_embeds=pre)
    state = advance(m, state, ids[:, 2])
    torch.testing.assert_close(state.logits, out.logits[:, 2])
    assert not torch.allclose(out.logits, m(ids).logits)


def test_bad_inputs_raise_clear_errors() -> None:
    m = _dec()
    with pytest.raises(ValueError, match="attention_mask must be"):
        m(torch.zeros(1, 3, dtype=torch.long), torch.ones(1, 2))
    with pytest.raises(ValueError, match="max_len"):
        TinyDecoderLM(TOK.vocab_size, dim=8, heads=2, max_len=4)(torch.zeros(1, 5, dtype=torch.long))
    from representation.errors import DataError
    with pytest.raises(DataError, match="does not fit"):
        pack([Example([1] * 9, [True] * 9)], 8, 0)
    with pytest.raises(DataError):
        Example([1, 2], [True])


def test_pad_sides() -> None:
    ids, mask = pad([[1, 2, 3], [4]], 0, side="left")
    assert ids.tolist() == [[1, 2, 3], [0, 0, 4]] and mask.tolist() == [[1, 1, 1], [0, 0, 1]]
    ids, mask = pad([[1, 2, 3], [4]], 0)
    assert ids.tolist() == [[1, 2, 3], [4, 0, 0]]
