"""Tip-Adapter and Tip-Adapter-F: a key-value cache of the few-shot images next to zero-shot CLIP
(Zhang et al., ECCV 2022; reference code gaopengcuhk/Tip-Adapter ``main.py``, ``main_imagenet.py``,
``utils.py`` ``build_cache_model`` / ``search_hp`` and ``configs/*.yaml``).

The cache keys ``K`` [NK, D] are the few-shot training images' features, each the mean of
``augment_views`` augmented views (RandomResizedCrop(scale=(0.5, 1), bicubic) + flip), renormalised;
the values ``L`` [NK, C] their one-hot labels. For a test feature x:

    A = exp(-beta (1 - x K^T)) L,      logits = 100 x W_text + alpha A

``W_text`` is the zero-shot classifier over CoOp's per-dataset template (ImageNet: the 7 "select"
templates the dataset declares as ``fewshot_templates``), as GDA's text term.

**Search** (``search_hp``): beta over ``[i (beta_max - 0.1) / beta_steps + 0.1 for i < beta_steps]``,
alpha likewise (``alpha_max``, ``alpha_steps``), beta the outer loop; the first (beta, alpha) with a
strictly better accuracy wins, starting from (0, 0) at 0 %. The reference's ``search_scale`` and
``init_alpha`` are per dataset (``configs/<dataset>.yaml``, table :data:`REFERENCE_CONFIGS`); a
dataset it has no config for (the toy world) takes ImageNet's. ``None`` in the config means "the
reference's value for the dataset"; the values used are written to the row (``out_tip_*``).

**Tip-Adapter-F** turns the keys into a learnable ``Linear`` (initialised with ``K``) and trains it
``train_epochs`` epochs (20; EuroSAT 100) with AdamW (lr 1e-3, eps 1e-4, torch's default weight
decay 0.01), cosine annealing over all steps stepped per batch, batches of 256 shuffled each epoch
(last partial batch kept), one fresh augmented view of every image per epoch, cross-entropy on the
logits with the initial beta (1) and alpha; then the search runs with the trained keys.

**Where the choices are made.** The reference searches beta/alpha on the dataset's whole val split
and, on ImageNet (no val split), on the test set; Tip-Adapter-F also keeps the epoch with the best
*test* accuracy and reports ``max`` of the test accuracy before and after its search. By default we
search on the few-shot validation subset (CoOp's sampler, ``min(K, 4)`` per class; a dataset
without one uses the clean few-shot training images, as GDA) and choose the epoch on it too.
``search_on_test=true`` reproduces the reference: search on the full val split (or the test split
where there is none), epoch and final (beta, alpha) chosen on the test split; the row's config and
``out_tip_search_split`` record it.

**Same subsets and views as GDA.** The cache is built from GDA's augmented views (the same view
name, so the feature cache holds them once): with the defaults (10 views, scale (0.5, 1)) every
non-ImageNet dataset gets GDA's exact cache images. On ImageNet the reference crops at (0.5, 1)
while GDA's ImageNet views use (0.08, 1); ``imagenet_crop_scale_min`` keeps Tip-Adapter's 0.5 by
default (``--set imagenet_crop_scale_min=0.08`` gives GDA's views).

Deliberate differences from the reference (none changes the algorithm):

- Views are L2-normalised before they are averaged (our feature cache stores normalised features;
  ``build_cache_model`` averages the raw ones). The keys are renormalised after the mean either way.
- fp32 throughout (the reference keeps the keys, values and adapter in CLIP's fp16).
- Augmentation and batch order are drawn from generators seeded by the few-shot seed
  (``methods/augment.py``), not the reference's global streams.

The fitted state (keys, trained adapter, beta, alpha) is cached by (model, source dataset, few-shot
images, K, seed, config), so the toy domains and ImageNet variants reuse the source's cache, as in
GDA; their logits are the source's restricted to their classes.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F

from zsbench.harness.core.config import param
from zsbench.harness.core.registry import register_method

from zsbench.methods.augment import augmented_views
from zsbench.methods.base import Method, MethodInputs, Need
from zsbench.methods.gda import accuracy, text_templates
from zsbench.methods.heads import linear_head

#: ``configs/<dataset>.yaml`` of the reference: (search_scale beta, search_scale alpha, init_alpha,
#: train_epoch); every config has init_beta 1, lr 0.001, augment_epoch 10, search_step [200, 20].
REFERENCE_CONFIGS: dict[str, tuple[float, float, float, int]] = {
    "caltech101": (12, 5, 3, 20),
    "dtd": (13, 13, 2, 20),
    "eurosat": (12, 10, 2, 100),
    "fgvc-aircraft": (30, 30, 5, 20),
    "food101": (10, 10, 1.17, 20),
    "imagenet": (7, 3, 1.17, 20),
    "flowers102": (50, 50, 10, 20),
    "oxford-pets": (7, 3, 1.17, 20),
    "stanford-cars": (20, 10, 3, 20),
    "sun397": (12, 10, 1.17, 20),
    "ucf101": (7, 3, 3, 20),
}
FALLBACK_CONFIG = "imagenet"


def reference_config(source_name: str) -> tuple[float, float, float, int]:
    return REFERENCE_CONFIGS.get(source_name, REFERENCE_CONFIGS[FALLBACK_CONFIG])


def search_grid(scale: float, steps: int) -> list[float]:
    """The reference's ``[i * (scale - 0.1) / steps + 0.1 for i in range(steps)]``."""
    return [i * (scale - 0.1) / steps + 0.1 for i in range(steps)]


def cache_logits(affinity: torch.Tensor, values: torch.Tensor, beta: float) -> torch.Tensor:
    """``exp(-(beta - beta * affinity)) @ values``: affinity [N, NK] = x K^T, values [NK, C] one-hot."""
    return ((-1) * (beta - beta * affinity)).exp() @ values


def tip_logits(clip_logits: torch.Tensor, affinity: torch.Tensor, values: torch.Tensor, beta: float,
               alpha: float) -> torch.Tensor:
    return clip_logits + cache_logits(affinity, values, beta) * alpha


def search_hp(clip_logits: torch.Tensor, affinity: torch.Tensor, values: torch.Tensor, labels: torch.Tensor,
              betas: list[float], alphas: list[float]) -> tuple[float, float, float]:
    """(beta, alpha, accuracy): the reference's grid search, beta outer, the first strict best,
    starting from (0, 0) at 0 %."""
    best_acc, best_beta, best_alpha = 0.0, 0.0, 0.0
    for beta in betas:
        cached = cache_logits(affinity, values, beta)
        for alpha in alphas:
            acc = accuracy(clip_logits + cached * alpha, labels)
            if acc > best_acc:
                best_acc, best_beta, best_alpha = acc, float(beta), float(alpha)
    return best_beta, best_alpha, best_acc


def train_adapter(keys: torch.Tensor, values: torch.Tensor, text_weights: torch.Tensor, views: torch.Tensor,
                  labels: torch.Tensor, cfg, beta: float, alpha: float, epochs: int, generator: torch.Generator,
                  evaluate, advance=lambda n=1, status=None: None) -> tuple[torch.Tensor, int, float, list[float]]:
    """Tip-Adapter-F's loop: the adapter weight (init ``keys`` [NK, D]) trained on the view features
    ``views`` [epochs, N, D] (epoch e sees views[e]); after each epoch ``evaluate(weight) -> acc`` and
    the strictly best epoch's weight is kept. Returns (weight, best epoch, best acc, epoch losses)."""
    weight = torch.nn.Parameter(keys.clone())
    optimizer = torch.optim.AdamW([weight], lr=cfg.lr, eps=cfg.eps, weight_decay=cfg.weight_decay)
    n = labels.shape[0]
    batches_per_epoch = (n + cfg.batch_size - 1) // cfg.batch_size
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, epochs * batches_per_epoch)
    best_weight, best_epoch, best_acc, losses = keys.clone(), 0, 0.0, []
    with torch.enable_grad():
        for epoch in range(epochs):
            order = torch.randperm(n, generator=generator)
            total = 0.0
            for start in range(0, n, cfg.batch_size):
                batch = order[start:start + cfg.batch_size]
                x, y = views[epoch][batch], labels[batch]
                logits = tip_logits(linear_head(x, text_weights, cfg.logit_scale), x @ weight.T, values, beta, alpha)
                loss = F.cross_entropy(logits, y)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                scheduler.step()
                total += loss.item() * len(batch)
                advance(1, f"loss {loss.item():.4f}")
            losses.append(total / n)
            acc = evaluate(weight.detach())
            if acc > best_acc:
                best_weight, best_epoch, best_acc = weight.detach().clone(), epoch, acc
    return best_weight, best_epoch, best_acc, losses


@register_method("tip-adapter")
class TipAdapter(Method):
    name = "tip-adapter"
    needs = frozenset({Need.IMAGE_FEATURES, Need.FEWSHOT})
    uses_seed = True
    finetune = False

    @dataclass
    class Config:
        augment_views: int = param(10, ge=1)  # the reference's augment_epoch
        crop_scale_min: float = param(0.5, gt=0, le=1)
        imagenet_crop_scale_min: float = param(0.5, gt=0, le=1)
        init_beta: float = param(1.0, gt=0)
        init_alpha: float | None = param(None, ge=0)  # None: the reference's per-dataset value
        beta_max: float | None = param(None, gt=0.1)  # search_scale[0]; None: per dataset
        alpha_max: float | None = param(None, gt=0.1)  # search_scale[1]; None: per dataset
        beta_steps: int = param(200, ge=1)
        alpha_steps: int = param(20, ge=1)
        search: bool = True  # the reference's search_hp (false: init_beta, init_alpha)
        search_on_test: bool = False
        logit_scale: float = param(100.0, gt=0)

    def fit(self, inputs: MethodInputs) -> None:
        fs = inputs.fewshot
        source = fs.source
        templates = text_templates(source)
        text_weights = inputs.text.classifier(source.classnames, templates)
        state = inputs.memoise(
            self.name, lambda: self._fit(inputs, text_weights), source=source.name, train=fs.train.fingerprint,
            val=fs.val.fingerprint if fs.val is not None else None, shots=inputs.shots, seed=inputs.seed,
            config=asdict(self.config), templates=hashlib.sha256(json.dumps(templates).encode()).hexdigest(),
            classes=hashlib.sha256(json.dumps(source.classnames).encode()).hexdigest(),
        )
        target = torch.as_tensor(fs.target_classes, dtype=torch.long)
        self.text_weights = text_weights[target]
        self.keys = state["keys"]
        self.values = state["values"][:, target]
        self.beta, self.alpha = float(state["beta"]), float(state["alpha"])
        self.extra_results = {k: v for k, v in state.items() if k.startswith("tip_")}

    def resolved(self, source) -> dict:
        """The reference's per-dataset values where the config says None."""
        beta_max, alpha_max, init_alpha, epochs = reference_config(source.name)
        cfg = self.config
        return {"beta_max": cfg.beta_max or beta_max, "alpha_max": cfg.alpha_max or alpha_max,
                "init_alpha": init_alpha if cfg.init_alpha is None else cfg.init_alpha, "epochs": epochs}

    def _scale_min(self, source) -> float:
        return self.config.imagenet_crop_scale_min if source.fewshot_recipe == "imagenet" else self.config.crop_scale_min

    def cache_model(self, inputs: MethodInputs) -> tuple[torch.Tensor, torch.Tensor]:
        """(keys [NK, D], values [NK, C]): the mean of GDA's augmented views of each training image,
        renormalised, and the one-hot labels."""
        fs = inputs.fewshot
        views = augmented_views(inputs, fs.train, (self._scale_min(fs.source), 1.0), self.config.augment_views,
                                f"seed{inputs.seed}", "gda")
        keys = F.normalize(views.mean(0), dim=-1)
        values = F.one_hot(fs.train.labels, len(fs.source.classnames)).float()
        return keys, values

    def test_data(self, inputs: MethodInputs) -> tuple[torch.Tensor, torch.Tensor]:
        split = inputs.fewshot.source.split(inputs.fewshot.source.test_split)
        return inputs.encode_images(split), split.labels

    def _search(self, text_weights, features, labels, weight, values, ref) -> tuple[float, float, float]:
        clip_logits = linear_head(features, text_weights, self.config.logit_scale)
        if not self.config.search:
            beta, alpha = self.config.init_beta, ref["init_alpha"]
            return beta, alpha, accuracy(tip_logits(clip_logits, features @ weight.T, values, beta, alpha), labels)
        return search_hp(clip_logits, features @ weight.T, values, labels,
                         search_grid(ref["beta_max"], self.config.beta_steps),
                         search_grid(ref["alpha_max"], self.config.alpha_steps))

    def _fit(self, inputs: MethodInputs, text_weights: torch.Tensor) -> dict:
        ref = self.resolved(inputs.fewshot.source)
        keys, values = self.cache_model(inputs)
        split, features, labels = inputs.search_features(self.config.search_on_test)
        beta, alpha, acc = self._search(text_weights, features, labels, keys, values, ref)
        return {"keys": keys, "values": values, "beta": beta, "alpha": alpha, "tip_beta": beta, "tip_alpha": alpha,
                "tip_search_acc": float(acc), "tip_search_split": split, "tip_beta_max": float(ref["beta_max"]),
                "tip_alpha_max": float(ref["alpha_max"]), "tip_init_alpha": float(ref["init_alpha"])}

    def logits_from_features(self, features: torch.Tensor) -> torch.Tensor:
        """``100 x W_text + alpha exp(-beta (1 - x K^T)) L``."""
        clip_logits = linear_head(features, self.text_weights, self.config.logit_scale)
        affinity = features @ self.keys.to(features.device, features.dtype).T
        return tip_logits(clip_logits, affinity, self.values.to(features.device, features.dtype), self.beta, self.alpha)


@register_method("tip-adapter-f")
class TipAdapterF(TipAdapter):
    name = "tip-adapter-f"
    finetune = True

    @dataclass
    class Config(TipAdapter.Config):
        lr: float = param(1e-3, gt=0)
        eps: float = param(1e-4, gt=0)
        weight_decay: float = param(0.01, ge=0)  # torch AdamW's default, which the reference leaves
        batch_size: int = param(256, ge=1)
        train_epochs: int | None = param(None, ge=1)  # None: the reference's per-dataset train_epoch

    def _fit(self, inputs: MethodInputs, text_weights: torch.Tensor) -> dict:
        cfg = self.config
        fs = inputs.fewshot
        ref = self.resolved(fs.source)
        epochs = cfg.train_epochs or ref["epochs"]
        keys, values = self.cache_model(inputs)
        views = augmented_views(inputs, fs.train, (self._scale_min(fs.source), 1.0), epochs, f"seed{inputs.seed}",
                                "tip-adapter-f")
        split, features, labels = inputs.search_features(self.config.search_on_test)
        if cfg.search_on_test:
            select_features, select_labels = self.test_data(inputs)
        else:
            select_features, select_labels = features, labels
        select_clip = linear_head(select_features, text_weights, cfg.logit_scale)

        def evaluate(weight: torch.Tensor) -> float:
            return accuracy(tip_logits(select_clip, select_features @ weight.T, values, cfg.init_beta, ref["init_alpha"]),
                            select_labels)

        description = f"{self.name}: training cache keys ({fs.source.name}, {inputs.shots}-shot, seed {inputs.seed})"
        advance = inputs.progress_bar(description, epochs * ((len(fs.train) + cfg.batch_size - 1) // cfg.batch_size))
        weight, best_epoch, best_acc, losses = train_adapter(
            keys, values, text_weights, views, fs.train.labels, cfg, cfg.init_beta, ref["init_alpha"], epochs,
            torch.Generator().manual_seed(inputs.seed), evaluate, advance)
        beta, alpha, acc = self._search(text_weights, features, labels, weight, values, ref)
        if cfg.search_on_test and evaluate(weight) > accuracy(
                tip_logits(select_clip, select_features @ weight.T, values, beta, alpha), select_labels):
            beta, alpha = cfg.init_beta, ref["init_alpha"]  # the reference reports max(before, after) on test
        return {"keys": weight, "values": values, "beta": beta, "alpha": alpha, "tip_beta": beta, "tip_alpha": alpha,
                "tip_search_acc": float(acc), "tip_search_split": split, "tip_beta_max": float(ref["beta_max"]),
                "tip_alpha_max": float(ref["alpha_max"]), "tip_init_alpha": float(ref["init_alpha"]),
                "tip_epochs": epochs, "tip_best_epoch": best_epoch, "tip_best_epoch_acc": float(best_acc),
                "tip_final_loss": float(losses[-1])}
