"""Prompt templates, masked-language-model masking and verbalizer scores.

* :class:`PromptTemplate` fills ``{field}`` placeholders (xP3 / BLOOMZ prompted examples, PCP's
  templates); ``{mask}`` becomes the tokenizer's mask token.
* :class:`MLMMasking` is BERT's masking: every maskable token is selected with probability
  ``rate``; a selected token becomes ``<mask>`` (80 %), a random token (10 %) or stays (10 %);
  labels hold the original id on selected tokens, -100 elsewhere.
* PCP (Shi and Lipani, "Don't Stop Pretraining? Make Prompt-based Fine-tuning Powerful
  Learner", NeurIPS 2023): continue MLM pretraining on the *unlabelled task text wrapped in the
  prompt template* (:meth:`PromptTemplate.wrap` + :class:`MLMMasking`), then prompt-based
  fine-tuning: the class score is the MLM logit of its label word at the mask position
  (:func:`verbalizer_logits`).
"""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from representation.lm.packing import IGNORE
from representation.registry import register


@register("prompt_template", kind="transform")
class PromptTemplate:
    """``format(**fields) -> str`` for a template such as ``"{text} It was {mask}."``.

    Args:
        template: ``str.format`` template; ``{mask}`` is filled with ``mask_token``.
        target: optional template of the target (xP3: the answer, e.g. ``"{label}"``).
        mask_token: the tokenizer's mask token name (``<mask>`` for the byte tokenizer).
    """

    citation = "Shi and Lipani, Don't Stop Pretraining? Make Prompt-based Fine-tuning Powerful Learner, NeurIPS 2023"
    config_keys = ("template", "target", "mask_token")

    def __init__(self, template: str, target: str | None = None, mask_token: str = "<mask>") -> None:
        self.template, self.target, self.mask_token = template, target, mask_token
        self.fields = [f for _, f, _, _ in string.Formatter().parse(template) if f and f != "mask"]

    def format(self, **fields: Any) -> str:
        missing = set(self.fields) - set(fields)
        if missing:
            raise ValueError(f"template {self.template!r} needs fields {sorted(missing)}")
        return self.template.format(mask=self.mask_token, **fields)

    def wrap(self, text: str) -> str:
        """The template with its single text field set to ``text`` (PCP's unlabelled data)."""
        if len(self.fields) != 1:
            raise ValueError(f"wrap() needs a template with one text field, {self.template!r} has {self.fields}")
        return self.format(**{self.fields[0]: text})

    def format_target(self, **fields: Any) -> str:
        if self.target is None:
            raise ValueError("this template has no target template")
        return self.target.format(**fields)

    def get_config_dict(self) -> dict[str, Any]:
        return {"template": self.template, "target": self.target, "mask_token": self.mask_token}


@register("mlm_masking", kind="transform")
class MLMMasking:
    """``__call__(ids [B, L], maskable [B, L] bool, generator) -> (inputs, labels)`` (module
    docstring). ``vocab_range`` bounds the random replacement ids (default: bytes 0..255)."""

    citation = "Devlin et al., BERT: Pre-training of Deep Bidirectional Transformers, NAACL 2019"
    config_keys = ("mask_id", "rate", "mask_prob", "random_prob", "vocab_range")

    def __init__(self, mask_id: int, rate: float = 0.15, mask_prob: float = 0.8, random_prob: float = 0.1,
                 vocab_range: Sequence[int] = (0, 256)) -> None:
        if not 0 < rate < 1 or mask_prob < 0 or random_prob < 0 or mask_prob + random_prob > 1:
            raise ValueError("need 0 < rate < 1, mask_prob, random_prob >= 0 and mask_prob + random_prob <= 1")
        self.mask_id, self.rate, self.mask_prob, self.random_prob = int(mask_id), float(rate), float(mask_prob), float(random_prob)
        self.vocab_range = [int(v) for v in vocab_range]

    def __call__(self, ids: torch.Tensor, maskable: torch.Tensor, generator: torch.Generator | None = None
                 ) -> tuple[torch.Tensor, torch.Tensor]:
        u = torch.rand(ids.shape, generator=generator)
        selected = (u < self.rate) & maskable.bool()
        v = torch.rand(ids.shape, generator=generator)
        to_mask = selected & (v < self.mask_prob)
        to_rand = selected & (v >= self.mask_prob) & (v < self.mask_prob + self.random_prob)
        rand_ids = torch.randint(self.vocab_range[0], self.vocab_range[1], ids.shape, generator=generator)
        inputs = torch.where(to_mask, torch.full_like(ids, self.mask_id), ids)
        inputs = torch.where(to_rand, rand_ids, inputs)
        labels = torch.where(selected, ids, torch.full_like(ids, IGNORE))
        return inputs, labels

    def get_config_dict(self) -> dict[str, Any]:
        return {"mask_id": self.mask_id, "rate": self.rate, "mask_prob": self.mask_prob,
                "random_prob": self.random_prob, "vocab_range": list(self.vocab_range)}


def verbalizer_logits(mlm_logits: torch.Tensor, input_ids: torch.Tensor, mask_id: int,
                      label_word_ids: Sequence[int] | torch.Tensor) -> torch.Tensor:
    """Class scores [B, C]: the MLM logits [B, L, V] of the label words at each row's (first)
    ``mask_id`` position (prompt-based fine-tuning, LM-BFF / PCP)."""
    has = (input_ids == mask_id)
    if not bool(has.any(dim=1).all()):
        raise ValueError("every row needs a mask token for prompt-based classification")
    pos = has.float().argmax(dim=1)
    rows = torch.arange(input_ids.shape[0], device=input_ids.device)
    words = torch.as_tensor(label_word_ids, device=mlm_logits.device)
    return mlm_logits[rows, pos][:, words]


def render_fields(template: PromptTemplate, records: Sequence[Mapping[str, Any]]) -> list[tuple[str, str]]:
    """``(prompt, target)`` strings of ``records`` under a template with a target (xP3 style)."""
    return [(template.format(**r), template.format_target(**r)) for r in records]
