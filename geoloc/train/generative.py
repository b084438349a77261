"""Language-model options on cached tower embeddings (issue 16): a generative geolocator that
decodes hierarchical location ids under a trie (UGR), a location-caption decoder (decoded
greedily or by contrastive search), and UDR's listwise re-ranking of retrieved location
clusters by their km error. All train on the frozen tower's per-view embeddings
(:func:`geoloc.train.embed.embed_dataset` with ``per_view=True``) with the representation
library's Trainer; none changes the default pipeline. Measured by ``benchmarks/bench_lm_geo.py``.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from representation.decoding import contrastive_search, generate, trie_constrained_generate
from representation.lm import IGNORE, ByteTokenizer, TinyDecoderLM, pad
from representation.losses import ListwiseRankLoss, TargetOnlyLMLoss
from representation.retrieval import HierarchicalIds
from representation.train import TrainConfig, Trainer

LEVELS = ("continent", "adm0_a3", "adm1_code")
"""Hierarchy of a location id above its geocell: continent > country > admin-1 > cell."""
PAD, BOS, EOS = 0, 1, 2


class PrefixLM(nn.Module):
    """A :class:`representation.lm.TinyDecoderLM` conditioned on the V view embeddings [B, V, D]
    of a location: each view is projected to one prefix vector (``prefix_embeds``)."""

    is_encoder_decoder = False

    def __init__(self, emb_dim: int, vocab_size: int, dim: int = 128, layers: int = 2, heads: int = 4,
                 max_len: int = 160) -> None:
        super().__init__()
        self.proj = nn.Sequential(nn.LayerNorm(emb_dim), nn.Linear(emb_dim, dim))
        self.lm = TinyDecoderLM(vocab_size, dim=dim, layers=layers, heads=heads, max_len=max_len)

    def prefix(self, emb: torch.Tensor) -> torch.Tensor:
        return self.proj(emb)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.lm(batch["input_ids"], batch["attention_mask"], prefix_embeds=self.prefix(batch["emb"])).logits


def _train(model: nn.Module, data: list[dict[str, torch.Tensor]], *, steps: int, batch_size: int, lr: float,
           seed: int) -> nn.Module:
    loss = TargetOnlyLMLoss("token")
    with tempfile.TemporaryDirectory() as out:
        cfg = TrainConfig(out_dir=out, total_steps=steps, batch_size=batch_size, lr=lr, warmup_steps=steps // 20,
                          grad_clip=1.0, weight_decay=0.01, seed=seed, progress=False, device="cpu",
                          checkpoint_every=10**9, log_every=10**9)
        Trainer(model, lambda logits, b: loss(logits, b["labels"], return_dict=True), data, cfg).fit()
    return model.eval()


def _sequences(emb: np.ndarray, targets: Sequence[Sequence[int]]) -> list[dict[str, torch.Tensor]]:
    """Rows ``{"emb", "input_ids" = [BOS] + target, "labels" = target + [EOS]}`` (padded)."""
    ids, mask = pad([[BOS, *t] for t in targets], PAD)
    lab, lab_mask = pad([[*t, EOS] for t in targets], PAD)
    lab = lab.masked_fill(lab_mask == 0, IGNORE)
    e = torch.as_tensor(emb, dtype=torch.float32)
    return [{"emb": e[i], "input_ids": ids[i], "attention_mask": mask[i], "labels": lab[i]} for i in range(len(targets))]


# ---------------------------------------------------------------------------- UGR: hierarchical ids


def hierarchy_codes(frame: Any, cells: np.ndarray, vocabs: Sequence[list[str]] | None = None
                    ) -> tuple[np.ndarray, list[list[str]]]:
    """Codes [N, 4] (continent, country, admin-1, cell) and the level vocabularies (built from
    ``frame`` when ``vocabs`` is None; unknown values then get -1)."""
    if vocabs is None:
        vocabs = [sorted({str(v) for v in frame[c]}) for c in LEVELS]
    codes = np.full((len(frame), 4), -1, dtype=np.int64)
    for j, c in enumerate(LEVELS):
        index = {v: i for i, v in enumerate(vocabs[j])}
        codes[:, j] = [index.get(str(v), -1) for v in frame[c]]
    codes[:, 3] = cells
    return codes, list(vocabs)


class GenerativeGeolocator:
    """UGR-style generative geolocator: ``fit(emb [N, V, D], codes [N, 4], sizes)`` trains a
    :class:`PrefixLM` to emit ``continent, country, admin-1, cell`` tokens;
    ``predict(emb, constrained=True)`` decodes them by trie-constrained beam search over the
    training paths (every output is a valid id), or freely (greedy; the baseline)."""

    def __init__(self, sizes: Sequence[int], *, dim: int = 128, layers: int = 2, num_beams: int = 5) -> None:
        self.sizes = [int(s) for s in sizes]
        self.dim, self.layers, self.num_beams = dim, layers, num_beams
        self.ids: HierarchicalIds | None = None
        self.model: PrefixLM | None = None

    def fit(self, emb: np.ndarray, codes: np.ndarray, *, steps: int = 1500, batch_size: int = 64, lr: float = 2e-3,
            seed: int = 0) -> GenerativeGeolocator:
        self.ids = HierarchicalIds(codes, self.sizes, base=3, eos_id=EOS)
        torch.manual_seed(seed)
        self.model = PrefixLM(emb.shape[-1], self.ids.vocab_end, dim=self.dim, layers=self.layers, max_len=16)
        data = _sequences(emb, [self.ids.encode(c) for c in codes.tolist()])
        _train(self.model, data, steps=steps, batch_size=batch_size, lr=lr, seed=seed)
        return self

    @torch.no_grad()
    def predict(self, emb: np.ndarray, *, constrained: bool = True, batch: int = 256) -> np.ndarray:
        """Codes [M, 4]; rows whose free decoding is not a valid id get -1 at the invalid levels."""
        assert self.model is not None and self.ids is not None
        out = np.full((emb.shape[0], 4), -1, dtype=np.int64)
        for s in range(0, emb.shape[0], batch):
            e = torch.as_tensor(emb[s:s + batch], dtype=torch.float32)
            start = torch.full((e.shape[0], 1), BOS, dtype=torch.long)
            pre = self.model.prefix(e)
            if constrained:
                res = trie_constrained_generate(self.model.lm, start, self.ids.trie, num_beams=self.num_beams,
                                                pad_id=PAD, prefix_embeds=pre)
                for i, row in enumerate(res):
                    if row:
                        out[s + i] = self.ids.decode(row[0][0])
            else:
                gen = generate(self.model.lm, start, max_new_tokens=4, eos_id=EOS, pad_id=PAD, prefix_embeds=pre)
                for i, toks in enumerate(gen.tolist()):
                    for j, (t, o, n) in enumerate(zip(toks, self.ids.offsets, self.sizes, strict=True)):
                        if o <= t < o + n:
                            out[s + i, j] = t - o
        return out


# ---------------------------------------------------------------------------- captions


class CaptionDecoder:
    """Location captions from view embeddings: ``fit(emb, captions)``, then
    ``generate(emb, method="greedy" | "contrastive", alpha, k)`` (byte tokenizer)."""

    def __init__(self, *, dim: int = 128, layers: int = 2, max_len: int = 160) -> None:
        self.tok = ByteTokenizer(num_sentinels=0)
        self.dim, self.layers, self.max_len = dim, layers, max_len
        self.model: PrefixLM | None = None

    def fit(self, emb: np.ndarray, captions: Sequence[str], *, steps: int = 1500, batch_size: int = 32,
            lr: float = 2e-3, seed: int = 0) -> CaptionDecoder:
        torch.manual_seed(seed)
        self.model = PrefixLM(emb.shape[-1], self.tok.vocab_size, dim=self.dim, layers=self.layers,
                              max_len=self.max_len)
        targets = [self.tok.encode(c)[: self.max_len - 6] for c in captions]
        data = _sequences(emb, targets)
        for row in data:  # the byte tokenizer's own specials replace PAD/BOS/EOS ids 0..2 (bytes)
            row["input_ids"] = _remap(row["input_ids"], row["attention_mask"], self.tok)
            row["labels"] = torch.where(row["labels"] == EOS, torch.tensor(self.tok.eos_id), row["labels"])
        _train(self.model, data, steps=steps, batch_size=batch_size, lr=lr, seed=seed)
        return self

    @torch.no_grad()
    def generate(self, emb: np.ndarray, *, method: str = "greedy", alpha: float = 0.6, k: int = 4,
                 max_new_tokens: int = 140, batch: int = 128) -> list[str]:
        assert self.model is not None
        out: list[str] = []
        for s in range(0, emb.shape[0], batch):
            e = torch.as_tensor(emb[s:s + batch], dtype=torch.float32)
            start = torch.full((e.shape[0], 1), self.tok.bos_id, dtype=torch.long)
            kw = {"max_new_tokens": max_new_tokens, "eos_id": self.tok.eos_id, "pad_id": self.tok.pad_id,
                  "prefix_embeds": self.model.prefix(e)}
            if method == "greedy":
                gen = generate(self.model.lm, start, **kw)
            elif method == "contrastive":
                gen = contrastive_search(self.model.lm, start, alpha=alpha, k=k, **kw)
            else:
                raise ValueError(f"method must be 'greedy' or 'contrastive', got {method!r}")
            out += [self.tok.decode(r, skip_special=True) for r in gen.tolist()]
        return out


def _remap(ids: torch.Tensor, mask: torch.Tensor, tok: ByteTokenizer) -> torch.Tensor:
    out = ids.clone()
    out[0] = tok.bos_id
    return out.masked_fill(mask == 0, tok.pad_id)


# ---------------------------------------------------------------------------- UDR: cluster re-ranking


class ClusterRanker(nn.Module):
    """Query / cluster projectors (residual linear maps) scoring ``q(x) . c(p)`` for re-ranking the
    K location clusters retrieved for a query embedding (PIGEON's refinement candidates)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.q = nn.Linear(dim, dim)
        self.c = nn.Linear(dim, dim)
        for lin in (self.q, self.c):
            nn.init.eye_(lin.weight)
            nn.init.zeros_(lin.bias)

    def score(self, x: torch.Tensor, cands: torch.Tensor) -> torch.Tensor:
        """[B, K] scores of query embeddings [B, D] against candidate embeddings [B, K, D]."""
        q = nn.functional.normalize(self.q(x), dim=-1)
        c = nn.functional.normalize(self.c(cands), dim=-1)
        return torch.einsum("bd,bkd->bk", q, c)


def candidate_clusters(query: np.ndarray, protos: np.ndarray, k: int) -> np.ndarray:
    """Indices [M, k] of the ``k`` prototypes most cosine-similar to each query embedding."""
    q = torch.nn.functional.normalize(torch.as_tensor(query, dtype=torch.float32), dim=-1)
    p = torch.nn.functional.normalize(torch.as_tensor(protos, dtype=torch.float32), dim=-1)
    return (q @ p.T).topk(k, dim=1).indices.numpy()


def fit_cluster_ranker(query: np.ndarray, cands: np.ndarray, cand_km: np.ndarray, protos: np.ndarray, *,
                       listwise: bool = True, steps: int = 600, batch_size: int = 64, lr: float = 1e-3,
                       scale: float = 20.0, seed: int = 0) -> ClusterRanker:
    """Train a :class:`ClusterRanker` on training queries [N, D] whose candidates [N, K] have km
    errors ``cand_km`` [N, K]: candidates are sorted by km error (best first) and the loss is
    UDR's LambdaMRR (relevance 1 / rank) + in-batch CE with the nearest cluster as positive
    (``listwise=False``: the in-batch CE alone, the DPR-style baseline)."""
    torch.manual_seed(seed)
    order = np.argsort(cand_km, axis=1, kind="stable")
    sorted_c = np.take_along_axis(cands, order, axis=1)
    x = torch.as_tensor(query, dtype=torch.float32)
    pe = torch.as_tensor(protos, dtype=torch.float32)
    c_idx = torch.as_tensor(sorted_c)
    ranker = ClusterRanker(x.shape[1])
    loss = ListwiseRankLoss(rank_weight=1.0 if listwise else 0.0)
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(ranker.parameters(), lr=lr, weight_decay=0.01)
    for _ in range(steps):
        b = torch.randint(0, x.shape[0], (batch_size,), generator=g)
        q = nn.functional.normalize(ranker.q(x[b]), dim=-1)
        c = nn.functional.normalize(ranker.c(pe[c_idx[b]]), dim=-1)
        # ListwiseRankLoss scores with dot products: scaling both sides by sqrt(scale) gives
        # scale * cosine in the in-batch softmax and in LambdaMRR's pairwise margins alike
        out = loss(q * scale ** 0.5, c * scale ** 0.5)
        opt.zero_grad()
        out.backward()
        opt.step()
    return ranker.eval()


@torch.no_grad()
def rerank(ranker: ClusterRanker | None, query: np.ndarray, cands: np.ndarray, protos: np.ndarray) -> np.ndarray:
    """Index [M] of the best candidate per query (cosine order when ``ranker`` is None)."""
    if ranker is None:
        return cands[:, 0]
    s = ranker.score(torch.as_tensor(query, dtype=torch.float32), torch.as_tensor(protos, dtype=torch.float32)[cands])
    return cands[np.arange(cands.shape[0]), s.argmax(1).numpy()]
