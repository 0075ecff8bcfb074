"""CoOp and CoCoOp: learned prompt context for CLIP's text tower (Zhou et al., IJCV 2022 / CVPR 2022;
reference: KaiyangZhou/CoOp ``trainers/coop.py``, ``trainers/cocoop.py``, ``configs/trainers`` and
Dassl's optimiser, scheduler and data loader).

Training follows the reference: SGD (lr 0.002, momentum 0.9, weight decay 5e-4), one warm-up epoch
at a constant 1e-5, then cosine annealing over ``max_epoch`` (Dassl's ``ConstantWarmupScheduler``
with recount: epoch ``e >= 1`` uses ``0.001 (1 + cos(pi (e - 1) / max_epoch))``), the lr stepped once
per epoch; random batches of 32 without replacement, the last partial batch dropped when there is
at least one full batch (Dassl's ``drop_last``); images augmented by RandomResizedCrop(size,
scale=(0.08, 1), bicubic) + flip; cross-entropy on ``logit_scale * cos`` with the model's own logit
scale (100 for CLIP). CoOp's epochs by shots: 1 -> 50, 2/4 -> 100, 8/16 -> 200, ImageNet 50
(``max_epoch`` overrides). CoCoOp: context from "a photo of a" (4 vectors), Meta-Net, batch 1,
10 epochs.

The image encoder is frozen, so the augmented training images are encoded once per epoch (one view
per image and epoch, ``augment.augmented_views``), cached, and training runs the text tower only:
the same computation as the reference, which re-encodes every epoch. The random streams
(initialisation, batch order, crops) are seeded by the few-shot seed; they are not the reference's
streams, which differ per machine anyway. Training runs in fp32 (the reference's default keeps
CLIP, and CoOp's context, in fp16).

The learned state (context, Meta-Net) is cached by (model, source dataset, few-shot images, K,
seed, training config), so an evaluation on a dataset that trains on another one (the ImageNet
variants, the toy domains) loads the source's prompts without retraining, as the reference's
domain-generalisation protocol; prompts are then built from the evaluated dataset's class names
(class-specific contexts are taken from the matching source classes).

Base-to-new (``subsample=base|new``): the classes are split in halves by sorted label (the first
``ceil(C/2)`` are base, as Dassl's ``subsample_classes``); training uses the few-shot images of the
source's base classes only (drawn over all classes first, then filtered, as the reference); the
evaluation covers the base or the new classes of the evaluated dataset. ``base`` and ``new`` share
one training. Such a method sets ``class_subset`` (the evaluated labels, in order) and returns logits
over those classes only, for test images of those classes: the runner must restrict the test split
to ``class_subset`` and relabel it ``0..len-1``. The base-to-new score is the harmonic mean
``2 B N / (B + N)`` of the base and new rows' accuracies (``harness.metrics.harmonic_mean``); the
leaderboard's base-to-new table reports it from the seed means, as the papers do.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass
from typing import Callable, Literal

import torch
import torch.nn.functional as F

from zsbench.harness.core.config import ConfigError, param
from zsbench.harness.core.registry import register_method

from zsbench.methods.augment import augmented_views
from zsbench.methods.base import Method, MethodInputs, Need
from zsbench.methods.heads import linear_head
from zsbench.methods.prompt_learner import ClassTokenPosition, CoCoOpPromptLearner, PromptLearner, frozen

Subsample = Literal["all", "base", "new"]  # every class, or the base / new half (base-to-new)
_EVAL_SEQUENCES = 4096  # prompts encoded at once when CoCoOp scores test images


def default_epochs(shots: int, recipe: str) -> int:
    """CoOp's epochs: ImageNet (``fewshot_recipe`` "imagenet") 50; otherwise 1 shot 50, 2-4 shots 100, more 200."""
    if recipe == "imagenet" or shots <= 1:
        return 50
    return 100 if shots <= 4 else 200


def lr_at(epoch: int, base_lr: float, max_epoch: int, warmup_epoch: int, warmup_lr: float) -> float:
    """The learning rate of ``epoch`` (0-based): constant warm-up, then cosine from ``base_lr``."""
    if epoch < warmup_epoch:
        return warmup_lr
    return 0.5 * base_lr * (1.0 + math.cos(math.pi * (epoch - warmup_epoch) / max_epoch))


def epoch_batches(n: int, batch_size: int, generator: torch.Generator) -> list[torch.Tensor]:
    """One epoch of random batches: a permutation cut into full batches (a single partial batch if
    there are fewer than ``batch_size`` items), as Dassl's RandomSampler + drop_last."""
    order = torch.randperm(n, generator=generator)
    if n < batch_size:
        return [order]
    return [order[i * batch_size:(i + 1) * batch_size] for i in range(n // batch_size)]


def class_halves(n_classes: int, which: str) -> list[int]:
    """Labels of ``which`` half: base = the first ceil(C/2) sorted labels, new = the rest."""
    m = math.ceil(n_classes / 2)
    return {"all": list(range(n_classes)), "base": list(range(m)), "new": list(range(m, n_classes))}[which]


def train_prompts(learner: torch.nn.Module, model: torch.nn.Module, views: torch.Tensor, labels: torch.Tensor,
                  logits: Callable[[torch.Tensor], torch.Tensor], cfg, epochs: int, generator: torch.Generator,
                  advance: Callable[..., None] = lambda n=1, status=None: None) -> list[float]:
    """The reference's training loop on precomputed image features ``views`` [epochs, N, D] (epoch
    ``e`` sees ``views[e]``): per-epoch lr (warm-up, cosine), random batches, SGD with momentum and
    weight decay on the learner's parameters only, cross-entropy of ``logits(features)``. Returns
    the mean training loss of each epoch."""
    device = labels.device
    optimizer = torch.optim.SGD(learner.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay,
                                dampening=0.0, nesterov=False)
    n = labels.shape[0]
    losses = []
    learner.train()
    with torch.enable_grad(), frozen(model):
        for epoch in range(epochs):
            for group in optimizer.param_groups:
                group["lr"] = lr_at(epoch, cfg.lr, epochs, cfg.warmup_epoch, cfg.warmup_cons_lr)
            feats = views[epoch].to(device)
            total, seen = 0.0, 0
            for batch in epoch_batches(n, cfg.batch_size, generator):
                batch = batch.to(device)
                loss = F.cross_entropy(logits(feats[batch]), labels[batch])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                value = loss.item()
                total += value * len(batch)
                seen += len(batch)
                advance(1, f"loss {value:.4f}")
            losses.append(total / seen)
    learner.eval()
    return losses


def _check_subsample(cfg) -> None:
    if cfg.csc and not cfg.ctx_init and cfg.subsample == "new":
        raise ConfigError("--set subsample=new with csc=true (method 'coop'): class-specific contexts exist only for "
                          "the training classes; subsample=new needs a generic context (csc=false)")


class _PromptMethod(Method):
    needs = frozenset({Need.IMAGE_FEATURES, Need.FEWSHOT})
    uses_seed = True
    conditional = False  # CoCoOp: prompts depend on the image

    def learner(self, model, tokenizer, classnames, generator=None) -> PromptLearner:
        raise NotImplementedError

    def epochs(self, inputs: MethodInputs) -> int:
        return self.config.max_epoch or default_epochs(inputs.shots, inputs.fewshot.source.fewshot_recipe)

    def fit(self, inputs: MethodInputs) -> None:
        cfg = self.config
        fs = inputs.fewshot
        source = fs.source
        loaded = inputs.model
        train_classes = class_halves(len(source.classnames), "all" if cfg.subsample == "all" else "base")
        eval_classes = class_halves(inputs.dataset.n_classes, cfg.subsample)
        self.class_subset = None if cfg.subsample == "all" else eval_classes
        epochs = self.epochs(inputs)
        self.logit_scale = float(cfg.logit_scale) if cfg.logit_scale else float(loaded.model.logit_scale.exp().item())
        train_names = [source.classnames[c] for c in train_classes]
        training = {k: v for k, v in dataclasses.asdict(cfg).items() if k != "subsample"}  # base and new share it
        payload = inputs.memoise(
            "prompts", lambda: self._train(inputs, train_classes, train_names, epochs), method=self.name,
            source=source.name, train=fs.train.fingerprint, shots=inputs.shots, seed=inputs.seed, epochs=epochs,
            config=training, classes=hashlib.sha256(json.dumps(train_names).encode()).hexdigest())
        self.loss_history = payload["losses"].tolist()

        state = dict(payload["state"])
        if state["ctx"].dim() == 3:  # class-specific: each evaluated class takes its source class's context
            rows = []
            for c in eval_classes:
                src = fs.target_classes[c]
                if src not in train_classes:
                    raise ValueError(f"no class-specific context was trained for class {source.classnames[src]!r}")
                rows.append(train_classes.index(src))
            state["ctx"] = state["ctx"][rows]
        self.model = loaded.model
        self.eval_learner = self.learner(loaded.model, loaded.tokenizer, [inputs.dataset.classnames[c] for c in eval_classes])
        self.eval_learner.load_state_dict(state)
        self.eval_learner.eval()
        if not self.conditional:
            with torch.no_grad():
                self.text_weights = F.normalize(self.eval_learner.text_features(loaded.model).float(), dim=-1)
        self.extra_results = {f"{self.name}_epochs": epochs, f"{self.name}_final_loss": self.loss_history[-1]}

    def _train(self, inputs: MethodInputs, train_classes: list[int], train_names: list[str], epochs: int) -> dict:
        cfg = self.config
        fs = inputs.fewshot
        loaded = inputs.model
        model, device = loaded.model, loaded.device
        labels = fs.train.labels
        keep = torch.isin(labels, torch.as_tensor(train_classes))
        position = {c: i for i, c in enumerate(train_classes)}
        labels = torch.as_tensor([position[int(y)] for y in labels[keep]], device=device)
        views = augmented_views(inputs, fs.train, (cfg.crop_scale_min, 1.0), epochs, f"seed{inputs.seed}", "coop")
        views = views[:, keep]

        generator = torch.Generator().manual_seed(inputs.seed)
        learner = self.learner(model, loaded.tokenizer, train_names, generator=generator)
        steps = len(epoch_batches(labels.shape[0], cfg.batch_size, torch.Generator().manual_seed(0)))
        description = f"{self.name}: training prompts ({fs.source.name}, {inputs.shots}-shot, seed {inputs.seed})"
        advance = inputs.progress_bar(description, epochs * steps)
        losses = train_prompts(learner, model, views, labels, lambda x: self._logits(learner, model, x), cfg, epochs,
                               generator, advance)
        return {"state": learner.learned_state(), "losses": torch.tensor(losses)}

    def _logits(self, learner, model, image_features: torch.Tensor) -> torch.Tensor:
        """Training logits: ``logit_scale * cos(image, text)`` for every class."""
        if self.conditional:
            text = F.normalize(learner.text_features(model, image_features), dim=-1)  # [B, C, D]
            return self.logit_scale * torch.einsum("bd,bcd->bc", image_features, text)
        text = F.normalize(learner.text_features(model), dim=-1)
        return linear_head(image_features, text, self.logit_scale)

    @torch.no_grad()
    def logits_from_features(self, features: torch.Tensor) -> torch.Tensor:
        if not self.conditional:
            return linear_head(features, self.text_weights, self.logit_scale)
        device = self.eval_learner.ctx.device
        n_cls = self.eval_learner.n_cls
        step = max(1, _EVAL_SEQUENCES // n_cls)
        out = []
        for start in range(0, features.shape[0], step):
            x = features[start:start + step].to(device, torch.float32)
            text = F.normalize(self.eval_learner.text_features(self.model, x).float(), dim=-1)
            out.append(self.logit_scale * torch.einsum("bd,bcd->bc", x, text))
        return torch.cat(out).to(features.device, features.dtype)


@dataclass
class PromptConfig:
    """What CoOp and CoCoOp share: the context, the reference's SGD schedule, the crops, the base-to-new
    split. The defaults are CoOp's; CoCoOp overrides its own."""

    n_ctx: int = param(16, ge=1)
    ctx_init: str = ""
    init_std: float = param(0.02, gt=0)
    lr: float = param(0.002, gt=0)
    momentum: float = param(0.9, ge=0, lt=1)
    weight_decay: float = param(5e-4, ge=0)
    max_epoch: int | None = param(None, ge=1)  # None: by shots (1 -> 50, 2/4 -> 100, 8/16 -> 200; ImageNet 50)
    warmup_epoch: int = param(1, ge=0)
    warmup_cons_lr: float = param(1e-5, gt=0)
    batch_size: int = param(32, ge=1)
    crop_scale_min: float = param(0.08, gt=0, le=1)
    logit_scale: float | None = param(None, gt=0)  # None: the model's (exp of its learned logit_scale)
    subsample: Subsample = "all"


@register_method("coop")
class CoOp(_PromptMethod):
    """CoOp: ``n_ctx`` learned context vectors (generic or class-specific) in front of, around or
    after the class name."""

    name = "coop"

    @dataclass
    class Config(PromptConfig):
        csc: bool = False
        class_token_position: ClassTokenPosition = "end"

        def __post_init__(self):
            _check_subsample(self)

    def learner(self, model, tokenizer, classnames, generator=None) -> PromptLearner:
        cfg = self.config
        return PromptLearner(model, tokenizer, classnames, n_ctx=cfg.n_ctx, ctx_init=cfg.ctx_init, csc=cfg.csc,
                             class_token_position=cfg.class_token_position, init_std=cfg.init_std, generator=generator)


@register_method("cocoop")
class CoCoOp(_PromptMethod):
    """CoCoOp: context from "a photo of a" plus a per-image bias from the Meta-Net."""

    name = "cocoop"
    conditional = True

    @dataclass
    class Config(PromptConfig):
        n_ctx: int = param(4, ge=1)
        ctx_init: str = "a photo of a"
        max_epoch: int | None = param(10, ge=1)
        batch_size: int = param(1, ge=1)

    def learner(self, model, tokenizer, classnames, generator=None) -> PromptLearner:
        cfg = self.config
        return CoCoOpPromptLearner(model, tokenizer, classnames, n_ctx=cfg.n_ctx, ctx_init=cfg.ctx_init,
                                   init_std=cfg.init_std, generator=generator)
