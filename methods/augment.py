"""Augmented views of few-shot images for feature-caching methods (GDA, CoOp, CoCoOp).

The references augment each training image with ``RandomResizedCrop(size, scale, bicubic)`` +
``RandomHorizontalFlip(0.5)`` and encode it with the frozen image encoder. Because the encoder is
frozen, a view's feature never changes, so all views of the few-shot images (GDA: ``augment_views``
per image; CoOp/CoCoOp: one per image and training epoch) are encoded once, in one pass through
``MethodInputs.encode_images``, and cached like any other features.

A view is reproducible: the crop and flip of an image are drawn from a generator seeded by the
view's seed and the image's own pixels (not by its position in a DataLoader), so the same view of
the same image is the same with any batch size, worker count or order. Two identical images in
one few-shot set therefore get the same crop in a view (the references would draw two crops).

The crop size and the tensor/normalisation steps come from the model's evaluation transform (the
toy model is 64 px, CLIP ViT-B/16 224 px), never hard-coded.
"""
from __future__ import annotations

import hashlib
import math
from typing import Callable

import torch
import torchvision.transforms as T
import torchvision.transforms.functional as TF
from PIL import Image

from zsbench.datasets.base import ImageSplit

RATIO = (3.0 / 4.0, 4.0 / 3.0)  # torchvision's RandomResizedCrop default, as in Dassl and GDA


def split_preprocess(preprocess: Callable, model: torch.nn.Module | None = None) -> tuple[int, Callable]:
    """(crop size, tensor+normalise steps) of an open_clip style evaluation transform
    ``Compose([Resize, CenterCrop, (convert), ToTensor, Normalize])``: the augmentation replaces the
    geometric steps and keeps the rest."""
    steps = list(getattr(preprocess, "transforms", []))
    for i, step in enumerate(steps):
        if isinstance(step, T.CenterCrop):
            size = step.size[0] if isinstance(step.size, (tuple, list)) else int(step.size)
            return int(size), T.Compose(steps[i + 1:])
    size = getattr(getattr(model, "visual", None), "image_size", None)
    if size is None:
        raise ValueError(f"cannot find the crop size in the model's transform {preprocess!r}")
    size = size[0] if isinstance(size, (tuple, list)) else int(size)
    tail = [s for s in steps if not isinstance(s, (T.Resize, T.CenterCrop))]
    return int(size), T.Compose(tail) if tail else T.Compose([T.ToTensor()])


def crop_params(width: int, height: int, scale: tuple[float, float], ratio: tuple[float, float],
                generator: torch.Generator) -> tuple[int, int, int, int]:
    """(top, left, h, w) of a random crop: torchvision's RandomResizedCrop sampling rule (ten tries at
    a random area and log-uniform aspect ratio, then a central crop) drawn from ``generator``."""
    area = height * width
    log_lo, log_hi = math.log(ratio[0]), math.log(ratio[1])
    for _ in range(10):
        target = area * (scale[0] + (scale[1] - scale[0]) * torch.rand(1, generator=generator).item())
        aspect = math.exp(log_lo + (log_hi - log_lo) * torch.rand(1, generator=generator).item())
        w = int(round(math.sqrt(target * aspect)))
        h = int(round(math.sqrt(target / aspect)))
        if 0 < w <= width and 0 < h <= height:
            top = int(torch.randint(0, height - h + 1, (1,), generator=generator).item())
            left = int(torch.randint(0, width - w + 1, (1,), generator=generator).item())
            return top, left, h, w
    in_ratio = width / height
    if in_ratio < ratio[0]:
        w, h = width, int(round(width / ratio[0]))
    elif in_ratio > ratio[1]:
        h, w = height, int(round(height * ratio[1]))
    else:
        w, h = width, height
    return (height - h) // 2, (width - w) // 2, h, w


class SeededAugment:
    """RandomResizedCrop(size, scale, bicubic unless ``interpolation`` says otherwise) + horizontal flip (p=0.5), then ``finish`` (to tensor,
    normalise). The randomness of view ``v`` of an image comes from (``seed``, ``v``, the image's
    pixels); ``repr`` names all of it, so the feature cache keys on it."""

    def __init__(self, size: int, scale: tuple[float, float], seed: str, finish: Callable, flip: bool = True,
                 interpolation: T.InterpolationMode = T.InterpolationMode.BICUBIC):
        self.interpolation = interpolation
        self.size = int(size)
        self.scale = (float(scale[0]), float(scale[1]))
        self.seed = str(seed)
        self.finish = finish
        self.flip = flip

    def generator(self, img: Image.Image, view: int = 0) -> torch.Generator:
        h = hashlib.blake2b(digest_size=8)
        h.update(f"{self.seed}|{view}|{img.mode}|{img.size}|".encode())
        h.update(img.tobytes())
        return torch.Generator().manual_seed(int.from_bytes(h.digest(), "little") & ((1 << 63) - 1))

    def __call__(self, img: Image.Image, view: int = 0):
        g = self.generator(img, view)
        top, left, h, w = crop_params(img.size[0], img.size[1], self.scale, RATIO, g)
        img = TF.resized_crop(img, top, left, h, w, [self.size, self.size], self.interpolation, antialias=True)
        if self.flip and torch.rand(1, generator=g).item() < 0.5:
            img = TF.hflip(img)
        return self.finish(img)

    def __repr__(self) -> str:
        mode = "bicubic" if self.interpolation == T.InterpolationMode.BICUBIC else self.interpolation.value
        return (f"SeededAugment(size={self.size}, scale={self.scale}, ratio={RATIO}, {mode}, flip={self.flip}, "
                f"seed={self.seed!r}, finish={self.finish!r})")


class ViewsSplit(ImageSplit):
    """``views`` augmented copies of a split, view-major: item ``v * N + i`` is view ``v`` of image
    ``i`` (its transform is called with the view index), so all views encode in one cached pass."""

    def __init__(self, parent: ImageSplit, views: int):
        super().__init__(parent.labels.repeat(views).tolist(), f"{parent.fingerprint}/views{views}", parent.name)
        self.parent = parent
        self.views = views

    def image(self, index: int) -> Image.Image:
        return self.parent.image(index % len(self.parent))

    def __getitem__(self, index: int):
        img = self.image(index)
        if isinstance(self.transform, SeededAugment):
            img = self.transform(img, index // len(self.parent))
        elif self.transform is not None:
            img = self.transform(img)
        return img, int(self.labels[index])


def augmented_views(inputs, split: ImageSplit, scale: tuple[float, float], views: int, seed: str, tag: str) -> torch.Tensor:
    """[views, N, D] normalised features of ``views`` augmented views of every image of ``split``,
    encoded in one pass and cached by the harness (view name ``{tag}:rrc{lo}-{hi}:flip:{seed}:x{views}``).
    View ``v`` of an image is the same whatever ``views`` is."""
    size, finish = split_preprocess(inputs.model.preprocess, inputs.model.model)
    transform = SeededAugment(size, scale, f"{tag}:{seed}", finish)
    view = f"{tag}:rrc{scale[0]:g}-{scale[1]:g}:flip:{seed}:x{views}"
    feats = inputs.encode_images(ViewsSplit(split, views), view=view, transform=transform)
    return feats.view(views, len(split), -1)
