"""Adapters: X-CLIP video-specific prompt, MVLPT shared prompt learner, DenseCLIP context decoder."""

from __future__ import annotations

from representation.adapters.context_decoder import ContextDecoder, CoOpContext
from representation.adapters.multi_lane import MultiLaneAdapter, TaskIdentifier
from representation.adapters.open_clip_prompts import PromptedCLIP
from representation.adapters.prompt_learner import (
    SharedPromptLearner,
    insert_after_first,
    mask_task_logits,
    task_class_mask,
)
from representation.adapters.ref_router import (
    RefTokenRouter,
    Text,
    Triplet,
    format_triplets,
    parse_triplets,
    ref_units,
)
from representation.adapters.video_prompt import VideoSpecificPrompt

__all__ = [
    "CoOpContext",
    "ContextDecoder",
    "MultiLaneAdapter",
    "PromptedCLIP",
    "RefTokenRouter",
    "SharedPromptLearner",
    "TaskIdentifier",
    "Text",
    "Triplet",
    "VideoSpecificPrompt",
    "format_triplets",
    "insert_after_first",
    "mask_task_logits",
    "parse_triplets",
    "ref_units",
    "task_class_mask",
]
