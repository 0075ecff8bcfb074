"""TPT's test-time views of one image (reference: azshue/TPT ``data/datautils.py`` ``AugMixAugmenter``
and ``augmix``, ``data/augmix_ops.py``).

View 0 is the image through the model's evaluation transform (resize, centre crop, normalise). Each
of the other ``n_views`` starts from ``RandomResizedCrop(size)`` (torchvision's defaults: scale
(0.08, 1), bilinear) + horizontal flip of the *original* image; for the ImageNet family that is the
view. For the other (fine-grained) datasets it is AugMix'd: three chains of 1-3 operations drawn
from the reference's nine (autocontrast, equalize, posterize, rotate, solarize, shear x/y,
translate x/y) at severity 1, mixed with Dirichlet(1, 1, 1) weights, and blended with the cropped
image by ``m ~ Beta(1, 1)`` (after normalisation, as the reference; the mix is affine, so the order
does not matter).

torchvision's ``AugMix`` is not this: it draws magnitudes from ``severity`` bins (severity 1 gives
magnitude 0: no shear, no rotation) and its ops differ, so the reference's operations are written
out here with PIL's ``ImageOps``. ``IMAGE_SIZE`` of the reference (224) is the model's input size.

Randomness: the crop and flip come from :class:`zsbench.methods.augment.SeededAugment`'s generator
of (seed, view, the image's pixels); the AugMix draws from a numpy generator seeded the same way, so
the views of an image are the same in any order and batch.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch
import torchvision.transforms as T
from PIL import Image, ImageOps

from zsbench.methods.augment import SeededAugment

CROP_SCALE = (0.08, 1.0)  # torchvision's RandomResizedCrop default, as the reference's get_preaugment


def _level(rng: np.random.Generator, severity: float) -> float:
    return float(rng.uniform(low=0.1, high=severity))  # sample_level


def _int_parameter(level: float, maxval: float) -> int:
    return int(level * maxval / 10)


def _float_parameter(level: float, maxval: float) -> float:
    return float(level) * maxval / 10.0


def autocontrast(img, level, rng, size):
    return ImageOps.autocontrast(img)


def equalize(img, level, rng, size):
    return ImageOps.equalize(img)


def posterize(img, level, rng, size):
    return ImageOps.posterize(img, 4 - _int_parameter(_level(rng, level), 4))


def rotate(img, level, rng, size):
    degrees = _int_parameter(_level(rng, level), 30)
    if rng.uniform() > 0.5:
        degrees = -degrees
    return img.rotate(degrees, resample=Image.BILINEAR)


def solarize(img, level, rng, size):
    return ImageOps.solarize(img, 256 - _int_parameter(_level(rng, level), 256))


def _affine(img, size, coefficients):
    return img.transform((size, size), Image.AFFINE, coefficients, resample=Image.BILINEAR)


def shear_x(img, level, rng, size):
    level = _float_parameter(_level(rng, level), 0.3)
    if rng.uniform() > 0.5:
        level = -level
    return _affine(img, size, (1, level, 0, 0, 1, 0))


def shear_y(img, level, rng, size):
    level = _float_parameter(_level(rng, level), 0.3)
    if rng.uniform() > 0.5:
        level = -level
    return _affine(img, size, (1, 0, 0, level, 1, 0))


def translate_x(img, level, rng, size):
    level = _int_parameter(_level(rng, level), size / 3)
    if rng.random() > 0.5:
        level = -level
    return _affine(img, size, (1, 0, level, 0, 1, 0))


def translate_y(img, level, rng, size):
    level = _int_parameter(_level(rng, level), size / 3)
    if rng.random() > 0.5:
        level = -level
    return _affine(img, size, (1, 0, 0, 0, 1, level))


#: The reference's ``augmentations`` list (not ``augmentations_all``), in its order.
OPERATIONS = (autocontrast, equalize, posterize, rotate, solarize, shear_x, shear_y, translate_x, translate_y)


class TPTViews:
    """``views(image) -> [1 + n_views, 3, S, S]``: the evaluation view, then the random views."""

    def __init__(self, preprocess: Callable, size: int, finish: Callable, n_views: int, augmix: bool, seed: str,
                 severity: float = 1.0):
        self.preprocess = preprocess
        self.size = int(size)
        self.finish = finish
        self.n_views = int(n_views)
        self.augmix = augmix
        self.severity = severity
        # get_preaugment(): RandomResizedCrop(224) + RandomHorizontalFlip(), torchvision defaults
        self.crop = SeededAugment(size, CROP_SCALE, f"tpt:{seed}", lambda im: im, flip=True,
                                  interpolation=T.InterpolationMode.BILINEAR)

    def _rng(self, generator: torch.Generator) -> np.random.Generator:
        return np.random.default_rng(int(torch.randint(0, 2 ** 62, (1,), generator=generator).item()))

    def view(self, image: Image.Image, v: int) -> torch.Tensor:
        cropped = self.crop(image, v)
        processed = self.finish(cropped)
        if not self.augmix:
            return processed
        rng = self._rng(self.crop.generator(image, v + 1_000_000))
        w = np.float32(rng.dirichlet([1.0, 1.0, 1.0]))
        m = np.float32(rng.beta(1.0, 1.0))
        mix = torch.zeros_like(processed)
        for i in range(3):
            aug = cropped.copy()
            for _ in range(int(rng.integers(1, 4))):
                op = OPERATIONS[int(rng.integers(len(OPERATIONS)))]
                aug = op(aug, self.severity, rng, self.size)
            mix += float(w[i]) * self.finish(aug)
        return float(m) * processed + (1 - float(m)) * mix

    def __call__(self, image: Image.Image) -> torch.Tensor:
        image = image.convert("RGB")
        return torch.stack([self.preprocess(image)] + [self.view(image, v) for v in range(self.n_views)])

    def __repr__(self) -> str:
        return f"TPTViews(n_views={self.n_views}, augmix={self.augmix}, severity={self.severity}, crop={self.crop!r})"
