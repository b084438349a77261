"""Natural-language instructions (In-BoXBART: Parmar et al., "In-BoXBART: Get Instructions into
Biomedical Multi-Task Learning", NAACL Findings 2022; the Natural-Instructions format of Mishra
et al. 2022): every input of a multi-task seq2seq model is prefixed with its task's definition
and positive / negative examples; there are no task-specific modules.

The formatter is a pure function of its arguments (same task, same input -> same string).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from representation.registry import register


@dataclass(frozen=True)
class TaskInstruction:
    """A task's ``definition`` and ``positive`` / ``negative`` examples ``(input, output)``
    (negative: a wrong output, optionally with an explanation as a third item)."""

    name: str
    definition: str
    positive: Sequence[Sequence[str]] = field(default_factory=tuple)
    negative: Sequence[Sequence[str]] = field(default_factory=tuple)


@register("instruction_formatter", kind="transform")
class InstructionFormatter:
    """``format(task, x) -> str``: ``Definition: ... Positive Example 1- input: ... output: ...
    Negative Example 1- input: ... output: ... [explanation: ...] Now complete the following
    example- input: x output:`` (the In-BoXBART prompt), with at most ``num_positive`` /
    ``num_negative`` examples. ``sep`` joins the parts."""

    citation = ("Parmar et al., In-BoXBART: Get Instructions into Biomedical Multi-Task Learning, "
                "Findings of NAACL 2022")
    config_keys = ("num_positive", "num_negative", "sep")

    def __init__(self, num_positive: int = 2, num_negative: int = 1, sep: str = " ") -> None:
        if num_positive < 0 or num_negative < 0:
            raise ValueError("num_positive and num_negative must be >= 0")
        self.num_positive, self.num_negative, self.sep = int(num_positive), int(num_negative), sep

    def format(self, task: TaskInstruction, x: str) -> str:
        parts = [f"Definition: {task.definition.strip()}"]
        for i, ex in enumerate(list(task.positive)[: self.num_positive], start=1):
            parts.append(f"Positive Example {i}- input: {ex[0]} output: {ex[1]}.")
        for i, ex in enumerate(list(task.negative)[: self.num_negative], start=1):
            expl = f" explanation: {ex[2]}." if len(ex) > 2 and ex[2] else ""
            parts.append(f"Negative Example {i}- input: {ex[0]} output: {ex[1]}.{expl}")
        parts.append(f"Now complete the following example- input: {x} output:")
        return self.sep.join(parts)

    __call__ = format

    def get_config_dict(self) -> dict[str, Any]:
        return {"num_positive": self.num_positive, "num_negative": self.num_negative, "sep": self.sep}
