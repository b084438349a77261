"""Teacher-mined hard negatives (DCD): the highest-scoring non-positive columns per row.

Output is a dense bool mask [N, M] (never index tuples): ``True`` marks a mined hard negative.
Positives are never selected. Mining runs under ``no_grad``; the teacher never gets gradient.
"""

from __future__ import annotations

from typing import Any

import torch

from representation.registry import register

DCD_CITATION = (
    "Rao, Ji, Wang, Ding, Yang, Wang, Chen, Zhou, Ouyang. Dynamic Contrastive Distillation for "
    "Image-Text Retrieval. IEEE Transactions on Multimedia 2023."
)


@torch.no_grad()
def top_k_negative_mask(scores: torch.Tensor, positive_mask: torch.Tensor, k: int,
                        valid: torch.Tensor | None = None) -> torch.Tensor:
    """Bool [N, M]: per row the ``k`` highest ``scores`` among columns that are not positive (and
    are ``valid``). Rows with fewer than k candidates get all of them."""
    if scores.shape != positive_mask.shape:
        raise ValueError(f"scores {tuple(scores.shape)} and positive_mask {tuple(positive_mask.shape)} differ")
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    candidate = ~positive_mask.bool()
    if valid is not None:
        candidate &= valid.bool()
    out = torch.zeros_like(candidate)
    k = min(k, scores.shape[1])
    if k == 0:
        return out
    masked = scores.detach().float().masked_fill(~candidate, float("-inf"))
    idx = masked.topk(k, dim=1).indices
    out.scatter_(1, idx, True)
    return out & candidate


@register("teacher_hard_negatives", kind="miner")
class TeacherHardNegativeMiner:
    """Select each row's ``num_negatives`` hardest negatives by teacher score.

    Args:
        num_negatives: negatives kept per row.

    ``mine(teacher_scores [N, M], positive_mask [N, M] bool, valid=None) -> bool [N, M]``.
    """

    citation = DCD_CITATION

    def __init__(self, num_negatives: int = 8) -> None:
        if num_negatives < 0:
            raise ValueError(f"num_negatives must be >= 0, got {num_negatives}")
        self.num_negatives = int(num_negatives)

    def mine(self, teacher_scores: torch.Tensor, positive_mask: torch.Tensor,
             valid: torch.Tensor | None = None) -> torch.Tensor:
        return top_k_negative_mask(teacher_scores, positive_mask, self.num_negatives, valid)

    __call__ = mine

    def get_config_dict(self) -> dict[str, Any]:
        return {"num_negatives": self.num_negatives}
