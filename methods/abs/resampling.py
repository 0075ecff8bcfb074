"""Batched, PIL-exact crop resampling for ABS.

Crops of different sizes cannot go through one ``F.interpolate`` call, but a resize is a linear map
along each axis: a crop resized to ``S x S`` is ``Wy @ image @ Wx^T`` with one ``[S, H]`` and one
``[S, W]`` weight matrix per crop. Building those matrices for all crops at once and applying them as
batched matmuls turns "crop, resize, centre-crop, normalise, for each of 50 boxes" into a few tensor
ops, on any device.

- :func:`pil_resample_matrices`: the antialiased filters PIL uses (``Image.resize`` with BICUBIC or
  BILINEAR), which is what an open_clip / torchvision evaluation transform does to a PIL image.
- :func:`torch_bicubic_matrices`: ``F.interpolate(mode="bicubic", align_corners=False)`` along one
  axis, for windows of a token grid (ABS's feature-space crops).
- :class:`CropTransform`: an open_clip evaluation transform (resize, centre crop, normalise) read off
  the ``Compose`` as numbers and applied to many boxes of one image at once.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from PIL import Image

# --------------------------------------------------------------------------------------------------
# resampling matrices


def _pil_bicubic(x: torch.Tensor, a: float = -0.5) -> torch.Tensor:
    x = x.abs()
    near = ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0
    far = (((x - 5.0) * x + 8.0) * x - 4.0) * a
    return torch.where(x < 1.0, near, torch.where(x < 2.0, far, torch.zeros_like(x)))


def _pil_triangle(x: torch.Tensor) -> torch.Tensor:
    return (1.0 - x.abs()).clamp(min=0.0)


PIL_FILTERS: dict[str, tuple[Callable[[torch.Tensor], torch.Tensor], float]] = {
    "bicubic": (_pil_bicubic, 2.0),
    "bilinear": (_pil_triangle, 1.0),
}


def pil_resample_matrices(start: torch.Tensor, length: torch.Tensor, resized: torch.Tensor, offset: torch.Tensor,
                          out_len: int, full_len: int, kernel: str = "bicubic") -> torch.Tensor:
    """``[K, out_len, full_len]`` weights along one axis, for K crops at once.

    Crop k covers source pixels ``[start, start + length)`` of an axis of ``full_len`` pixels; PIL
    resizes it to ``resized`` pixels (antialiased: the filter widens by the downscale factor, exactly
    as ``ImagingResample``'s ``precompute_coeffs``), and outputs ``[offset, offset + out_len)`` of the
    resized axis are kept (a centre crop). Rows sum to 1; weights outside the crop are 0.
    """
    filt, base_support = PIL_FILTERS[kernel]
    f64 = dict(dtype=torch.float64, device=start.device)
    k = start.shape[0]
    start_i = start.long().to(start.device)[:, None, None]
    start, length, resized, offset = (t.to(**f64)[:, None, None] for t in (start, length, resized, offset))
    scale = length / resized  # source pixels per resized pixel
    filterscale = scale.clamp(min=1.0)
    support = base_support * filterscale
    out = torch.arange(out_len, **f64)[None, :, None] + offset
    centre = (out + 0.5) * scale  # in crop coordinates
    # PIL's window of taps: C casts (truncation toward zero), clamped to the crop; at most
    # ceil(support) * 2 + 1 taps, so only that band is computed and then scattered into the matrix
    lo = torch.trunc(centre - support + 0.5).clamp(min=0.0)
    hi = torch.minimum(torch.trunc(centre + support + 0.5), length)
    taps = int(math.ceil(float(support.max()) if k else 0.0)) * 2 + 1
    x = lo + torch.arange(taps, **f64)[None, None, :]  # [K, out, taps] source pixels in crop coordinates
    inside = x < hi
    w = torch.where(inside, filt((x - centre + 0.5) / filterscale), torch.zeros((), **f64))
    total = w.sum(-1, keepdim=True)
    w = (w / torch.where(total == 0, torch.ones_like(total), total)).float()
    index = (x.long() + start_i).clamp(0, full_len - 1)  # taps outside the crop carry weight 0
    return torch.zeros(k, out_len, full_len, device=w.device).scatter_add_(2, index, w)


def _torch_cubic(t: torch.Tensor, a: float = -0.75) -> list[torch.Tensor]:
    """PyTorch's cubic convolution weights for the taps at offsets -1, 0, 1, 2 (A = -0.75)."""

    def inner(x):  # |x| <= 1
        return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0

    def outer(x):  # 1 < |x| < 2
        return ((a * x - 5.0 * a) * x + 8.0 * a) * x - 4.0 * a

    return [outer(t + 1.0), inner(t), inner(1.0 - t), outer(2.0 - t)]


def torch_bicubic_matrices(start: torch.Tensor, length: torch.Tensor, out_len: int, full_len: int) -> torch.Tensor:
    """``[K, out_len, full_len]``: ``F.interpolate(x[start:start+length], size=out_len, mode="bicubic",
    align_corners=False)`` along one axis as a matrix per window (border taps clamped to the window)."""
    f64 = dict(dtype=torch.float64, device=start.device)
    k = start.shape[0]
    length_f = length.to(**f64)[:, None]
    real = length_f / out_len * (torch.arange(out_len, **f64)[None, :] + 0.5) - 0.5
    base = torch.floor(real)
    t = real - base
    weights = torch.zeros(k, out_len, full_len, **f64)
    last = (length.to(start.device)[:, None] - 1)
    for off, w in zip((-1, 0, 1, 2), _torch_cubic(t)):
        idx = torch.minimum((base.long() + off).clamp(min=0), last) + start[:, None]
        weights.scatter_add_(2, idx[:, :, None], w[:, :, None])
    return weights.float()


# --------------------------------------------------------------------------------------------------
# crops of one image through an evaluation transform


def image_to_tensor(image: Image.Image) -> torch.Tensor:
    """PIL image -> uint8 ``[3, H, W]`` (RGB)."""
    return torch.from_numpy(np.asarray(image.convert("RGB")).copy()).permute(2, 0, 1)


@dataclass(frozen=True)
class CropTransform:
    """Resize (shorter side to ``size``, or ``squash`` to ``size x size``), centre crop ``size``, scale
    to [0, 1], normalise: the evaluation transform of CLIP-style models, applied to many boxes of one
    uint8 image at once. Pixel values are quantised to uint8 after each resampling pass, as PIL does."""

    size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    kernel: str = "bicubic"
    squash: bool = False

    @classmethod
    def from_preprocess(cls, preprocess) -> "CropTransform | None":
        """Read an open_clip/torchvision ``Compose`` (Resize, CenterCrop, Normalize, plus RGB and
        to-tensor conversions); ``None`` for anything else (the caller falls back to the transform)."""
        from torchvision import transforms as T

        steps = list(getattr(preprocess, "transforms", []))
        resize = crop = norm = None
        for step in steps:
            name = type(step).__name__
            if isinstance(step, T.Resize) and resize is None and crop is None:
                resize = step
            elif isinstance(step, T.CenterCrop) and crop is None:
                crop = step
            elif isinstance(step, T.Normalize) and norm is None:
                norm = step
            elif name in ("MaybeConvertMode", "MaybeToTensor", "ToTensor", "PILToTensor", "ConvertImageDtype") or (
                    callable(step) and getattr(step, "__name__", "") in ("_convert_to_rgb", "_convert_image_to_rgb")):
                continue
            else:
                return None
        if resize is None or crop is None or norm is None or getattr(resize, "max_size", None) is not None:
            return None
        kernel = {T.InterpolationMode.BICUBIC: "bicubic", T.InterpolationMode.BILINEAR: "bilinear"}.get(resize.interpolation)
        crop_size = tuple(crop.size) if isinstance(crop.size, (tuple, list)) else (crop.size, crop.size)
        if kernel is None or crop_size[0] != crop_size[1]:
            return None
        size = crop_size[0]
        rsize = resize.size
        if isinstance(rsize, int) or (isinstance(rsize, (tuple, list)) and len(rsize) == 1):
            if (rsize if isinstance(rsize, int) else rsize[0]) != size:
                return None
            squash = False
        elif tuple(rsize) == (size, size):
            squash = True
        else:
            return None
        return cls(size, tuple(float(m) for m in norm.mean), tuple(float(s) for s in norm.std), kernel, squash)

    def geometry(self, boxes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """For boxes ``[K, 4]`` (x0, y0, x1, y1): the resized width/height and the centre-crop offsets,
        as torchvision computes them (``int(size * long / short)``, ``round((new - size) / 2)``)."""
        w = (boxes[:, 2] - boxes[:, 0]).long()
        h = (boxes[:, 3] - boxes[:, 1]).long()
        if self.squash:
            new_w = torch.full_like(w, self.size)
            new_h = torch.full_like(h, self.size)
        else:
            short = torch.minimum(w, h).double()
            long = torch.maximum(w, h).double()
            new_long = torch.floor(self.size * long / short).long()  # int() of a positive float
            new_w = torch.where(w <= h, torch.full_like(w, self.size), new_long)
            new_h = torch.where(w <= h, new_long, torch.full_like(h, self.size))
        left = torch.round((new_w - self.size).double() / 2.0).long()
        top = torch.round((new_h - self.size).double() / 2.0).long()
        return new_w, new_h, left, top

    def pixels(self, image: torch.Tensor, boxes: torch.Tensor, max_elements: int = 1 << 26) -> torch.Tensor:
        """uint8 image ``[3, H, W]`` and integer boxes ``[K, 4]`` -> ``[K, 3, size, size]`` float pixel
        values in [0, 255] (rounded like PIL's uint8 output). Crops are processed in chunks of at
        most ``max_elements`` intermediate values."""
        _, height, width = image.shape
        boxes = boxes.to(image.device)
        new_w, new_h, left, top = self.geometry(boxes)
        img = image.float()
        s = self.size
        per_crop = 3 * height * s
        chunk = max(1, max_elements // max(per_crop, 1))
        outs = []
        for lo in range(0, boxes.shape[0], chunk):
            sl = slice(lo, lo + chunk)
            b = boxes[sl]
            wx = pil_resample_matrices(b[:, 0], b[:, 2] - b[:, 0], new_w[sl], left[sl], s, width, self.kernel)
            wy = pil_resample_matrices(b[:, 1], b[:, 3] - b[:, 1], new_h[sl], top[sl], s, height, self.kernel)
            # PIL: horizontal pass, uint8 intermediate, vertical pass, uint8 output
            tmp = torch.matmul(img.reshape(1, 3 * height, width), wx.transpose(1, 2))  # [k, 3H, S]
            tmp = tmp.round_().clamp_(0, 255).view(-1, 3, height, s)
            out = torch.matmul(wy[:, None], tmp)  # [k, 3, S, S]
            outs.append(out.round_().clamp_(0, 255))
        return torch.cat(outs)

    def normalise(self, pixels: torch.Tensor) -> torch.Tensor:
        mean = torch.tensor(self.mean, device=pixels.device).view(1, 3, 1, 1) * 255.0
        std = torch.tensor(self.std, device=pixels.device).view(1, 3, 1, 1) * 255.0
        return (pixels - mean) / std

    def __call__(self, image: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
        """Model-ready ``[K, 3, size, size]`` crops of ``image`` (uint8 ``[3, H, W]``)."""
        return self.normalise(self.pixels(image, boxes))


def crops_with_transform(image: Image.Image, boxes: torch.Tensor, preprocess: Callable) -> torch.Tensor:
    """The slow, general path for transforms :class:`CropTransform` cannot read: PIL crop + transform."""
    return torch.stack([preprocess(image.crop(tuple(int(v) for v in box))) for box in boxes.tolist()])
