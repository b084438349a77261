"""Loss modules (thin shells over ``representation.functional``).

Every loss returns a scalar, or with ``return_dict=True`` a ``{"<name>_loss": ..., "logs": ...}``
dict; :func:`sum_losses` sums the ``*_loss`` keys (MOFI-style combiners do the same).
"""

from __future__ import annotations

from representation.losses.base import LogitScale, LossBase, sum_losses
from representation.losses.ccp import CCPLoss
from representation.losses.cl2l import CL2LLoss, ViewProjectors
from representation.losses.classification import CrossEntropyLoss
from representation.losses.coconut import NSPTLoss
from representation.losses.collap import CoLLAPLoss
from representation.losses.cosmo import CosmoLoss, next_token_loss
from representation.losses.dcd import DCDLoss
from representation.losses.distill import DistillLoss
from representation.losses.dreamlip import DreamLIPLoss
from representation.losses.engine import contrastive_loss
from representation.losses.heuristic import (
    MaskedReconstructionLoss,
    MultiLabelBCELoss,
    heuristic_pretraining_loss,
    random_patch_mask,
)
from representation.losses.hydra import HydraLoss
from representation.losses.infonce import InfoNCELoss
from representation.losses.listwise import ListwiseRankLoss
from representation.losses.lm import TargetOnlyLMLoss
from representation.losses.metric import CircleLoss, MultiSimilarityLoss, TripletMarginLoss
from representation.losses.multi_positive import MultiPositiveLoss
from representation.losses.multitask import MultiTaskLoss, TaskHintingLoss
from representation.losses.negclip import NegCLIPLoss
from representation.losses.pixpro import PixelPropagationLoss
from representation.losses.sepclr import SepCLRLoss
from representation.losses.siglip import SigLIPLoss
from representation.losses.soft_contrastive import SoftContrastiveLoss
from representation.losses.space2 import Space2Loss
from representation.losses.supcon import SupConLoss
from representation.losses.supremix import SupReMixLoss
from representation.losses.uniter import UNITERLoss
from representation.losses.whitenedcse import WhitenedCSELoss
from representation.losses.wrappers import MatryoshkaLoss

__all__ = [
    "CCPLoss",
    "CL2LLoss",
    "CircleLoss",
    "CoLLAPLoss",
    "CosmoLoss",
    "CrossEntropyLoss",
    "DCDLoss",
    "DistillLoss",
    "DreamLIPLoss",
    "HydraLoss",
    "InfoNCELoss",
    "ListwiseRankLoss",
    "LogitScale",
    "LossBase",
    "MaskedReconstructionLoss",
    "MatryoshkaLoss",
    "MultiLabelBCELoss",
    "MultiPositiveLoss",
    "MultiSimilarityLoss",
    "MultiTaskLoss",
    "NSPTLoss",
    "NegCLIPLoss",
    "PixelPropagationLoss",
    "SepCLRLoss",
    "SigLIPLoss",
    "SoftContrastiveLoss",
    "Space2Loss",
    "SupConLoss",
    "SupReMixLoss",
    "TargetOnlyLMLoss",
    "TaskHintingLoss",
    "TripletMarginLoss",
    "UNITERLoss",
    "ViewProjectors",
    "WhitenedCSELoss",
    "contrastive_loss",
    "heuristic_pretraining_loss",
    "next_token_loss",
    "random_patch_mask",
    "sum_losses",
]
