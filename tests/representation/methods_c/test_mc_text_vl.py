"""Issue 15, rows 40 (Pixel-Linguist), 18 (multilingual lexical specialisation), 43 (Gecko),
39 (REF-VLM) and 26 (COSMO)."""

import random

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from representation.adapters import RefTokenRouter, Text, Triplet, format_triplets, parse_triplets, ref_units
from representation.augment import TextPerturbation, pixel_linguist_loss, render_text, typo, word_shuffle
from representation.blocks import PartitionedLM
from representation.eval import GeckoScore, coverage, filter_by_coverage, template_questions
from representation.eval.gecko import QA
from representation.losses import CosmoLoss, InfoNCELoss, next_token_loss
from representation.samplers import lexical_batches, synonym_pairs

# ------------------------------------------------------------------ Pixel-Linguist


def test_rendering_is_deterministic_and_text_dependent():
    a, b = render_text("Rue de Rivoli 12"), render_text("Rue de Rivoli 12")
    assert a.shape == (1, 16, 256) and torch.equal(a, b) and 0.0 <= float(a.min()) and float(a.max()) <= 1.0
    assert float(a.sum()) > 20  # ink
    assert float((render_text("Rue de Rivoli 13") - a).abs().sum()) > 1.0


DEJAVU = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"


@pytest.mark.skipif(not __import__("os").path.isfile(DEJAVU), reason="fonts-dejavu-core not installed")
def test_non_latin_text_renders_with_a_system_font_and_a_missing_font_is_one_error():
    from representation.errors import ConfigError

    greek, cyrillic = render_text("Οδός Ερμού 5", font_path=DEJAVU), render_text("Улица Арбат 5", font_path=DEJAVU)
    assert float(greek.sum()) > 20 and float(cyrillic.sum()) > 20
    assert float((greek - cyrillic).abs().sum()) > 1.0  # different glyphs, not the same fallback boxes
    with pytest.raises(ConfigError, match="cannot load font"):
        render_text("x", font_path="/nonexistent/font.ttf")


def test_perturbations_typo_and_shuffle():
    rng = random.Random(0)
    for _ in range(50):
        s = "the old harbour of Marseille"
        t = typo(s, rng)
        assert abs(len(t) - len(s)) <= 1 and sum(x != y for x, y in zip(t.split(), s.split())) == 1
        w = word_shuffle(s, rng)
        assert sorted(w.split()) == sorted(s.split())
    assert typo("a b", rng) == "a b"
    assert TextPerturbation(p_typo=0.0, p_shuffle=0.0)("x y z", rng) == "x y z"


def test_pixel_linguist_loss_is_the_mean_of_both_ce_directions():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(6, 5, generator=g, dtype=torch.float64), torch.randn(6, 5, generator=g, dtype=torch.float64)
    scores = a @ b.T / 0.05  # the released trainer's formulation
    labels = torch.arange(6)
    expect = (F.cross_entropy(scores, labels) + F.cross_entropy(scores.T, labels)) / 2
    torch.testing.assert_close(pixel_linguist_loss()(a, b), expect)


# ------------------------------------------------------------------ lexical specialisation


def test_synonym_pairs_and_duplicate_free_batches():
    synsets = {"munich": ["Munich", "München", "Monaco di Baviera"], "vienna": ["Vienna", "Wien", "Vienne"],
               "rome": ["Rome", "Roma"], "paris": ["Paris"]}
    pairs = synonym_pairs(synsets, glosses={"rome": "capital of Italy"})
    assert len(pairs) == 3 + 3 + 1 + 2 and ("Rome", "capital of Italy", "rome") in pairs
    sampler = lexical_batches(pairs, batch_size=3, seed=1)
    batches = list(sampler)
    assert batches
    for batch in batches:
        syn = [pairs[i][2] for i in batch]
        words = [w.lower() for i in batch for w in pairs[i][:2]]
        assert len(set(syn)) == len(syn) and len(set(words)) == len(words)


# ------------------------------------------------------------------ Gecko


def test_gecko_oracle_scores_one_and_uniform_answers_score_the_chance_level():
    prompt = "a red car parked near a tall lighthouse"
    qas = template_questions(prompt)
    assert coverage(prompt, qas) == 1.0
    assert any(qa.question == "What colour is the car?" and qa.answer == "red" for qa in qas)
    truth = {qa.question: qa.answer for qa in qas}

    def oracle(image, question, choices):
        return [1.0 if c == truth[question] else 0.0 for c in choices]

    def uniform(image, question, choices):
        return [1.0] * len(choices)

    res = GeckoScore(oracle)(None, prompt)
    assert res["score"] == 1.0 and res["coverage"] == 1.0
    res_u = GeckoScore(uniform)(None, prompt)
    expect = sum(1 / len(qa.choices) for qa in qas) / len(qas)
    assert abs(res_u["score"] - expect) < 1e-12 and 0.0 <= res_u["score"] <= 1.0
    with pytest.raises(ValueError, match="non-negative"):
        GeckoScore(lambda *a: [-1.0, 2.0])(None, "a bridge")


def test_gecko_drops_questions_without_coverage():
    prompt = "a bridge over a river"
    qas = [QA("Is there a bridge?", ("yes", "no"), "yes", ("bridge",)), QA("Is there a dog?", ("yes", "no"), "yes", ("dog",)),
           QA("Anything?", ("yes", "no"), "yes", ())]
    kept = filter_by_coverage(prompt, qas)
    assert [q.question for q in kept] == ["Is there a bridge?"]
    assert coverage(prompt, kept) == 0.5


# ------------------------------------------------------------------ REF-VLM

_phrase = st.text(alphabet=st.characters(blacklist_characters="<>()[]", blacklist_categories=("Cs",)), min_size=1, max_size=12)
_unit = st.sampled_from(["box", "mask", "keypoint", "depth"])
_item = st.one_of(st.builds(Triplet, _phrase, _unit, st.lists(st.integers(0, 9), min_size=1, max_size=3).map(tuple)),
                  st.builds(Text, _phrase))


def _merge_text(items):
    out = []
    for it in items:
        if isinstance(it, Text) and out and isinstance(out[-1], Text):
            out[-1] = Text(out[-1].text + it.text)
        else:
            out.append(it)
    return out


@settings(max_examples=60, deadline=None)
@given(st.lists(_item, max_size=5))
def test_triplet_format_round_trips(items):
    items = _merge_text(items)
    text = format_triplets(items)
    assert parse_triplets(text) == items
    assert format_triplets(parse_triplets(text)) == text


def test_reference_sample_parses_and_routes_to_the_right_decoder():
    answer = ("<Phrase>the slower crew</Phrase>(<Unit>box</Unit><REF>[0]), and "
              "<Phrase>the tower</Phrase>(<Unit>mask</Unit><REF><REF>)")
    items = parse_triplets(answer)
    assert items[0] == Triplet("the slower crew", "box", (0,)) and items[2] == Triplet("the tower", "mask", (0, 1))
    units = ref_units(items)
    assert units == ["box", "mask", "mask"]
    torch.manual_seed(0)
    router = RefTokenRouter(6, 5, {"box": torch.nn.Linear(5, 4), "mask": torch.nn.Linear(5, 9)})
    hidden = torch.randn(2, 7, 6)
    ref_mask = torch.zeros(2, 7, dtype=torch.bool)
    ref_mask[0, 3] = ref_mask[1, 1] = ref_mask[1, 5] = True
    out = router(hidden, ref_mask, units)
    torch.testing.assert_close(out["box"][0], router.decoders["box"](router.adapter(hidden[0, 3:4])))
    torch.testing.assert_close(out["mask"][0], router.decoders["mask"](router.adapter(hidden[1, [1, 5]])))
    assert out["mask"][1].tolist() == [1, 2]
    with pytest.raises(ValueError, match="no decoder"):
        router(hidden, ref_mask, ["box", "mask", "depth"])


# ------------------------------------------------------------------ COSMO


def test_cosmo_contrastive_text_features_see_no_image():
    torch.manual_seed(1)
    lm = PartitionedLM(vocab_size=20, dim=16, heads=2, text_layers=1, cross_layers=1, max_len=8)
    tokens = torch.randint(0, 20, (3, 6))
    v1, v2 = torch.randn(3, 4, 16), torch.randn(3, 4, 16, requires_grad=True)
    o1, o2 = lm(tokens, v1), lm(tokens, v2)
    torch.testing.assert_close(o1["text_features"], o2["text_features"])
    torch.testing.assert_close(o1["text_features"], lm.text_features(tokens))
    assert float((o1["logits"] - o2["logits"]).abs().max()) > 1e-4  # the LM head does see the image
    assert torch.autograd.grad(o2["text_features"].sum(), v2, allow_unused=True)[0] is None


def test_cosmo_loss_is_lm_plus_contrastive_and_ignores_padding():
    torch.manual_seed(2)
    lm = PartitionedLM(vocab_size=12, dim=8, heads=2, text_layers=1, cross_layers=1, max_len=6)
    tokens = torch.randint(0, 12, (4, 5))
    pad = torch.zeros(4, 5, dtype=torch.bool)
    pad[1, 3:] = True
    image = torch.randn(4, 8)
    out = lm(tokens, torch.randn(4, 2, 8), pad)
    loss = CosmoLoss({"type": "infonce", "temperature": 0.1}, lm_weight=0.5)(out, tokens, image, pad_mask=pad,
                                                                             return_dict=True)
    terms = [F.cross_entropy(out["logits"][b, t:t + 1], tokens[b, t + 1:t + 2]) for b in range(4) for t in range(4)
             if not pad[b, t + 1]]
    torch.testing.assert_close(loss["lm_loss"], 0.5 * torch.stack(terms).mean())
    torch.testing.assert_close(loss["contrastive_loss"], InfoNCELoss(temperature=0.1)(image, out["text_features"]))
    torch.testing.assert_close(next_token_loss(out["logits"], tokens), torch.stack(
        [F.cross_entropy(out["logits"][b, t:t + 1], tokens[b, t + 1:t + 2]) for b in range(4) for t in range(4)]).mean())
