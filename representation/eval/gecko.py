"""Gecko's question-answering alignment score (Wiles et al., "Revisiting Text-to-Image Evaluation
with Gecko: On Metrics, Prompts, and Human Ratings", arXiv:2404.16820, 2024).

An image is scored against its prompt by questions generated from the prompt and answered by a
visual question-answering model:

1. questions with *word coverage*: every QA pair names the prompt words it covers; a pair whose
   covered words are not in the prompt is dropped, and ``coverage`` (share of the prompt's
   content words covered by some question) says how completely the questions test the prompt;
2. a pluggable answerer ``answer(image, question, choices) -> scores [len(choices)]``;
3. each question's score is the answerer's normalised score of the right answer,
   ``p(correct) / Σ_c p(c)`` in [0, 1], and the alignment is their mean (an oracle answerer,
   all mass on the right answer, gives 1).

:func:`template_questions` is an offline question generator (one yes / no presence question per
content word, one "what colour" question per colour-object pair); Gecko uses an LLM, which can be
passed as ``generator`` instead.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from representation.augment.text import STOP_WORDS
from representation.registry import register

GECKO_CITATION = ("Wiles et al., Revisiting Text-to-Image Evaluation with Gecko: On Metrics, Prompts, and "
                  "Human Ratings, arXiv:2404.16820, 2024")
COLOURS = ("red", "green", "blue", "yellow", "white", "black", "orange", "purple", "pink", "brown", "grey", "gray")
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


@dataclass(frozen=True)
class QA:
    question: str
    choices: tuple[str, ...]
    answer: str
    covers: tuple[str, ...]  # prompt words this question tests


def content_words(prompt: str) -> list[str]:
    """Lower-case words of ``prompt`` without stop words, in order, unique."""
    return list(dict.fromkeys(w for w in _WORD.findall(prompt.lower()) if w not in STOP_WORDS))


def template_questions(prompt: str) -> list[QA]:
    """Offline QA generation with word coverage (module docstring)."""
    words = content_words(prompt)
    qas = []
    seq = _WORD.findall(prompt.lower())
    for i, w in enumerate(seq[:-1]):
        if w in COLOURS and seq[i + 1] not in STOP_WORDS and seq[i + 1] not in COLOURS:
            obj = seq[i + 1]
            qas.append(QA(f"What colour is the {obj}?", COLOURS[:10], w, (w, obj)))
    for w in words:
        if w not in COLOURS:
            qas.append(QA(f"Does the image show {w}?", ("yes", "no"), "yes", (w,)))
    return qas


def coverage(prompt: str, qas: Sequence[QA]) -> float:
    """Share of the prompt's content words covered by at least one question (1 for an empty prompt)."""
    words = content_words(prompt)
    covered = {w for qa in qas for w in qa.covers}
    return 1.0 if not words else sum(w in covered for w in words) / len(words)


def filter_by_coverage(prompt: str, qas: Sequence[QA]) -> list[QA]:
    """Drop QA pairs that cover no word or a word absent from the prompt (hallucinated questions)."""
    words = set(_WORD.findall(prompt.lower()))
    return [qa for qa in qas if qa.covers and all(w in words for w in qa.covers) and qa.answer in qa.choices]


@register("gecko", kind="evaluator")
class GeckoScore:
    """``__call__(image, prompt) -> {"score", "coverage", "per_question"}``; score in [0, 1].

    Args:
        answerer: ``(image, question, choices) -> non-negative scores per choice`` (runtime argument).
        generator: ``prompt -> list[QA]`` (runtime argument; default :func:`template_questions`).
    """

    citation = GECKO_CITATION
    runtime_keys = ("answerer", "generator")

    def __init__(self, answerer: Callable[[Any, str, Sequence[str]], Sequence[float]] | None = None,
                 generator: Callable[[str], list[QA]] | None = None) -> None:
        self.answerer = answerer
        self.generator = generator or template_questions

    def __call__(self, image: Any, prompt: str) -> dict[str, Any]:
        if self.answerer is None:
            raise ValueError("GeckoScore needs an answerer(image, question, choices)")
        qas = filter_by_coverage(prompt, self.generator(prompt))
        if not qas:
            raise ValueError(f"no question with word coverage for prompt {prompt!r}")
        per = []
        for qa in qas:
            scores = [float(s) for s in self.answerer(image, qa.question, qa.choices)]
            if len(scores) != len(qa.choices) or min(scores) < 0:
                raise ValueError(f"the answerer must return {len(qa.choices)} non-negative scores, got {scores}")
            total = sum(scores)
            per.append(0.0 if total <= 0 else scores[qa.choices.index(qa.answer)] / total)
        return {"score": sum(per) / len(per), "coverage": coverage(prompt, qas), "per_question": per}

    def get_config_dict(self) -> dict[str, Any]:
        return {}
