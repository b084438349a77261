"""Text recipes: UL2 denoisers, table corruption, In-BoXBART instructions + task mixtures, PCP
templates and MLM masking, QAmden data."""

from __future__ import annotations

import random
import statistics

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from representation import registry
from representation.lm import ByteTokenizer, TinyEncoderDecoder
from representation.samplers import TaskMixtureSampler, mixing_rates
from representation.text import (
    UL2_DENOISERS,
    InstructionFormatter,
    MixtureOfDenoisers,
    MLMMasking,
    QAmdenBuilder,
    TableSpanCorruption,
    TaskInstruction,
    corrupt,
    linearize_table,
    noise_counts,
    random_span_mask,
    rebuild,
    rouge1_f,
    spans_of,
    split_sentences,
    verbalizer_logits,
)

TOK = ByteTokenizer(num_sentinels=100, extra_tokens=["[R]", "[S]", "[X]"])
SENT = [TOK.sentinel_id(i) for i in range(100)]


@settings(max_examples=80, deadline=None)
@given(st.integers(2, 199), st.floats(0.05, 0.9), st.floats(1.0, 40.0), st.integers(0, 10_000))
def test_span_mask_counts_match_config_and_rebuild(length: int, rate: float, mean_span: float, seed: int) -> None:
    rng = random.Random(seed)
    mask = random_span_mask(length, rate, mean_span, rng)
    n_noise, n_spans = noise_counts(length, rate, mean_span)
    # independent count from the definition: round(L * rate) clamped, round(noise / mean_span) spans
    want_noise = min(max(round(length * rate), 1), length - 1)
    assert sum(mask) == n_noise == want_noise
    assert len(spans_of(mask)) == n_spans
    assert n_spans == min(max(round(want_noise / mean_span), 1), want_noise, length - want_noise)
    assert not mask[0]  # T5 interleaving starts with a non-noise run
    toks = [rng.randrange(256) for _ in range(length)]
    inputs, targets = corrupt(toks, mask, SENT)
    assert rebuild(inputs, targets, SENT) == toks
    assert len(inputs) == length - n_noise + n_spans and len(targets) == n_noise + n_spans


def test_ul2_statistics_over_many_examples_match_config() -> None:
    mod = MixtureOfDenoisers(TOK)
    rng = random.Random(0)
    toks = [random.Random(1).randrange(256) for _ in range(200)]
    seen = {d.name: [] for d in UL2_DENOISERS}
    for _ in range(1400):
        ex = mod(toks, rng)
        seen[ex["denoiser"]].append(ex)
    for d in UL2_DENOISERS:
        exs = seen[d.name]
        assert abs(len(exs) / 1400 - 1 / 7) < 0.03  # equal weights
        mode = TOK.token_id(d.mode_token)
        for ex in exs[:20]:
            assert ex["inputs"][0] == mode
            if d.kind == "span":
                assert rebuild(ex["inputs"][1:], ex["targets"], SENT) == toks
            else:
                assert ex["inputs"][1:] + ex["targets"] == toks
        if d.kind == "span":
            noise = [sum(t not in SENT for t in ex["targets"]) for ex in exs]
            spans = [sum(t in SENT for t in ex["targets"]) for ex in exs]
            assert abs(statistics.mean(noise) / 200 - d.rate) < 0.01
            want_noise = round(200 * d.rate)
            want_spans = max(round(want_noise / d.mean_span), 1)  # T5's rounding (a span cannot exceed the noise)
            assert set(noise) == {want_noise} and set(spans) == {want_spans}
            if want_noise >= 2 * d.mean_span:
                assert abs(want_noise / want_spans - d.mean_span) / d.mean_span < 0.1
        else:
            frac = statistics.mean(len(ex["targets"]) / 200 for ex in exs)
            assert abs(frac - d.rate) < 0.03


def test_ul2_config_round_trip_and_validation() -> None:
    mod = registry.build({"type": "ul2_denoiser", "denoisers": [{"name": "R", "kind": "span", "mode_token": "[R]",
                                                                   "rate": 0.15, "mean_span": 3.0}]}, tokenizer=TOK)
    cfg = registry.to_config(mod)
    assert registry.build(cfg, tokenizer=TOK).get_config_dict() == mod.get_config_dict()
    with pytest.raises(ValueError, match="bad denoiser"):
        MixtureOfDenoisers(TOK, denoisers=[{"name": "bad", "kind": "span", "mode_token": "[R]", "rate": 1.5}])


def _table():
    return linearize_table(["city", "country", "pop"], [["Paris", "France", "2.1M"], ["Lyon", "France", "0.5M"],
                                                         ["Bern", "Switzerland", "0.1M"]], TOK.encode,
                           context="largest cities")


def test_table_linearisation_is_deterministic_and_records_cells() -> None:
    a, b = _table(), _table()
    assert a.tokens == b.tokens and a.cells == b.cells
    text = TOK.decode(a.tokens)
    assert text == ("largest cities ; col: city | country | pop ; row 1: Paris | France | 2.1M ; "
                    "row 2: Lyon | France | 0.5M ; row 3: Bern | Switzerland | 0.1M")
    for r, c, s, e in a.cells:
        assert TOK.decode(a.tokens[s:e]) == (["city", "country", "pop"] if r < 0 else
                                             [["Paris", "France", "2.1M"], ["Lyon", "France", "0.5M"],
                                              ["Bern", "Switzerland", "0.1M"]][r])[c]


@pytest.mark.parametrize("seed", range(30))
def test_table_corruption_respects_cell_boundaries(seed: int) -> None:
    table = _table()
    mod = TableSpanCorruption(TOK, rate=0.4, mean_span=2.0)
    ex = mod(table, random.Random(seed))
    assert rebuild(ex["inputs"], ex["targets"], SENT) == table.tokens
    cell_spans = {(s, e) for r, c, s, e in table.cells if r >= 0}
    # recover each noise span's token range and check it is exactly one body cell
    pos, spans, i = 0, [], 0
    for t in ex["inputs"]:
        if t in SENT:
            seg = []
            grab = False
            for u in ex["targets"]:
                if u == t:
                    grab = True
                    continue
                if grab and u in SENT:
                    break
                if grab:
                    seg.append(u)
            spans.append((pos, pos + len(seg)))
            pos += len(seg)
        else:
            pos += 1
        i += 1
    assert spans and all(sp in cell_spans for sp in spans)
    assert len(spans) == len(ex["noised_cells"]) == round(9 * 0.4)


def test_instruction_formatter_is_deterministic() -> None:
    task = TaskInstruction("ner", "Find the country in the sentence.", positive=[("I flew to Peru", "Peru")],
                           negative=[("Rome is nice", "Rome", "Rome is a city")])
    fmt = registry.build({"type": "instruction_formatter", "num_positive": 1, "num_negative": 1})
    s = fmt(task, "We met in Chile")
    assert s == fmt.format(task, "We met in Chile")
    assert s == ("Definition: Find the country in the sentence. Positive Example 1- input: I flew to Peru output: "
                 "Peru. Negative Example 1- input: Rome is nice output: Rome. explanation: Rome is a city. Now "
                 "complete the following example- input: We met in Chile output:")
    assert "Negative" not in InstructionFormatter(num_negative=0)(task, "x")


def test_mixing_rates_formulas() -> None:
    sizes = [1000, 100, 10]
    assert mixing_rates(sizes) == pytest.approx([1000 / 1110, 100 / 1110, 10 / 1110])
    assert mixing_rates(sizes, cap=100) == pytest.approx([100 / 210, 100 / 210, 10 / 210])
    t = [n ** 0.5 for n in sizes]
    assert mixing_rates(sizes, "temperature", temperature=2.0) == pytest.approx([x / sum(t) for x in t])
    assert mixing_rates(sizes, "uniform") == pytest.approx([1 / 3] * 3)
    with pytest.raises(ValueError, match="unknown mixing"):
        mixing_rates(sizes, "nope")


def test_task_mixture_sampler_proportions_match_config() -> None:
    sizes = [500, 60, 20]
    s = TaskMixtureSampler(sizes, batch_size=32, num_batches=200, mode="temperature", temperature=2.0, seed=1)
    counts = [0, 0, 0]
    for batch in s:
        for i in batch:
            counts[s.task_of(i)] += 1
    n = sum(counts)
    for c, r in zip(counts, s.rates):
        assert abs(c / n - r) < 4 * (r * (1 - r) / n) ** 0.5  # 4 standard deviations of a multinomial
    # ranks split the same global batches
    parts = [list(TaskMixtureSampler(sizes, 16, 5, seed=3, num_replicas=2, rank=r)) for r in range(2)]
    whole = list(TaskMixtureSampler(sizes, 32, 5, seed=3))
    assert [a + b for a, b in zip(*parts)] == whole
    cfg = registry.to_config(s)
    assert registry.build(cfg, sizes=sizes).rates == s.rates


def test_mlm_masking_statistics() -> None:
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(0, 256, (200, 100), generator=g)
    maskable = torch.ones_like(ids, dtype=torch.bool)
    maskable[:, :10] = False  # e.g. the template's own words or special tokens
    mlm = MLMMasking(TOK.mask_id, rate=0.2)
    inputs, labels = mlm(ids, maskable, g)
    sel = labels != -100
    assert not sel[:, :10].any()
    assert abs(sel[:, 10:].float().mean().item() - 0.2) < 0.01
    assert torch.equal(labels[sel], ids[sel])
    masked = (inputs == TOK.mask_id) & sel
    changed = (inputs != ids) & (inputs != TOK.mask_id) & sel
    kept = (inputs == ids) & sel
    n = sel.sum().item()
    assert abs(masked.sum().item() / n - 0.8) < 0.02
    assert abs((changed | kept).sum().item() / n - 0.2) < 0.02
    assert torch.equal(inputs[~sel], ids[~sel])


def test_prompt_template_and_verbalizer() -> None:
    tpl = registry.build({"type": "prompt_template", "template": "{text} It was {mask}.", "target": "{label}"})
    assert tpl.wrap("great film") == "great film It was <mask>."
    assert tpl.format_target(label="good") == "good"
    with pytest.raises(ValueError, match="needs fields"):
        tpl.format()
    torch.manual_seed(0)
    m = TinyEncoderDecoder(TOK.vocab_size, dim=16, layers=1, heads=2).double()
    from representation.lm import pad

    ids, _ = pad([TOK.encode(tpl.wrap("ok")), [*TOK.encode("meh"), TOK.mask_id, *TOK.encode("!")]], TOK.pad_id)
    logits = m.mlm_logits(ids)
    words = [ord("g"), ord("b")]
    got = verbalizer_logits(logits, ids, TOK.mask_id, words)
    for r in range(2):
        p = (ids[r] == TOK.mask_id).nonzero()[0, 0]
        assert torch.equal(got[r], logits[r, p, words])


CLUSTER = [
    "The storm hit Lisbon on Monday. Ferries were cancelled across the Tagus estuary. Officials urged calm.",
    "Ferries in Lisbon stayed in port as the storm crossed the Tagus estuary on Monday. Schools closed.",
    "A Monday storm closed schools in Lisbon. The estuary ferries resumed on Tuesday.",
]


def test_qamden_salient_sentence_never_leaks_into_context() -> None:
    b = QAmdenBuilder()
    for seed in range(5):
        ex = b(CLUSTER, random.Random(seed))
        assert ex["sentence"] not in ex["inputs"]
        assert all(ex["sentence"] not in c for c in ex["context_docs"])
        assert ex["sentence"] in ex["target"] and ex["answer"] in ex["target"]
        assert ex["inputs"].startswith("question: ")
    # the salient sentence is the argmax of ROUGE-1 against the other documents (loop)
    best = max(((d, s) for d, doc in enumerate(CLUSTER) for s, _ in enumerate(split_sentences(doc))),
               key=lambda ds: (rouge1_f(_w(split_sentences(CLUSTER[ds[0]])[ds[1]]),
                                        _w(" ".join(o for j, o in enumerate(CLUSTER) if j != ds[0]))),
                               -ds[0], -ds[1]))
    ex = b(CLUSTER, random.Random(0))
    assert ex["sentence"] == split_sentences(CLUSTER[best[0]])[best[1]]
    # other documents stay whole; the source document loses exactly that sentence
    others = [c for j, c in enumerate(CLUSTER) if j != ex["doc"]]
    assert all(o in ex["inputs"] for o in others)
    with pytest.raises(ValueError, match="at least 2"):
        b(CLUSTER[:1], random.Random(0))


def _w(t: str) -> list[str]:
    import re

    return [x.lower() for x in re.findall(r"[A-Za-z0-9][A-Za-z0-9'-]*", t)]


def test_qamden_removes_a_repeated_salient_sentence() -> None:
    dup = ["Rain fell on Oslo today. Trams ran late.", "Rain fell on Oslo today. Buses too.", "Oslo rain fell today."]
    ex = QAmdenBuilder()(dup, random.Random(0))
    assert all(ex["sentence"] not in c for c in ex["context_docs"])
