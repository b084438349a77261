"""Slow toy "beats its baseline" runs of the LM methods (issue 16). Every run is seeded; the
numbers are printed (``-s``) and recorded in benchmarks/RESULTS.md. Tiny models, CPU, a few
hundred steps through the library's Trainer."""

from __future__ import annotations

import itertools
import random

import pytest
import torch

from representation.decoding import contrastive_search, generate
from representation.lm import ByteTokenizer, TinyDecoderLM, TinyEncoderDecoder, pad
from representation.testing.lm_toys import (
    Causal,
    Seq2Seq,
    causal_data,
    causal_predict,
    exact_match,
    random_word,
    repetition,
    seq2seq_data,
    seq2seq_predict,
    train,
)

pytestmark = pytest.mark.slow
TOK = ByteTokenizer(num_sentinels=40, extra_tokens=["[R]", "[S]", "[X]"])


def _ed(dim: int = 64, layers: int = 2, seed: int = 0) -> TinyEncoderDecoder:
    torch.manual_seed(seed)
    return TinyEncoderDecoder(TOK.vocab_size, dim=dim, layers=layers, heads=4, max_len=384)


def _dec(dim: int = 64, layers: int = 2, seed: int = 0, positions: str = "learned") -> TinyDecoderLM:
    torch.manual_seed(seed)
    return TinyDecoderLM(TOK.vocab_size, dim=dim, layers=layers, heads=4, max_len=512, positions=positions)


# ------------------------------------------------------------------ In-BoXBART: instructions
TASKS = {
    "reverse": ("Write the word backwards.", lambda w: w[::-1]),
    "upper": ("Write the word in capitals.", lambda w: w.upper()),
    "first": ("Repeat the first letter three times.", lambda w: w[0] * 3),
    "last": ("Repeat the last letter three times.", lambda w: w[-1] * 3),
}


@pytest.mark.xfail(strict=True, reason="measured 2026-12-03: instructions 0.050 vs plain 0.281 exact match; the tiny model does not learn to read the instruction in 700 steps")
def test_toy_inbox_instructions_beat_plain_multitask() -> None:
    from representation.text import InstructionFormatter, TaskInstruction

    rng = random.Random(0)
    fmt = InstructionFormatter(num_positive=0, num_negative=0)
    inst = {k: TaskInstruction(k, d, positive=[("cabd", f("cabd"))]) for k, (d, f) in TASKS.items()}
    train_rows = [(k, random_word(rng)) for _ in range(500) for k in TASKS]
    test_rows = [(k, random_word(rng)) for _ in range(40) for k in TASKS]
    res = {}
    for name, make in (("plain", lambda k, w: w), ("instructions", lambda k, w: fmt(inst[k], w))):
        data = seq2seq_data([(make(k, w), TASKS[k][1](w)) for k, w in train_rows], TOK)
        model = train(Seq2Seq(_ed(64)), data, steps=700, batch_size=32, lr=3e-3).model
        pred = seq2seq_predict(model, [make(k, w) for k, w in test_rows], TOK, 10)
        res[name] = exact_match(pred, [TASKS[k][1](w) for k, w in test_rows])
    print(f"\nIn-BoXBART toy (4 tasks sharing one input format): exact match plain {res['plain']:.3f}, "
          f"with instructions {res['instructions']:.3f}")
    assert res["instructions"] > res["plain"] + 0.2


# ------------------------------------------------------------------ BLOOMZ / xP3: target-only, per-sample loss
def test_toy_bloomz_per_sample_normalisation_helps_short_targets() -> None:
    rng = random.Random(1)

    def short(w):  # a one-token answer
        return (f"has h? {w} =", "y" if "h" in w else "n")

    def long_(w):  # a long answer
        return (f"copy {w} =", w + w[::-1])

    words = [random_word(rng, lo=5, hi=8) for _ in range(1600)]
    train_pairs = [short(w) if i % 2 else long_(w) for i, w in enumerate(words[:1200])]
    test_short = [short(w) for w in words[1200:]]
    res = {}
    for name, kw in (("full sequence", {"loss_on_inputs": True, "norm": "token"}),
                     ("targets, per token", {"loss_on_inputs": False, "norm": "token"}),
                     ("targets, per sample", {"loss_on_inputs": False, "norm": "sample"})):
        from representation.losses import TargetOnlyLMLoss

        data = causal_data(train_pairs, TOK, 96, loss_on_inputs=kw["loss_on_inputs"])
        lm = TargetOnlyLMLoss(kw["norm"])
        model = train(Causal(_dec(48)), data, steps=200, batch_size=8, lr=3e-3,
                      loss_fn=lambda lo, b, lm=lm: lm(lo, b["labels"], b["segment_ids"], return_dict=True)).model
        pred = causal_predict(model, [x for x, _ in test_short], TOK, 2)
        res[name] = exact_match([p[:1] for p in pred], [y for _, y in test_short])
    print("\nBLOOMZ toy, short-answer accuracy (1-token answers packed with 12-token answers): "
          + ", ".join(f"{k} {v:.3f}" for k, v in res.items()))
    assert res["targets, per sample"] >= res["targets, per token"]


# ------------------------------------------------------------------ UL2: mixture of denoisers vs R only
def _markov_corpus(n: int, length: int, seed: int) -> list[list[int]]:
    g = random.Random(seed)
    succ = {a: [g.randrange(97, 117) for _ in range(2)] for a in range(97, 117)}
    out = []
    for _ in range(n):
        s = [g.randrange(97, 117)]
        while len(s) < length:
            s.append(g.choice(succ[s[-1]]))
        out.append(s)
    return out


def test_toy_ul2_mixture_beats_span_corruption_only_on_prefix_lm() -> None:
    from representation.lm import seq2seq_batch
    from representation.testing.lm_toys import rows
    from representation.text import UL2_DENOISERS, MixtureOfDenoisers

    corpus = _markov_corpus(900, 40, 2)
    held = _markov_corpus(100, 40, 3)
    res = {}
    for name, ds in (("R only", [d for d in UL2_DENOISERS if d.name == "R1"]), ("UL2 mixture", None)):
        mod = MixtureOfDenoisers(TOK, denoisers=ds)
        rng = random.Random(0)
        exs = [mod(s, rng) for s in corpus for _ in range(2)]
        data = rows(seq2seq_batch([(e["inputs"], [*e["targets"], TOK.eos_id]) for e in exs], TOK.pad_id, TOK.bos_id))
        model = train(Seq2Seq(_ed(48)), data, steps=600, batch_size=32, lr=3e-3).model
        s_mode = TOK.token_id("[S]")
        r_mode = TOK.token_id("[R]")
        rng = random.Random(1)
        r_mod = MixtureOfDenoisers(TOK, denoisers=[d for d in UL2_DENOISERS if d.name == "R1"])
        s_pairs = [([s_mode, *s[:20]], [*s[20:], TOK.eos_id]) for s in held]
        r_pairs = []
        for s in held:
            e = r_mod(s, rng)
            r_pairs.append((e["inputs"], [*e["targets"], TOK.eos_id]))
        out = {}
        for task, pairs in (("S", s_pairs), ("R", r_pairs)):
            b = seq2seq_batch(pairs, TOK.pad_id, TOK.bos_id)
            with torch.no_grad():
                logits = Seq2Seq(model)(b)
            from representation.losses import TargetOnlyLMLoss

            out[task] = float(TargetOnlyLMLoss("token")(logits, b["labels"]))
        res[name] = out
        del r_mode
    print("\nUL2 toy, held-out NLL per target token (Markov corpus): "
          + "; ".join(f"{k}: prefix-LM {v['S']:.3f}, infilling {v['R']:.3f}" for k, v in res.items()))
    assert res["UL2 mixture"]["S"] < res["R only"]["S"]


# ------------------------------------------------------------------ Table pretraining: cell-level corruption
COUNTRIES = [("France", "Paris", "Europe"), ("Peru", "Lima", "America"), ("Kenya", "Nairobi", "Africa"),
             ("Japan", "Tokyo", "Asia"), ("Chile", "Santiago", "America"), ("Spain", "Madrid", "Europe"),
             ("Ghana", "Accra", "Africa"), ("Nepal", "Kathmandu", "Asia"), ("Italy", "Rome", "Europe"),
             ("Egypt", "Cairo", "Africa"), ("Laos", "Vientiane", "Asia"), ("Cuba", "Havana", "America")]


def test_toy_table_cell_corruption_beats_token_spans_on_cell_filling() -> None:
    from representation.lm import seq2seq_batch
    from representation.testing.lm_toys import rows
    from representation.text import TableSpanCorruption, corrupt, linearize_table, random_span_mask

    rng = random.Random(4)

    def table():
        rs = rng.sample(COUNTRIES, 2)
        return linearize_table(["country", "capital", "continent"], [list(r) for r in rs], TOK.encode)

    train_tables = [table() for _ in range(500)]
    test_tables = [table() for _ in range(80)]
    cell = TableSpanCorruption(TOK, rate=0.2, mean_span=1.0)
    sents = [TOK.sentinel_id(i) for i in range(TOK.num_sentinels)]
    res = {}
    for name in ("token spans", "cell spans"):
        r2 = random.Random(0)
        pairs = []
        for t in train_tables:
            for _ in range(2):
                if name == "cell spans":
                    e = cell(t, r2)
                    pairs.append((e["inputs"], [*e["targets"], TOK.eos_id]))
                else:
                    m = random_span_mask(len(t.tokens), 0.2, 3.0, r2)
                    i, o = corrupt(t.tokens, m, sents)
                    pairs.append((i, [*o, TOK.eos_id]))
        data = rows(seq2seq_batch(pairs, TOK.pad_id, TOK.bos_id))
        model = train(Seq2Seq(_ed(64)), data, steps=700, batch_size=32, lr=3e-3).model
        # evaluation: one whole body cell hidden, predict it exactly
        inputs, gold = [], []
        r3 = random.Random(5)
        for t in test_tables:
            _r, _c, s, e = r3.choice([x for x in t.cells if x[0] >= 0])
            inputs.append(TOK.decode([*t.tokens[:s], sents[0], *t.tokens[e:]]))
            gold.append(TOK.decode(t.tokens[s:e]))
        pred = seq2seq_predict(model, inputs, TOK, 14)
        res[name] = exact_match([p.replace("<extra_id_0>", "").strip() for p in pred], gold)
    print(f"\nTable toy, exact cell filling on held-out tables: token spans {res['token spans']:.3f}, "
          f"cell spans {res['cell spans']:.3f}")
    assert res["cell spans"] > res["token spans"]


# ------------------------------------------------------------------ Contrastive search on a trained tiny LM
def _grammar_corpus(n: int, seed: int) -> list[str]:
    g = random.Random(seed)
    subj = ["the cat", "a dog", "my friend", "the bird", "our king", "a child"]
    verb = ["sees", "likes", "finds", "wants", "hears", "draws"]
    obj = ["the sea", "a red ball", "the old tree", "a small house", "the moon", "a blue car"]
    adv = ["today", "again", "at night", "in town", "with joy", "by the lake"]
    return [" ".join(f"{g.choice(subj)} {g.choice(verb)} {g.choice(obj)} {g.choice(adv)}." for _ in range(3))
            for _ in range(n)]


def test_toy_contrastive_search_repeats_less_than_greedy() -> None:
    corpus = _grammar_corpus(400, 6)
    data = causal_data([("", t) for t in corpus], TOK, 256)
    model = train(Causal(_dec(64)), data, steps=600, batch_size=8, lr=3e-3).model
    seen = {b for t in corpus for b in zip(t.split(), t.split()[1:])}
    prompts = ["the cat", "a dog sees", "my friend", "our king likes the", "a child"]
    res = {}
    for name, fn in (("greedy", lambda ids: generate(model, ids, max_new_tokens=120)),
                     ("contrastive a=0.6 k=4", lambda ids: contrastive_search(model, ids, alpha=0.6, k=4,
                                                                               max_new_tokens=120))):
        reps, ok = [], []
        for p in prompts:
            out = fn(torch.tensor([TOK.encode(p, add_bos=True)]))[0].tolist()
            words = TOK.decode(out, skip_special=True).split()
            reps.append(repetition(words, 2))
            big = list(itertools.pairwise(words))
            ok.append(sum(b in seen or "." in b[0] for b in big) / max(1, len(big)))
        res[name] = (sum(reps) / len(reps), sum(ok) / len(ok))
    print("\nContrastive search toy (tiny LM on a template grammar, 120 new bytes): "
          + "; ".join(f"{k}: rep-2 {a:.3f}, bigrams seen in training {b:.3f}" for k, (a, b) in res.items()))
    assert res["contrastive a=0.6 k=4"][0] < res["greedy"][0]


# ------------------------------------------------------------------ PCP: prompt-based continued pretraining
POS, NEG = ["good", "fine", "great", "nice"], ["bad", "poor", "awful", "sad"]
FILL = ["the", "film", "was", "plot", "and", "cast", "so", "very", "end", "it", "music", "story"]


def _review(g: random.Random) -> tuple[str, int]:
    y = g.randrange(2)
    words = [g.choice(FILL) for _ in range(6)]
    words.insert(g.randrange(7), g.choice(POS if y else NEG))
    return " ".join(words), y


@pytest.mark.xfail(strict=True, reason="measured 2026-12-03: PCP 0.617 vs no continued pretraining 0.657 (beats plain-text MLM 0.583)")
def test_toy_pcp_prompt_continued_pretraining() -> None:
    from representation.text import MLMMasking, PromptTemplate, verbalizer_logits

    g = random.Random(7)
    unlabelled = [_review(g)[0] for _ in range(1500)]
    labelled = [_review(g) for _ in range(24)]
    test = [_review(g) for _ in range(300)]
    tpl = PromptTemplate("{text} . it was <mask> .")
    words = [ord("g"), ord("b")]  # label words: "g" (good), "b" (bad): one byte each
    mlm = MLMMasking(TOK.mask_id, rate=0.15)

    class MLM(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, batch):
            return self.m.mlm_logits(batch["input_ids"], batch["attention_mask"])

    def mlm_data(texts):
        ids, mask = pad([TOK.encode(t) for t in texts], TOK.pad_id)
        maskable = (mask > 0) & (ids < 256)
        inputs, labels = mlm(ids, maskable, torch.Generator().manual_seed(0))
        return [{"input_ids": inputs[i], "attention_mask": mask[i], "labels": labels[i]} for i in range(len(texts))]

    def prompt_ft(model):
        ids, mask = pad([TOK.encode(tpl.wrap(t)) for t, _ in labelled], TOK.pad_id)
        y = torch.tensor([lab for _, lab in labelled])

        def loss_fn(logits, batch):
            scores = verbalizer_logits(logits, batch["input_ids"], TOK.mask_id, words)
            return {"ce_loss": torch.nn.functional.cross_entropy(scores, 1 - batch["y"])}

        data = [{"input_ids": ids[i], "attention_mask": mask[i], "y": y[i]} for i in range(len(y))]
        train(MLM(model), data, steps=150, batch_size=8, lr=1e-3, loss_fn=loss_fn)
        tids, tmask = pad([TOK.encode(tpl.wrap(t)) for t, _ in test], TOK.pad_id)
        with torch.no_grad():
            s = verbalizer_logits(model.mlm_logits(tids, tmask), tids, TOK.mask_id, words)
        return float(((s.argmax(1) == 0).long() == torch.tensor([lab for _, lab in test])).float().mean())

    res = {}
    for name, texts in (("no continued pretraining", None), ("TAPT (plain text MLM)", unlabelled),
                        ("PCP (template-wrapped MLM)", [tpl.wrap(t) for t in unlabelled])):
        model = _ed(48, seed=0)
        if texts is not None:
            from representation.losses import TargetOnlyLMLoss

            lm = TargetOnlyLMLoss("token")
            train(MLM(model), mlm_data(texts), steps=600, batch_size=32, lr=3e-3,
                  loss_fn=lambda lo, b, lm=lm: lm(lo, b["labels"], return_dict=True))
        res[name] = prompt_ft(model)
    print("\nPCP toy (24 labelled reviews, 1500 unlabelled), prompt-based fine-tuning accuracy: "
          + ", ".join(f"{k} {v:.3f}" for k, v in res.items()))
    assert res["PCP (template-wrapped MLM)"] > res["no continued pretraining"]


# ------------------------------------------------------------------ Task hinting: sorting with a successor hint
@pytest.mark.xfail(strict=True, reason="measured 2026-12-03: the hint doubles in-distribution accuracy (len 8: 0.70 vs 0.35) but neither model generalises to len 12/16 (0.00 vs 0.00)")
def test_toy_task_hinting_sorting_length_generalisation() -> None:
    from representation.losses import TargetOnlyLMLoss, TaskHintingLoss
    from representation.testing.lm_toys import rows

    g = random.Random(8)
    SEP, HINT = TOK.sep_id, TOK.token_id("[X]")

    def seqs(n, lo, hi):
        return [[g.randrange(97, 113) for _ in range(g.randint(lo, hi))] for _ in range(n)]

    def sort_pair(xs):
        return [*xs, SEP], [*sorted(xs), TOK.eos_id]

    def hint_pair(xs):  # successor of every element in sorted order (the last one: eos)
        s = sorted(xs)
        succ = [s[s.index(x) + 1] if s.index(x) + 1 < len(s) else TOK.eos_id for x in xs]
        return [*xs, HINT], [*succ, TOK.eos_id]

    from representation.lm import pack
    from representation.lm.packing import Example

    def packed(pairs):
        pb = pack([Example([*p, *t], [False] * len(p) + [True] * len(t)) for p, t in pairs], 48, TOK.pad_id,
                  packed=False)
        return {"input_ids": pb.input_ids, "labels": pb.labels, "segment_ids": pb.segment_ids}

    train_x = seqs(3000, 2, 8)
    res = {}
    for name, w in (("sorting only", 0.0), ("sorting + successor hint (lambda 1)", 1.0)):
        main, hint = packed([sort_pair(x) for x in train_x]), packed([hint_pair(x) for x in train_x])
        data = rows({**{f"m_{k}": v for k, v in main.items()}, **{f"h_{k}": v for k, v in hint.items()}})
        lm = TargetOnlyLMLoss("token")
        loss = TaskHintingLoss(lm, lm, hint_weight=w)
        net = _dec(64, 2, seed=0, positions="rotary")

        class Both(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.lm = net

            def forward(self, b):
                m = self.lm(b["m_input_ids"], (b["m_segment_ids"] > 0).long()).logits
                h = self.lm(b["h_input_ids"], (b["h_segment_ids"] > 0).long()).logits if w > 0 else m
                return m, h

        train(Both(), data, steps=1200, batch_size=16, lr=2e-3,
              loss_fn=lambda f, b: loss({"main": (f[0], b["m_labels"]), "hint": (f[1], b["h_labels"])},
                                        return_dict=True))
        out = {}
        for length in (8, 12, 16):
            xs = [[g.randrange(97, 113) for _ in range(length)] for _ in range(100)]
            ids = torch.tensor([[*x, SEP] for x in xs])
            pred = generate(net, ids, max_new_tokens=length, eos_id=TOK.eos_id, pad_id=TOK.pad_id)
            out[length] = sum(p == sorted(x) for p, x in zip(pred.tolist(), xs)) / len(xs)
        res[name] = out
    print("\nTask hinting toy (train lengths 2-8, 16 symbols, exact sorted output): "
          + "; ".join(f"{k}: " + ", ".join(f"len {n} {v:.2f}" for n, v in o.items()) for k, o in res.items()))
    assert res["sorting only"][8] > 0.3  # the main task is learned in distribution
    assert res["sorting + successor hint (lambda 1)"][12] > res["sorting only"][12]


# ------------------------------------------------------------------ Meta-training with demonstration retrieval
@pytest.mark.xfail(strict=True, reason="measured 2026-12-03: retrieved demonstrations 0.000 vs random 0.017 exact match on unseen substitution tasks")
def test_toy_demonstration_retrieval_beats_random_demonstrations() -> None:
    """Every task is a secret letter substitution; the model meta-trains on 30 tasks and is tested
    on 6 unseen ones, reading two demonstrations: retrieved (letter-histogram retriever, never the
    query itself) or random from the same task's bank."""
    from representation.retrieval import DenseRetriever, with_demonstrations

    g = random.Random(9)
    letters = "abcdef"

    def task():
        perm = list(letters)
        g.shuffle(perm)
        return dict(zip(letters, perm))

    def hist(words):
        return torch.tensor([[w.count(c) for c in letters] for w in words], dtype=torch.float32)

    def build(tasks, n_per_task, retrieved):
        pairs = []
        for t in tasks:
            bank = [random_word(g, letters, 2, 4) for _ in range(n_per_task)]
            out = ["".join(t[c] for c in w) for w in bank]
            r = DenseRetriever().index(hist(bank), ids=list(range(len(bank))), keys=bank)
            _, idx = r.search(hist(bank), 2, query_ids=list(range(len(bank))), query_keys=bank)
            for i, w in enumerate(bank):
                js = [int(j) for j in idx[i]] if retrieved else g.sample([j for j in range(len(bank)) if bank[j] != w], 2)
                pairs.append((with_demonstrations(w, [(bank[j], out[j]) for j in js]), out[i]))
        return pairs

    train_tasks, test_tasks = [task() for _ in range(30)], [task() for _ in range(6)]
    res = {}
    for name, retrieved in (("random demonstrations", False), ("retrieved demonstrations", True)):
        model = train(Seq2Seq(_ed(64)), seq2seq_data(build(train_tasks, 60, retrieved), TOK), steps=700,
                      batch_size=32, lr=3e-3).model
        test = build(test_tasks, 40, retrieved)
        res[name] = exact_match(seq2seq_predict(model, [x for x, _ in test], TOK, 8), [y for _, y in test])
    print("\nDemonstration retrieval toy (unseen substitution tasks, 2 demonstrations): "
          + ", ".join(f"{k} {v:.3f}" for k, v in res.items()))
    assert res["retrieved demonstrations"] > res["random demonstrations"]


# ------------------------------------------------------------------ UDR: listwise ranking with re-mining
def test_toy_udr_listwise_beats_top1_contrastive() -> None:
    """Queries and bank items are vectors; the "LM feedback" of a candidate is a hidden similarity
    the retriever must learn. Listwise LambdaMRR + in-batch CE (UDR) vs in-batch CE on the top
    candidate only (DPR-style), same re-mining schedule; metric: NDCG@8 of the retriever's ranking
    of 8 mined candidates and top-1 hit rate over the whole bank."""
    from representation.losses import ListwiseRankLoss
    from representation.miners import LMFeedbackMiner

    g = torch.Generator().manual_seed(10)
    d = 16
    a = torch.randn(d, 6, generator=g)
    bank = torch.randn(600, d, generator=g)
    queries = torch.randn(400, d, generator=g)
    test_q = torch.randn(200, d, generator=g)
    true = lambda q, c: -((q @ a - c @ a) ** 2).sum(-1)  # noqa: E731

    def ndcg_and_hit(enc):
        with torch.no_grad():
            eq, eb = enc(test_q), enc(bank)
        cand = (eq @ eb.T).topk(8, dim=1).indices
        gains = true(test_q.unsqueeze(1), bank[cand])  # [Q, 8]
        rel = gains.argsort(1, descending=True).argsort(1).float()
        rel = 1.0 / (rel + 1)  # relevance of the candidate = 1 / (its true rank)
        disc = 1.0 / torch.log2(torch.arange(2, 10).float())
        dcg = (rel * disc).sum(1)
        ideal = (rel.sort(1, descending=True).values * disc).sum(1)
        best = true(test_q.unsqueeze(1), bank.unsqueeze(0)).argmax(1)
        return float((dcg / ideal).mean()), float((cand[:, 0] == best).float().mean())

    res = {}
    for name, rank_weight in (("in-batch CE on top-1 (DPR)", 0.0), ("UDR listwise + in-batch", 1.0)):
        torch.manual_seed(0)
        enc = torch.nn.Sequential(torch.nn.Linear(d, 32), torch.nn.ReLU(), torch.nn.Linear(32, 16))
        loss = ListwiseRankLoss(rank_weight=rank_weight, in_batch=True)
        miner = LMFeedbackMiner(k=8)
        opt = torch.optim.Adam(enc.parameters(), lr=3e-3)
        for _ in range(3):  # iterative re-mining
            with torch.no_grad():
                cands, lengths = miner(enc(queries), enc(bank), lambda q, cs: true(queries[q], bank[cs]).tolist())
            for _ in range(150):
                idx = torch.randint(0, len(queries), (32,))
                out = loss(enc(queries[idx]), enc(bank[cands[idx].clamp_min(0)].reshape(-1, d)).view(32, 8, -1),
                           lengths=lengths[idx])
                opt.zero_grad()
                out.backward()
                opt.step()
        res[name] = ndcg_and_hit(enc)
    print("\nUDR toy: " + "; ".join(f"{k}: NDCG@8 {a:.3f}, top-1 hit {b:.3f}" for k, (a, b) in res.items()))
    assert res["UDR listwise + in-batch"][0] > res["in-batch CE on top-1 (DPR)"][0]


# ------------------------------------------------------------------ UGR: generative retrieval, constrained decoding
def test_toy_ugr_constrained_decoding_and_prompts() -> None:
    """40 documents of 4 "sentences" (2 words each); queries are noisy copies of a sentence. One
    encoder-decoder serves two tasks told by a discrete prompt: "doc:" (identifier: the document's
    first sentence) and "sent:" (the sentence itself); identifiers are n-grams decoded under the
    granularity's trie. Metric: recall@1 of the right document / sentence, constrained vs free."""
    from representation.decoding import Trie, trie_constrained_generate

    g = random.Random(11)
    vocab = [random_word(g, "abcdefghijklmnop", 3, 5) for _ in range(60)]
    docs = [[f"{g.choice(vocab)} {g.choice(vocab)}" for _ in range(4)] for _ in range(40)]

    def noisy(s):
        w = list(s)
        for _ in range(2):
            i = g.randrange(len(w))
            if w[i] != " ":
                w[i] = g.choice("abcdefghijklmnop")
        return "".join(w)

    def examples(n):
        out = []
        for _ in range(n):
            d = g.randrange(40)
            s = g.randrange(4)
            q = noisy(docs[d][s])
            out.append(("doc: " + q, docs[d][0], ("doc", d)))
            out.append(("sent: " + q, docs[d][s], ("sent", docs[d][s])))
        return out

    train_ex, test_ex = examples(1500), examples(100)
    model = train(Seq2Seq(_ed(64)), seq2seq_data([(x, y) for x, y, _ in train_ex], TOK), steps=700, batch_size=32,
                  lr=3e-3).model
    tries = {"doc": Trie([TOK.encode(d[0]) for d in docs], TOK.eos_id),
             "sent": Trie([TOK.encode(s) for d in docs for s in d], TOK.eos_id)}
    free = seq2seq_predict(model, [x for x, _, _ in test_ex], TOK, 16)
    hits = {"free": [], "trie": []}
    valid = {"free": [], "trie": []}
    for (x, y, (task, _)), f in zip(test_ex, free):
        ids, mask = pad([TOK.encode(x)], TOK.pad_id)
        best = trie_constrained_generate(model, ids, tries[task], mask, num_beams=4, decoder_start_id=TOK.bos_id)[0]
        c = TOK.decode(best[0][0]) if best else ""
        hits["free"].append(f == y)
        hits["trie"].append(c == y)
        valid["free"].append(TOK.encode(f) in tries[task])
        valid["trie"].append(TOK.encode(c) in tries[task])
    res = {k: (sum(v) / len(v), sum(valid[k]) / len(valid[k])) for k, v in hits.items()}
    print("\nUGR toy (2 granularities, discrete prompts): " + "; ".join(
        f"{k}: recall@1 {a:.3f}, valid identifiers {b:.3f}" for k, (a, b) in res.items()))
    assert res["trie"][1] == 1.0 and res["trie"][0] >= res["free"][0]


# ------------------------------------------------------------------ QAmden: cross-document QA pretraining
def test_toy_qamden_pretraining_helps_multi_document_qa() -> None:
    """Clusters of 3 short documents about one place; each fact is stated in two documents. Pretrain
    on QAmden examples (question from a salient sentence, the sentence removed from the context)
    vs plain span-corruption denoising of the same clusters, then fine-tune both briefly on a
    few labelled multi-document questions; metric: exact-match answers on held-out clusters."""
    from representation.lm import seq2seq_batch
    from representation.testing.lm_toys import rows
    from representation.text import QAmdenBuilder, corrupt, random_span_mask

    g = random.Random(12)
    names = [random_word(g, "klmnoprstuv", 4, 6).title() for _ in range(200)]
    colors, foods = ["red", "blue", "green", "gold"], ["rice", "fish", "corn", "beans"]

    def cluster():
        n, c, f = g.choice(names), g.choice(colors), g.choice(foods)
        facts = [f"{n} paints its doors {c}.", f"{n} eats {f} daily."]
        docs = [f"{facts[0]} It is a town.", f"{facts[1]} {facts[0]}", f"{facts[1]} It is quiet."]
        return docs, n, c, f

    pre = [cluster()[0] for _ in range(600)]
    builder = QAmdenBuilder()
    sents = [TOK.sentinel_id(i) for i in range(TOK.num_sentinels)]
    ft = [cluster() for _ in range(60)]
    test = [cluster() for _ in range(80)]

    def qa(cl, which):
        docs, n, c, f = cl
        q = f"question: what color are the doors of {n}? context: " if which else f"question: what does {n} eat? context: "
        return q + " <doc-sep> ".join(docs), c if which else f

    res = {}
    for name in ("span-corruption pretraining", "QAmden pretraining"):
        r = random.Random(0)
        if name.startswith("QAmden"):
            pairs = []
            for d in pre:
                e = builder(d, r)
                pairs.append((TOK.encode(e["inputs"]), TOK.encode(e["target"], add_eos=True)))
        else:
            pairs = []
            for d in pre:
                toks = TOK.encode(" <doc-sep> ".join(d))
                i, o = corrupt(toks, random_span_mask(len(toks), 0.15, 3.0, r), sents)
                pairs.append((i, [*o, TOK.eos_id]))
        model = train(Seq2Seq(_ed(48)), rows(seq2seq_batch(pairs, TOK.pad_id, TOK.bos_id)), steps=250,
                      batch_size=16, lr=3e-3).model
        ft_pairs = [qa(cl, i % 2) for i, cl in enumerate(ft)]
        model = train(Seq2Seq(model), seq2seq_data(ft_pairs, TOK), steps=80, batch_size=16, lr=2e-3).model
        tq = [qa(cl, i % 2) for i, cl in enumerate(test)]
        res[name] = exact_match(seq2seq_predict(model, [x for x, _ in tq], TOK, 8), [y for _, y in tq])
    print("\nQAmden toy (multi-document QA after brief fine-tuning): "
          + ", ".join(f"{k} {v:.3f}" for k, v in res.items()))
    assert res["QAmden pretraining"] >= res["span-corruption pretraining"]
