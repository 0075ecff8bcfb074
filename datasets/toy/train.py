"""Train toy-clip: contrastive image/caption learning on freshly generated toy scenes.

Plain contrastive training lets the loss fall through colour, size and background words and
never learn shape. Three things make the image tower learn geometry: half of the captions name
only the shape; an auxiliary cross-entropy of each image against the text embeddings of all
shape prompts (written with ``TRAIN_TEMPLATES`` only, never the evaluation templates), with
gradients into both towers; and hard-negative groups of images that share colour, texture,
size and background and differ only in shape. Every step draws its batch from a generator
seeded by (seed, step), so training is deterministic and needs no stored dataset.

The pretraining distribution differs from the toy datasets as web data differs from a benchmark:
shapes take a typical colour (``colour_bias``) and are long-tailed (``frequency_ratio``), while the
datasets are colour-uniform and class-balanced. The zero-shot head learns those priors; the image
features still separate the shapes, so few-shot methods have a real gap to close, as on real data.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import random
from dataclasses import dataclass
from typing import Callable

import open_clip
import torch
import torch.nn.functional as F

from zsbench.harness.models.text_encoding import encode_text_trimmed

from . import model as toy_model
from .render import BACKGROUNDS, COLOUR_NAMES, TEXTURES, Style, render, sample_scene
from .shapes import SHAPE_NAMES
from .text import TRAIN_TEMPLATES, caption

# The pretraining world's spurious correlation: each main shape has a typical colour that it takes
# with probability ``TrainConfig.colour_bias`` (the toy datasets draw colours uniformly), as web
# images are biased in ways a downstream dataset is not.
TYPICAL_COLOURS = {
    "circle": "yellow", "square": "blue", "triangle": "green", "star": "orange", "cross": "white", "ring": "gray",
    "crescent": "cyan", "heart": "red", "arrow": "black", "diamond": "purple", "semicircle": "brown", "bowtie": "pink",
}
# The same as colour indices over ``SHAPE_NAMES`` (-1: no typical colour), as ``Style`` takes them.
TYPICAL_COLOUR_INDICES = tuple(COLOUR_NAMES.index(TYPICAL_COLOURS[s]) if s in TYPICAL_COLOURS else -1 for s in SHAPE_NAMES)

# ... and its class frequencies are long-tailed: the main shapes in this order, most common first,
# fall geometrically to 1 / ``TrainConfig.frequency_ratio`` of the first; the fine stars sit in
# the middle. The toy datasets are class-balanced.
FREQUENCY_ORDER = ["circle", "square", "star", "heart", "triangle", "arrow",
                   "cross", "ring", "diamond", "crescent", "semicircle", "bowtie"]


def shape_frequencies(ratio: float) -> torch.Tensor:
    """Pretraining sampling weights over ``SHAPE_NAMES`` (most / least common main shape = ``ratio``)."""
    last = len(FREQUENCY_ORDER) - 1
    rank = {s: i / last for i, s in enumerate(FREQUENCY_ORDER)}
    return torch.tensor([ratio ** -rank.get(s, 0.5) for s in SHAPE_NAMES], dtype=torch.float64)


MEAN = torch.tensor(open_clip.OPENAI_DATASET_MEAN).view(1, 3, 1, 1)
STD = torch.tensor(open_clip.OPENAI_DATASET_STD).view(1, 3, 1, 1)


@dataclass(frozen=True)
class TrainConfig:
    seed: int = 0
    steps: int = 5000
    batch_size: int = 64  # small batches: a from-scratch ViT escapes its plateau in updates, not samples
    lr: float = 6e-4
    weight_decay: float = 0.05
    warmup_steps: int = 80
    aux_weight: float = 2.0
    hard_group: int = 4  # images per hard-negative group in the second half of each batch
    size: tuple[float, float] = (0.22, 0.85)
    distractor_prob: float = 0.3
    easy_steps: int = 800  # curriculum: large plain objects on plain backgrounds first,
    ramp_steps: int = 1200  # then a linear ramp to the full difficulty over these steps
    threads: int = 1  # the committed weights were trained on one thread (bitwise results depend on it)
    colour_bias: float = 0.8  # probability that a training object takes its shape's typical colour
    frequency_ratio: float = 8.0  # most / least frequent main shape in pretraining (1: uniform)

    def hash(self) -> str:
        return hashlib.sha256(json.dumps(dataclasses.asdict(self), sort_keys=True).encode()).hexdigest()[:16]


def training_style(cfg: TrainConfig, step: int, hard: bool) -> Style:
    """The scene distribution at ``step``: easy scenes first, so the image tower finds shape
    before it has to find it among textures, clutter and distractors."""
    d = min(1.0, max(0.0, (step - cfg.easy_steps) / max(1, cfg.ramp_steps)))
    full = Style()  # the end state is the in-distribution domain's distribution
    easy_tex = (0.85,) + (0.15 / (len(full.texture_weights) - 1),) * (len(full.texture_weights) - 1)
    easy_bg = (0.8,) + (0.2 / (len(full.background_weights) - 1),) * (len(full.background_weights) - 1)
    return Style(
        size=(0.45 - (0.45 - cfg.size[0]) * d, cfg.size[1]),
        texture_weights=tuple(e + (f - e) * d for e, f in zip(easy_tex, full.texture_weights)),
        background_weights=tuple(e + (f - e) * d for e, f in zip(easy_bg, full.background_weights)),
        distractors=(0, 3), distractor_prob=cfg.distractor_prob * d, hard_groups=cfg.hard_group if hard else 1,
        typical_colour_prob=cfg.colour_bias,
        typical_colours=TYPICAL_COLOUR_INDICES,
    )


def make_batch(cfg: TrainConfig, step: int, tokenizer) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(normalised images, caption tokens, shape labels) of one training step."""
    g = torch.Generator().manual_seed(cfg.seed * 1_000_003 + step)
    rng = random.Random(cfg.seed * 1_000_003 + step)
    half = cfg.batch_size // 2
    images, labels, texts = [], [], []
    for hard, n in ((False, half), (True, cfg.batch_size - half)):
        if cfg.frequency_ratio == 1.0:
            shapes = torch.randint(len(SHAPE_NAMES), (n,), generator=g)
        else:
            shapes = torch.multinomial(shape_frequencies(cfg.frequency_ratio), n, replacement=True, generator=g)
        style = training_style(cfg, step, hard)
        scene = sample_scene(g, shapes, style)
        images.append(render(scene, SHAPE_NAMES, style, g))
        labels.append(shapes)
        for i in range(n):
            texts.append(caption(
                rng, SHAPE_NAMES[scene.shape[i]], COLOUR_NAMES[scene.colour[i]], TEXTURES[scene.texture[i]],
                BACKGROUNDS[scene.background[i]], float(scene.radius[i]), float(scene.cx[i]), float(scene.cy[i]),
            ))
    pixels = (torch.cat(images) - MEAN) / STD
    return pixels, tokenizer(texts), torch.cat(labels)


def _lr_at(cfg: TrainConfig, step: int) -> float:
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    return 0.5 * cfg.lr * (1 + math.cos(math.pi * progress))


def _param_groups(model: torch.nn.Module, weight_decay: float):
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (no_decay if p.ndim < 2 or "embedding" in name or "logit_scale" in name else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def train(cfg: TrainConfig, on_step: Callable[[int, float], None] | None = None,
          evaluate: Callable[[torch.nn.Module, int], None] | None = None, eval_every: int = 0) -> torch.nn.Module:
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    toy_model.register()
    model = open_clip.create_model(toy_model.MODEL_NAME)
    tokenizer = toy_model.tokenizer()
    aux_tokens = torch.stack([tokenizer([t.format(s) for s in SHAPE_NAMES]) for t in TRAIN_TEMPLATES])
    loss_fn = open_clip.ClipLoss()
    opt = torch.optim.AdamW(_param_groups(model, cfg.weight_decay), lr=cfg.lr, betas=(0.9, 0.98), eps=1e-6)
    model.train()
    for step in range(cfg.steps):
        for group in opt.param_groups:
            group["lr"] = _lr_at(cfg, step)
        pixels, tokens, labels = make_batch(cfg, step, tokenizer)
        img = model.encode_image(pixels, normalize=True)
        txt = F.normalize(encode_text_trimmed(model, tokens), dim=-1)
        scale = model.logit_scale.exp()
        loss = loss_fn(img, txt, scale)
        if cfg.aux_weight:
            prompts = F.normalize(encode_text_trimmed(model, aux_tokens[step % len(TRAIN_TEMPLATES)]), dim=-1)
            loss = loss + cfg.aux_weight * F.cross_entropy(scale * img @ prompts.T, labels)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.no_grad():
            model.logit_scale.clamp_(0, math.log(100))
        if on_step is not None:
            on_step(step, loss.item())
        if evaluate is not None and eval_every and ((step + 1) % eval_every == 0 or step + 1 == cfg.steps):
            model.eval()
            evaluate(model, step + 1)
            model.train()
    model.eval()
    return model


