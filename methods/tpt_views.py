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

Randomness: the image's pixels are hashed once; view ``v``'s crop and flip come from a torch
generator seeded by (seed, ``v``, that digest) with torchvision's ``RandomResizedCrop`` sampling rule
(:func:`zsbench.methods.augment.crop_params`), its AugMix draws from a numpy generator seeded by
(seed, ``v`` + 1 000 000, the digest), so the views of an image are the same in any order and batch.

Batched where it keeps the numbers: the crops and AugMix's operations stay PIL's (the batched
bilinear resampler of ``methods/abs/resampling.py`` differs from PIL's fixed-point bilinear in about
1 % of pixels by 1-2 levels, and a tensor AugMix would change the operations), but when the model's
evaluation transform is the usual resize / centre crop / (to tensor) / normalise
(:meth:`CropTransform.from_preprocess`) the to-tensor, normalisation and AugMix mixing of all views
run as tensor ops on the stacked uint8 results, the same float operations as the per-view path
(:meth:`TPTViews.view_pil`, used for any other transform), so the two give identical views.
"""
from __future__ import annotations

from typing import Callable

import hashlib

import numpy as np
import torch
import torchvision.transforms as T
import torchvision.transforms.functional as TF
from PIL import Image, ImageOps

from zsbench.methods.abs.resampling import CropTransform
from zsbench.methods.augment import RATIO, crop_params

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

    AUGMIX_STREAM = 1_000_000  # view v's AugMix generator is seeded with view v + this

    def __init__(self, preprocess: Callable, size: int, finish: Callable, n_views: int, augmix: bool, seed: str,
                 severity: float = 1.0):
        self.preprocess = preprocess
        self.size = int(size)
        self.finish = finish
        self.n_views = int(n_views)
        self.augmix = augmix
        self.severity = severity
        self.seed = f"tpt:{seed}"
        # get_preaugment(): RandomResizedCrop(224) + RandomHorizontalFlip(), torchvision defaults (bilinear)
        # the usual resize / centre crop / (to tensor) / normalise: finish the views as one tensor
        self.batched = CropTransform.from_preprocess(preprocess)

    # -- randomness ---------------------------------------------------------------------------------
    def digest(self, image: Image.Image) -> bytes:
        h = hashlib.blake2b(digest_size=16)
        h.update(f"{image.mode}|{image.size}|".encode())
        h.update(image.tobytes())
        return h.digest()

    def generator(self, digest: bytes, view: int) -> torch.Generator:
        h = hashlib.blake2b(f"{self.seed}|{view}|".encode() + digest, digest_size=8)
        return torch.Generator().manual_seed(int.from_bytes(h.digest(), "little") & ((1 << 63) - 1))

    def crop_params(self, image: Image.Image, digest: bytes) -> tuple[torch.Tensor, torch.Tensor]:
        """(boxes ``[V, 4]`` x0, y0, x1, y1; flips ``[V]`` bool) of the random views."""
        boxes, flips = [], []
        for v in range(self.n_views):
            g = self.generator(digest, v)
            top, left, h, w = crop_params(image.size[0], image.size[1], CROP_SCALE, RATIO, g)
            boxes.append((left, top, left + w, top + h))
            flips.append(torch.rand(1, generator=g).item() < 0.5)
        return torch.tensor(boxes, dtype=torch.long).view(-1, 4), torch.tensor(flips, dtype=torch.bool)

    def augmix_draws(self, digest: bytes, v: int) -> tuple[np.random.Generator, np.ndarray, np.float32]:
        g = self.generator(digest, v + self.AUGMIX_STREAM)
        rng = np.random.default_rng(int(torch.randint(0, 2 ** 62, (1,), generator=g).item()))
        w = np.float32(rng.dirichlet([1.0, 1.0, 1.0]))
        m = np.float32(rng.beta(1.0, 1.0))
        return rng, w, m

    def chains(self, cropped: Image.Image, rng: np.random.Generator) -> list[Image.Image]:
        """The three AugMix chains of 1-3 of the reference's operations applied to ``cropped``."""
        out = []
        for _ in range(3):
            aug = cropped.copy()
            for _ in range(int(rng.integers(1, 4))):
                op = OPERATIONS[int(rng.integers(len(OPERATIONS)))]
                aug = op(aug, self.severity, rng, self.size)
            out.append(aug)
        return out

    # -- the per-view PIL path (any transform) ------------------------------------------------------
    def view_pil(self, image: Image.Image, v: int, digest: bytes | None = None) -> torch.Tensor:
        digest = self.digest(image) if digest is None else digest
        g = self.generator(digest, v)
        top, left, h, w = crop_params(image.size[0], image.size[1], CROP_SCALE, RATIO, g)
        cropped = TF.resized_crop(image, top, left, h, w, [self.size, self.size], T.InterpolationMode.BILINEAR,
                                  antialias=True)
        if torch.rand(1, generator=g).item() < 0.5:
            cropped = TF.hflip(cropped)
        processed = self.finish(cropped)
        if not self.augmix:
            return processed
        rng, w, m = self.augmix_draws(digest, v)
        mix = torch.zeros_like(processed)
        for i, aug in enumerate(self.chains(cropped, rng)):
            mix += float(w[i]) * self.finish(aug)
        return float(m) * processed + (1 - float(m)) * mix

    # -- the batched path ---------------------------------------------------------------------------
    def normalise(self, pixels: torch.Tensor) -> torch.Tensor:
        """uint8-valued ``[..., 3, S, S]`` -> ToTensor + Normalize, the same float operations as torchvision's."""
        mean = torch.tensor(self.batched.mean, dtype=torch.float32).view(3, 1, 1)
        std = torch.tensor(self.batched.std, dtype=torch.float32).view(3, 1, 1)
        return pixels.contiguous().float().div_(255).sub_(mean).div_(std)

    def crops(self, image: Image.Image, digest: bytes) -> list[Image.Image]:
        """The random resized crops (PIL's bilinear resize, as the reference) with their flips."""
        boxes, flips = self.crop_params(image, digest)
        out = []
        for (x0, y0, x1, y1), flip in zip(boxes.tolist(), flips.tolist()):
            crop = TF.resized_crop(image, y0, x0, y1 - y0, x1 - x0, [self.size, self.size],
                                   T.InterpolationMode.BILINEAR, antialias=True)
            out.append(TF.hflip(crop) if flip else crop)
        return out

    def views_batched(self, image: Image.Image, digest: bytes) -> torch.Tensor:
        crops = self.crops(image, digest)
        processed = self.normalise(torch.from_numpy(np.stack([np.asarray(c) for c in crops])).permute(0, 3, 1, 2))
        if not self.augmix:
            return processed
        chains, weights, mixes = [], [], []
        for v, cropped in enumerate(crops):
            rng, w, m = self.augmix_draws(digest, v)
            chains.append(np.stack([np.asarray(a.convert("RGB")) for a in self.chains(cropped, rng)]))
            weights.append(w)
            mixes.append(float(m))
        augmented = self.normalise(torch.from_numpy(np.stack(chains)).permute(0, 1, 4, 2, 3))  # [V, 3 chains, 3, S, S]
        w = torch.from_numpy(np.stack(weights)).view(self.n_views, 3, 1, 1, 1)
        mix = augmented[:, 0] * w[:, 0]  # 0 + w_0 a_0, then + w_1 a_1, + w_2 a_2: the per-view order
        mix = mix + augmented[:, 1] * w[:, 1]
        mix = mix + augmented[:, 2] * w[:, 2]
        m = torch.tensor(mixes, dtype=torch.float32).view(-1, 1, 1, 1)
        one_minus_m = torch.tensor([1 - x for x in mixes], dtype=torch.float32).view(-1, 1, 1, 1)
        return m * processed + one_minus_m * mix

    def __call__(self, image: Image.Image) -> torch.Tensor:
        image = image.convert("RGB")
        digest = self.digest(image)
        first = self.preprocess(image)[None]
        if self.batched is not None:
            rest = self.views_batched(image, digest)
        else:
            rest = torch.stack([self.view_pil(image, v, digest) for v in range(self.n_views)])
        return torch.cat([first, rest])

    def __repr__(self) -> str:
        return (f"TPTViews(n_views={self.n_views}, augmix={self.augmix}, severity={self.severity}, size={self.size}, "
                f"scale={CROP_SCALE}, ratio={RATIO}, bilinear, flip, seed={self.seed!r}, "
                f"batched={self.batched is not None})")
