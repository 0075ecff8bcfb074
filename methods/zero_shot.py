"""Zero-shot CLIP baselines: a text classifier from class-name prompts, logits = 100 * cos.

``clip`` uses the dataset's single prompt (CoOp's per-dataset template; "a photo of a {}." for
the ImageNet family); ``clip-e`` averages the prompt ensemble (open_clip's 80 OpenAI ImageNet
templates for the ImageNet family, per-dataset ensembles where defined).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from zsbench.harness.core.config import param
from zsbench.harness.core.registry import register_method

from zsbench.methods.base import Method, MethodInputs, Need
from zsbench.methods.heads import linear_head


@register_method("clip")
class ZeroShotCLIP(Method):
    name = "clip"
    needs = frozenset({Need.IMAGE_FEATURES})

    @dataclass
    class Config:
        logit_scale: float = param(100.0, gt=0)

    def templates(self, inputs: MethodInputs) -> list[str]:
        return inputs.dataset.templates

    def fit(self, inputs: MethodInputs) -> None:
        self.weights = inputs.text.classifier(inputs.classnames, self.templates(inputs))

    def logits_from_features(self, features: torch.Tensor) -> torch.Tensor:
        return linear_head(features, self.weights, self.config.logit_scale)


@register_method("clip-e")
class ZeroShotCLIPEnsemble(ZeroShotCLIP):
    name = "clip-e"

    def templates(self, inputs: MethodInputs) -> list[str]:
        return inputs.dataset.ensemble_templates
