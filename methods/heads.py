"""The linear classification head most methods end in: ``logits = scale * x @ W.T (+ b)``.

Zero-shot CLIP, the description baselines, ZPE's fitted pool, CoOp's learned prompts and both of
GDA's terms all score an image feature against one weight row per class; one function keeps the
order of operations (and so every logit, bit for bit) the same everywhere.
"""
from __future__ import annotations

import torch


def linear_head(features: torch.Tensor, weights: torch.Tensor, scale: float | None = None,
                bias: torch.Tensor | None = None) -> torch.Tensor:
    """[N, D] features and [C, D] class weights (moved to the features' device and dtype) ->
    [N, C] ``(scale * features) @ weights.T + bias`` (no scale, no bias when None)."""
    weights = weights.to(features.device, features.dtype)
    scaled = features if scale is None else scale * features
    logits = scaled @ weights.T
    return logits if bias is None else logits + bias.to(features.device, features.dtype)
