"""A byte-level tokenizer that needs no download (and no training).

Ids 0..255 are the UTF-8 bytes; then come the special tokens (``<pad>``, ``<bos>``, ``<eos>``,
``<mask>``, ``<sep>``, ``<unk>``), then ``num_sentinels`` sentinel tokens ``<extra_id_i>`` (span
corruption targets, T5 / UL2 style), then any ``extra_tokens`` given by name (mode tokens
``[R]`` / ``[S]`` / ``[X]``, task tokens, identifier tokens). Every string round-trips:
``decode(encode(s)) == s`` for any text; special tokens are rendered by name and, with
``parse_special=True``, recognised again on encoding.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from representation.registry import register

SPECIALS = ("<pad>", "<bos>", "<eos>", "<mask>", "<sep>", "<unk>")


@register("byte_tokenizer", kind="tokenizer")
class ByteTokenizer:
    """UTF-8 bytes + named special tokens (see module docstring).

    Args:
        num_sentinels: number of ``<extra_id_i>`` tokens (span-corruption sentinels).
        extra_tokens: further named tokens (e.g. ``["[R]", "[S]", "[X]"]``), in id order.
    """

    citation = "Xue et al., ByT5: Towards a Token-Free Future with Pre-trained Byte-to-Byte Models, TACL 2022"
    config_keys = ("num_sentinels", "extra_tokens")

    def __init__(self, num_sentinels: int = 32, extra_tokens: Sequence[str] = ()) -> None:
        if num_sentinels < 0:
            raise ValueError(f"num_sentinels must be >= 0, got {num_sentinels}")
        self.num_sentinels = int(num_sentinels)
        self.extra_tokens = [str(t) for t in extra_tokens]
        names = [*SPECIALS, *(f"<extra_id_{i}>" for i in range(self.num_sentinels)), *self.extra_tokens]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate token names in {names}")
        self.special_ids = {name: 256 + i for i, name in enumerate(names)}
        self.special_names = {i: n for n, i in self.special_ids.items()}
        # longest names first, so "<extra_id_10>" is not read as "<extra_id_1>" + "0>"
        pattern = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
        self._special_re = re.compile(f"({pattern})")

    # ------------------------------------------------------------------ ids
    @property
    def vocab_size(self) -> int:
        return 256 + len(self.special_ids)

    @property
    def pad_id(self) -> int:
        return self.special_ids["<pad>"]

    @property
    def bos_id(self) -> int:
        return self.special_ids["<bos>"]

    @property
    def eos_id(self) -> int:
        return self.special_ids["<eos>"]

    @property
    def mask_id(self) -> int:
        return self.special_ids["<mask>"]

    @property
    def sep_id(self) -> int:
        return self.special_ids["<sep>"]

    def sentinel_id(self, i: int) -> int:
        """Id of ``<extra_id_i>``."""
        if not 0 <= i < self.num_sentinels:
            raise ValueError(f"sentinel {i} out of range: the tokenizer has {self.num_sentinels} (num_sentinels)")
        return self.special_ids[f"<extra_id_{i}>"]

    def token_id(self, name: str) -> int:
        """Id of a named special / extra token."""
        if name not in self.special_ids:
            raise ValueError(f"unknown token {name!r}; add it to extra_tokens")
        return self.special_ids[name]

    def is_special(self, i: int) -> bool:
        return i >= 256

    # ------------------------------------------------------------------ text
    def encode(self, text: str, *, add_bos: bool = False, add_eos: bool = False,
               parse_special: bool = True) -> list[int]:
        """Ids of ``text`` (UTF-8 bytes; named tokens recognised when ``parse_special``)."""
        ids: list[int] = [self.bos_id] if add_bos else []
        parts = self._special_re.split(text) if parse_special else [text]
        for part in parts:
            if not part:
                continue
            if parse_special and part in self.special_ids:
                ids.append(self.special_ids[part])
            else:
                ids.extend(part.encode("utf-8"))
        if add_eos:
            ids.append(self.eos_id)
        return ids

    def decode(self, ids: Sequence[int], *, skip_special: bool = False) -> str:
        """Text of ``ids``; invalid UTF-8 byte runs become U+FFFD; special tokens by name
        (dropped with ``skip_special``)."""
        out: list[str] = []
        buf = bytearray()
        for raw in ids:
            i = int(raw)
            if 0 <= i < 256:
                buf.append(i)
                continue
            if buf:
                out.append(buf.decode("utf-8", errors="replace"))
                buf = bytearray()
            if i not in self.special_names:
                raise ValueError(f"id {i} is outside the vocabulary (size {self.vocab_size})")
            if not skip_special:
                out.append(self.special_names[i])
        if buf:
            out.append(buf.decode("utf-8", errors="replace"))
        return "".join(out)

    def __call__(self, texts: Sequence[str], *, add_bos: bool = False, add_eos: bool = True) -> list[list[int]]:
        return [self.encode(t, add_bos=add_bos, add_eos=add_eos) for t in texts]

    def get_config_dict(self) -> dict[str, Any]:
        return {"num_sentinels": self.num_sentinels, "extra_tokens": list(self.extra_tokens)}
