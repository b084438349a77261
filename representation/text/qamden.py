"""QAmden pretraining data (Caciularu et al., "Peek Across: Improving Multi-Document Modeling via
Cross-Document Question-Answering", ACL 2023): from a cluster of related documents, pick a
salient sentence of one document (the one most covered by the *other* documents), generate a
question and answer from it, and train a seq2seq model to produce ``answer + sentence`` from
``question + all documents with that sentence removed`` -- the sentence never leaks into the
context, so the model must gather the information across documents.

The question generator is pluggable (``question_fn(sentence, others) -> (question, answer)``;
the paper uses a trained QG model). The default is a cloze question: the answer is the
sentence's content word shared with most other documents, the question the sentence with that
word replaced by ``"what"`` (deterministic).
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from representation.registry import register

_SENT = re.compile(r"(?<=[.!?])\s+")
_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9'-]*")
STOP = frozenset(["the", "a", "an", "and", "or", "of", "to", "in", "on", "at", "for", "with", "by", "from", "is", "are", "was", "were", "be", "been", "it", "its", "this", "that", "these", "those", "as", "not", "but", "has", "have", "had", "which", "who", "whom", "what", "when", "where", "why", "how", "than", "then"])


def split_sentences(doc: str) -> list[str]:
    return [s.strip() for s in _SENT.split(doc.strip()) if s.strip()]


def words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


def rouge1_f(a: Sequence[str], b: Sequence[str]) -> float:
    """ROUGE-1 F1 of word lists (clipped unigram overlap)."""
    if not a or not b:
        return 0.0
    overlap = sum((Counter(a) & Counter(b)).values())
    if overlap == 0:
        return 0.0
    p, r = overlap / len(a), overlap / len(b)
    return 2 * p * r / (p + r)


def cloze_question(sentence: str, others: Sequence[str]) -> tuple[str, str]:
    """Default question generator (module docstring)."""
    other_words = [set(words(o)) for o in others]
    cands = [w for w in _WORD.findall(sentence) if w.lower() not in STOP and len(w) > 2]
    if not cands:
        cands = _WORD.findall(sentence) or [sentence]
    best = max(cands, key=lambda w: (sum(w.lower() in o for o in other_words), len(w)))
    q = re.sub(rf"\b{re.escape(best)}\b", "what", sentence, count=1).rstrip(".!? ") + "?"
    return q, best


@register("qamden_builder", kind="transform")
class QAmdenBuilder:
    """``__call__(cluster: list[str], rng) -> dict`` with ``inputs`` / ``target`` strings and the
    parts (``question``, ``answer``, ``sentence``, ``doc``, ``context_docs``).

    Args:
        top_k: the salient sentence is drawn uniformly from the ``top_k`` most salient (1 = argmax).
        doc_sep: separator between context documents.
        question_fn: runtime argument (module docstring).
    """

    citation = ("Caciularu et al., Peek Across: Improving Multi-Document Modeling via Cross-Document "
                "Question-Answering, ACL 2023")
    config_keys = ("top_k", "doc_sep")
    runtime_keys = ("question_fn",)

    def __init__(self, top_k: int = 1, doc_sep: str = " <doc-sep> ",
                 question_fn: Callable[[str, Sequence[str]], tuple[str, str]] | None = None) -> None:
        if top_k < 1:
            raise ValueError("top_k must be >= 1")
        self.top_k, self.doc_sep = int(top_k), doc_sep
        self.question_fn = question_fn or cloze_question

    def salient(self, cluster: Sequence[str]) -> list[tuple[float, int, int]]:
        """``(salience, doc, sentence index)`` sorted by decreasing salience (ROUGE-1 F1 of the
        sentence against the other documents together; ties by position)."""
        out = []
        for d, doc in enumerate(cluster):
            rest = words(" ".join(o for j, o in enumerate(cluster) if j != d))
            for s, sent in enumerate(split_sentences(doc)):
                out.append((rouge1_f(words(sent), rest), d, s))
        return sorted(out, key=lambda t: (-t[0], t[1], t[2]))

    def __call__(self, cluster: Sequence[str], rng: random.Random) -> dict[str, Any]:
        if len(cluster) < 2:
            raise ValueError("QAmden needs a cluster of at least 2 documents")
        ranked = self.salient(cluster)
        if not ranked:
            raise ValueError("the cluster has no sentence")
        _, d, s = rng.choice(ranked[: self.top_k])
        sents = split_sentences(cluster[d])
        sentence = sents[s]
        others = [o for j, o in enumerate(cluster) if j != d]
        question, answer = self.question_fn(sentence, others)
        source = " ".join(x for i, x in enumerate(sents) if i != s)
        context_docs = [source if j == d else o for j, o in enumerate(cluster)]
        context_docs = [c for c in context_docs if c]
        if any(sentence in c for c in context_docs):  # the same sentence repeated elsewhere
            context_docs = [c.replace(sentence, " ").strip() for c in context_docs]
        return {"inputs": f"question: {question} context: {self.doc_sep.join(context_docs)}",
                "target": f"answer: {answer} sentence: {sentence}", "question": question, "answer": answer,
                "sentence": sentence, "doc": d, "context_docs": context_docs}

    def get_config_dict(self) -> dict[str, Any]:
        return {"top_k": self.top_k, "doc_sep": self.doc_sep}
