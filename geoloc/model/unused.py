"""Parameters a model's training forward never uses, frozen before DDP wraps the model.

DistributedDataParallel (built without ``find_unused_parameters``, which would cost a graph walk
every step) expects a gradient for every trainable parameter and fails at the second step when
one never gets one ("Expected to have finished reduction in the prior iteration ..."). Such
parameters learn nothing anyway, so they are frozen (``requires_grad=False``) before training:

* an open_clip CLIP trained through :class:`geoloc.train.pretrain.ClipPair`: its own
  ``logit_scale`` (and ``logit_bias`` of SigLIP models): the contrastive loss has its own scale;
* a :class:`geoloc.model.GeoModel` on an open_clip ViT:
  the projection ``visual.proj`` whenever the token path is used (``embedding="tokens_mean"`` /
  ``"tokens_mean_pre_ln"``, or ``fusion="cross_frame"``, which fuses the tokens);
  the final norm ``visual.ln_post`` with ``embedding="tokens_mean_pre_ln"`` (tokens before it).

One function serves pretraining and fine-tuning: :func:`freeze_unused`. The test
``tests/model/test_unused.py`` runs a backward pass for every embedding x fusion choice and both
CLIP towers and checks that, afterwards, every trainable parameter has a gradient.
"""

from __future__ import annotations

from torch import nn


def _geo_model_unused(net: nn.Module) -> list[str]:
    tower = net.tower
    if not tower.is_vit:
        return []
    visual = tower.visual
    tokens_path = tower.embedding != "pooled" or net.config.fusion == "cross_frame"
    names = []
    if tokens_path and isinstance(getattr(visual, "proj", None), nn.Parameter):
        names.append("tower.visual.proj")
    if tower.embedding == "tokens_mean_pre_ln" and isinstance(getattr(visual, "ln_post", None), nn.Module):
        names += [f"tower.visual.ln_post.{n}" for n, _ in visual.ln_post.named_parameters()]
    return names


def unused_parameters(model: nn.Module) -> list[str]:
    """Names (as in ``model.named_parameters()``) of the parameters ``model``'s training forward
    never uses: a :class:`~geoloc.model.GeoModel` by its tower, embedding and fusion, an open_clip
    CLIP (anything with ``encode_image`` and ``encode_text``) its ``logit_scale`` / ``logit_bias``."""
    from geoloc.model.geo_model import GeoModel

    if isinstance(model, GeoModel):
        return _geo_model_unused(model)
    if hasattr(model, "encode_image") and hasattr(model, "encode_text"):
        return [n for n in ("logit_scale", "logit_bias") if isinstance(getattr(model, n, None), nn.Parameter)]
    return []


def freeze_unused(model: nn.Module) -> list[str]:
    """Set ``requires_grad=False`` on :func:`unused_parameters` (call after any freeze policy, before
    the Trainer wraps the model in DDP); returns their names."""
    params = dict(model.named_parameters())
    names = unused_parameters(model)
    for name in names:
        params[name].requires_grad_(False)
    return names


__all__ = ["freeze_unused", "unused_parameters"]
