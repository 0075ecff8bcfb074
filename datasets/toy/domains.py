"""The toy suite's datasets: one in-distribution domain, four shifted domains mirroring the
ImageNet variants, and a fine-grained set. Each split is a fixed, class-balanced, seeded draw.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

import torch

from .render import Style, render, sample_scene, to_uint8
from .shapes import FINE_CLASSES, MAIN_CLASSES

GENERATOR_VERSION = "toy-world-1"
IMAGE_SIZE = 64
PER_CLASS = {"train": 32, "val": 16, "test": 50}


@dataclass(frozen=True)
class Domain:
    name: str
    classes: tuple[str, ...]
    style: Style
    description: str

    def seed(self, split: str) -> int:
        digest = hashlib.sha256(f"{GENERATOR_VERSION}/{self.name}/{split}".encode()).hexdigest()
        return int(digest[:12], 16)

    def fingerprint(self, split: str) -> str:
        return f"{GENERATOR_VERSION}/{self.name}/{split}/{PER_CLASS[split]}x{len(self.classes)}@{IMAGE_SIZE}px"

    def generate(self, split: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(uint8 images [N, 3, H, W], labels [N], object boxes [N, 4] in [-1, 1] coordinates)."""
        g = torch.Generator().manual_seed(self.seed(split))
        labels = torch.arange(len(self.classes)).repeat_interleave(PER_CLASS[split])
        labels = labels[torch.randperm(len(labels), generator=g)]
        scene = sample_scene(g, labels, self.style)
        images = render(scene, list(self.classes), self.style, g, IMAGE_SIZE)
        return to_uint8(images), labels, scene.box()


_MAIN = tuple(MAIN_CLASSES)
DOMAINS = [
    Domain("toy", _MAIN, Style(size=(0.4, 0.8)), "downstream: colour-uniform, class-balanced (unlike pretraining)"),
    Domain("toy-v2", _MAIN, Style(size=(0.36, 0.76), rotation=32.0, colour_jitter=0.1,
                                  background_weights=(0.15, 0.3, 0.25, 0.3), distractors=(0, 1), distractor_prob=0.3),
           "same generator, fresh seed, slight parameter drift (ImageNet-V2)"),
    Domain("toy-sketch", _MAIN, Style(kind="outline", size=(0.4, 0.8)), "outline drawings, no colour (ImageNet-Sketch)"),
    Domain("toy-r", _MAIN, Style(kind="rendition", size=(0.4, 0.8)), "renditions: unusual palettes and textures (ImageNet-R)"),
    Domain("toy-a", _MAIN, Style(size=(0.2, 0.3), background_weights=(0.0, 0.2, 0.0, 0.8), clutter=(14, 22), distractors=(4, 7)),
           "hard: small objects, heavy clutter and distractor strokes (ImageNet-A)"),
    Domain("toy-fine", tuple(FINE_CLASSES), Style(size=(0.55, 0.85)), "fine-grained: stars that differ in their number of points"),
]
