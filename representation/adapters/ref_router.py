"""REF-VLM's triplet-based referring paradigm (Tian et al., "REF-VLM: Triplet-Based Referring
Paradigm for Unified Visual Decoding", arXiv:2503.07413, 2025; code: MacavityT/REF-VLM).

The language model answers with triplets ``<Phrase>text</Phrase>(<Unit>type</Unit><REF>[0]<REF>[1])``:
a phrase, the unit type of the visual output (box, mask, keypoint, depth, ...) and one ``<REF>``
token per referred object. The LM's hidden state at each ``<REF>`` token is routed (through a
shared adapter) to the decoder of its unit type, and the loss is the LM's cross-entropy plus
weighted decoder losses (compose with :class:`representation.losses.MultiTaskLoss`).

* :func:`parse_triplets` / :func:`format_triplets`: the format, round-tripping for any phrase
  without the markup characters; plain text between triplets is kept as ``Text`` items;
* :func:`ref_units` lists the unit type of every ``<REF>`` token in order;
* :class:`RefTokenRouter`: ``forward(hidden [B, L, D], ref_mask [B, L] bool, units)`` sends the
  hidden states at the ``<REF>`` positions, in reading order, through the adapter to the decoder of
  their unit and returns ``{unit: (outputs [n_u, ...], index [n_u] position among the REF tokens)}``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from representation.registry import register

REFVLM_CITATION = ("Tian et al., REF-VLM: Triplet-Based Referring Paradigm for Unified Visual Decoding, "
                   "arXiv:2503.07413, 2025")
REF_TOKEN = "<REF>"
_TRIPLET = re.compile(r"<Phrase>(?P<phrase>.*?)</Phrase>\(<Unit>(?P<unit>[^<>()]+)</Unit>(?P<refs>(?:<REF>(?:\[\d+\])?)+)\)",
                      re.S)
_REF = re.compile(r"<REF>(?:\[(\d+)\])?")


@dataclass(frozen=True)
class Triplet:
    phrase: str
    unit: str
    refs: tuple[int, ...]  # the referred objects' indices


@dataclass(frozen=True)
class Text:
    text: str


def parse_triplets(answer: str) -> list[Triplet | Text]:
    """Triplets and the plain text around them, in order. ``<REF>`` without an index gets its
    position in the triplet. A malformed triplet stays plain text."""
    items: list[Triplet | Text] = []
    pos = 0
    for m in _TRIPLET.finditer(answer):
        if m.start() > pos:
            items.append(Text(answer[pos:m.start()]))
        refs = tuple(int(i) if i else k for k, i in enumerate(_REF.findall(m.group("refs"))))
        items.append(Triplet(m.group("phrase"), m.group("unit"), tuple(int(r) for r in refs)))
        pos = m.end()
    if pos < len(answer):
        items.append(Text(answer[pos:]))
    return items


def format_triplets(items: Sequence[Triplet | Text]) -> str:
    """Inverse of :func:`parse_triplets` (indices always written)."""
    out = []
    for it in items:
        if isinstance(it, Text):
            out.append(it.text)
        else:
            if not it.refs:
                raise ValueError(f"triplet {it.phrase!r} has no REF")
            out.append(f"<Phrase>{it.phrase}</Phrase>(<Unit>{it.unit}</Unit>"
                       + "".join(f"{REF_TOKEN}[{r}]" for r in it.refs) + ")")
    return "".join(out)


def ref_units(items: Sequence[Triplet | Text]) -> list[str]:
    """The unit type of every ``<REF>`` token, in reading order."""
    return [it.unit for it in items if isinstance(it, Triplet) for _ in it.refs]


@register("ref_token_router", kind="adapter")
class RefTokenRouter(nn.Module):
    """Route ``<REF>`` hidden states to unit-specific decoders (module docstring).

    Args:
        dim: hidden size D; adapter_dim: the shared adapter's output (REF-VLM's VD adapter, an MLP).
        decoders: ``{unit: module}`` taking [n, adapter_dim] (runtime argument).
    """

    citation = REFVLM_CITATION
    runtime_keys = ("decoders",)

    def __init__(self, dim: int, adapter_dim: int, decoders: Mapping[str, nn.Module] | None = None) -> None:
        super().__init__()
        self.dim, self.adapter_dim = int(dim), int(adapter_dim)
        self.adapter = nn.Sequential(nn.Linear(dim, adapter_dim), nn.GELU(), nn.Linear(adapter_dim, adapter_dim))
        self.decoders = nn.ModuleDict(dict(decoders or {}))

    def forward(self, hidden: torch.Tensor, ref_mask: torch.Tensor, units: Sequence[str]
                ) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        states = hidden[ref_mask.to(torch.bool)]  # [R, D], row-major = reading order
        if states.shape[0] != len(units):
            raise ValueError(f"{states.shape[0]} <REF> positions but {len(units)} unit types")
        unknown = sorted(set(units) - set(self.decoders))
        if unknown:
            raise ValueError(f"no decoder for unit types {unknown}; have {sorted(self.decoders)}")
        feats = self.adapter(states)
        out = {}
        for unit in dict.fromkeys(units):
            idx = torch.tensor([i for i, u in enumerate(units) if u == unit], device=hidden.device)
            out[unit] = (self.decoders[unit](feats[idx]), idx)
        return out

    def get_config_dict(self) -> dict[str, Any]:
        return {"dim": self.dim, "adapter_dim": self.adapter_dim}
