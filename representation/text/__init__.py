"""Text data recipes for language-model objectives: UL2 denoisers and span corruption, table
linearisation and cell-level corruption, instruction formatting (In-BoXBART), prompt templates
and MLM masking (PCP, xP3), QAmden cross-document QA data."""

from __future__ import annotations

from representation.text.denoise import (
    UL2_DENOISERS,
    Denoiser,
    MixtureOfDenoisers,
    corrupt,
    noise_counts,
    random_span_mask,
    rebuild,
    spans_of,
)
from representation.text.instructions import InstructionFormatter, TaskInstruction
from representation.text.prompts import MLMMasking, PromptTemplate, render_fields, verbalizer_logits
from representation.text.qamden import QAmdenBuilder, cloze_question, rouge1_f, split_sentences
from representation.text.tables import LinearTable, TableSpanCorruption, linearize_table

__all__ = ["UL2_DENOISERS", "Denoiser", "InstructionFormatter", "LinearTable", "MLMMasking", "MixtureOfDenoisers",
           "PromptTemplate", "QAmdenBuilder", "TableSpanCorruption", "TaskInstruction", "cloze_question", "corrupt",
           "linearize_table", "noise_counts", "random_span_mask", "rebuild", "render_fields", "rouge1_f",
           "spans_of", "split_sentences", "verbalizer_logits"]
