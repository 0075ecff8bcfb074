"""TPT: test-time prompt tuning (Shu et al., NeurIPS 2022; reference code azshue/TPT
``tpt_classification.py`` ``test_time_tuning`` / ``select_confident_samples`` / ``avg_entropy``,
``clip/custom_clip.py`` ``PromptLearner`` / ``ClipTestTimeTuning``, ``scripts/test_tpt.sh``).

For every test image, independently:

1. the image and ``n_views`` (63) random views of it (``methods/tpt_views.py``: random resized
   crops for the ImageNet family, AugMix for the other datasets, as the reference's
   ``augmix=len(set_id) > 1``) are encoded in one forward of the frozen image tower;
2. with the prompt context (``n_ctx`` = 4 vectors initialised from the token embeddings of
   ``ctx_init`` = "a photo of a", generic, class name at the end: CoOp's prompt learner), the
   logits ``logit_scale * cos(view, class prompt)`` of all 64 views are computed;
3. **confidence selection**: the ``int(64 * selection_p)`` (6) views of lowest entropy of
   ``softmax(logits)``;
4. the loss is the entropy of their *average* prediction, ``H(log mean_v softmax(logits_v))``;
   ``tta_steps`` (1) AdamW steps (lr 5e-3, torch's defaults otherwise: betas (0.9, 0.999),
   eps 1e-8, weight decay 0.01) update the context, with a fresh optimiser state per image (the
   reference reloads the initial state);
5. the prediction is the logits of view 0 (the evaluation view) with the updated context;
6. the context is reset to its initial value for the next image.

With more than one step the views selected at the first step are kept (as the reference).

Deliberate differences from the reference:

- fp32 without a gradient scaler (the reference runs under CUDA AMP with ``GradScaler(1000)``,
  whose scaled-then-unscaled gradients are the fp32 ones up to fp16 rounding).
- The selection sorts entropies with a stable sort (``torch.argsort`` in the reference: ties between
  views may order differently).
- Views are drawn from per-image seeded generators (``methods/tpt_views.py``), not the reference's
  global streams; class names are the dataset's.

The image tower is frozen, so step 1 is one ``encode_image`` of 64 images; each image then costs one
text-tower forward and backward over the C class prompts and one more forward for the prediction.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F

from zsbench.harness.core.config import param
from zsbench.harness.core.registry import register_method

from zsbench.methods.augment import split_preprocess
from zsbench.methods.base import Method, MethodInputs, Need
from zsbench.methods.heads import linear_head
from zsbench.methods.prompt_learner import PromptLearner, frozen
from zsbench.methods.tpt_views import TPTViews

Augmentation = Literal["auto", "augmix", "crops"]  # auto: crops for the ImageNet family, else AugMix


def confident_selection(logits: torch.Tensor, fraction: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(logits of the ``int(n * fraction)`` lowest-entropy rows, their indices): the reference's
    ``select_confident_samples``."""
    entropy = -(logits.softmax(1) * logits.log_softmax(1)).sum(1)
    index = torch.argsort(entropy, descending=False, stable=True)[:int(entropy.shape[0] * fraction)]
    return logits[index], index


def average_entropy(logits: torch.Tensor) -> torch.Tensor:
    """Entropy of the mean of the rows' softmax, computed in log space as the reference's ``avg_entropy``."""
    log_probs = logits - logits.logsumexp(dim=-1, keepdim=True)
    mean = log_probs.logsumexp(dim=0) - math.log(log_probs.shape[0])
    mean = torch.clamp(mean, min=torch.finfo(mean.dtype).min)
    return -(mean * torch.exp(mean)).sum(dim=-1)


def tune_context(learner: PromptLearner, model: torch.nn.Module, view_features: torch.Tensor, logit_scale: float,
                 cfg) -> None:
    """``cfg.tta_steps`` AdamW steps on ``learner.ctx`` minimising the average entropy of the confident
    views (selected at the first step) of ``view_features`` [V, D] (normalised)."""
    optimizer = torch.optim.AdamW([learner.ctx], lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), eps=cfg.eps,
                                  weight_decay=cfg.weight_decay)
    selected = None
    with torch.enable_grad(), frozen(model):
        for _ in range(cfg.tta_steps):
            text = F.normalize(learner.text_features(model), dim=-1)
            logits = linear_head(view_features, text, logit_scale)
            if selected is None:
                logits, selected = confident_selection(logits, cfg.selection_p)
            else:
                logits = logits[selected]
            loss = average_entropy(logits)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()


@register_method("tpt")
class TPT(Method):
    name = "tpt"
    needs = frozenset({Need.IMAGES})
    uses_seed = True

    @dataclass
    class Config:
        ctx_init: str = "a photo of a"
        n_views: int = param(63, ge=1)  # random views besides the original (the reference's batch size 64 - 1)
        selection_p: float = param(0.1, gt=0, le=1)
        tta_steps: int = param(1, ge=0)
        lr: float = param(5e-3, gt=0)
        beta1: float = param(0.9, ge=0, lt=1)
        beta2: float = param(0.999, ge=0, lt=1)
        eps: float = param(1e-8, gt=0)
        weight_decay: float = param(0.01, ge=0)
        augmentation: Augmentation = "auto"
        severity: float = param(1.0, gt=0.1)
        logit_scale: float | None = param(None, gt=0)  # None: the model's (exp of its learned logit_scale)

        def __post_init__(self):
            from zsbench.harness.core.config import ConfigError

            if int((self.n_views + 1) * self.selection_p) < 1:
                raise ConfigError(f"--set selection_p={self.selection_p} with n_views={self.n_views} (method 'tpt') "
                                  "selects no view: int((n_views + 1) * selection_p) must be at least 1")
            if not self.ctx_init.strip():
                raise ConfigError("--set ctx_init= (method 'tpt'): TPT starts from a worded context, e.g. 'a photo of a'")

    def fit(self, inputs: MethodInputs) -> None:
        loaded = inputs.model
        self.model = loaded.model
        self.logit_scale = float(self.config.logit_scale or loaded.model.logit_scale.exp().item())
        self.learner = PromptLearner(loaded.model, loaded.tokenizer, inputs.classnames, ctx_init=self.config.ctx_init)
        self.initial_ctx = self.learner.ctx.detach().clone()
        augmix = {"augmix": True, "crops": False}.get(self.config.augmentation, inputs.dataset.family != "imagenet")
        size, finish = split_preprocess(loaded.preprocess, loaded.model)
        self.views = TPTViews(loaded.preprocess, size, finish, self.config.n_views, augmix, f"seed{inputs.seed}",
                              self.config.severity)
        self.extra_results = {"tpt_augmentation": "augmix" if augmix else "crops",
                              "tpt_selected_views": int((self.config.n_views + 1) * self.config.selection_p)}

    def reset(self) -> None:
        with torch.no_grad():
            self.learner.ctx.copy_(self.initial_ctx)

    def predict(self, pixels: torch.Tensor, loaded) -> torch.Tensor:
        """[1 + V, 3, S, S] views of one image -> [C] logits of view 0 after tuning."""
        with torch.no_grad(), loaded.autocast():
            features = F.normalize(self.model.encode_image(pixels.to(loaded.device)).float(), dim=-1)
        self.reset()
        if self.config.tta_steps:
            tune_context(self.learner, self.model, features, self.logit_scale, self.config)
        with torch.no_grad():
            text = F.normalize(self.learner.text_features(self.model).float(), dim=-1)
            logits = linear_head(features[:1], text, self.logit_scale)[0]
        self.reset()
        return logits

    def logits_from_images(self, images, inputs: MethodInputs) -> torch.Tensor:
        loaded = inputs.model
        n = len(images)
        advance = inputs.progress_bar(f"tpt on {inputs.dataset.name} ({n} images, {self.config.n_views + 1} views each)", n)
        rows = []
        start = time.perf_counter()
        with torch.inference_mode(False):  # the runner scores under inference mode; TPT needs gradients
            for i in range(n):
                rows.append(self.predict(self.views(images.image(i)), loaded).detach().cpu())
                advance(1, f"{(i + 1) / max(time.perf_counter() - start, 1e-9):.1f} images/s")
        return torch.stack(rows) if rows else torch.zeros(0, len(inputs.classnames))
