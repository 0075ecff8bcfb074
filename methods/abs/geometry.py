"""Crop geometry for ABS: how a model's square input maps back onto the original image's pixels
(:class:`Frame`, to turn attention-grid cells into pixel positions and back), and how ABS draws crop
centres from an attention map and turns them into raw-image boxes and token-grid windows.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from zsbench.methods.abs.resampling import CropTransform

# --------------------------------------------------------------------------------------------------
# frames: model input <-> original pixels


@dataclass(frozen=True)
class Frame:
    """A model's square ``size x size`` input as a window on the original ``width x height`` image:
    input pixel (u, v) shows original pixel ``(x0 + u * sx, y0 + v * sy)``."""

    width: int
    height: int
    size: int
    x0: float
    y0: float
    sx: float
    sy: float

    @classmethod
    def squash(cls, width: int, height: int, size: int) -> "Frame":
        """The whole image resized to ``size x size`` (DINO's preprocessing in the ABS reference)."""
        return cls(width, height, size, 0.0, 0.0, width / size, height / size)

    @classmethod
    def centre_crop(cls, width: int, height: int, size: int) -> "Frame":
        """Shorter side resized to ``size``, then the centre ``size x size`` (CLIP's preprocessing)."""
        geo = CropTransform(size, (0, 0, 0), (1, 1, 1)).geometry(torch.tensor([[0, 0, width, height]]))
        new_w, new_h, left, top = (int(t) for t in geo)
        sx, sy = width / new_w, height / new_h
        return cls(width, height, size, left * sx, top * sy, sx, sy)

    @classmethod
    def of_transform(cls, transform: CropTransform | None, width: int, height: int, size: int) -> "Frame":
        if transform is not None and transform.squash:
            return cls.squash(width, height, size)
        return cls.centre_crop(width, height, size)

    def patch_centres(self, index: torch.Tensor, grid: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Flat grid indices -> integer pixel centres (x, y) of their patch boxes in the original image,
        computed like the ABS reference: box ``[int(j * P * sx), that + int(P * sx))`` clamped to the
        image, centre ``(min + max) // 2`` (P = size / grid; float32 products as in the reference)."""
        patch = self.size / grid
        row, col = index // grid, index % grid

        def axis(cell, origin, scale, limit):
            start = (cell * patch).to(torch.float32) * torch.tensor(scale, dtype=torch.float32)
            start = torch.trunc(start + origin).long() if origin else torch.trunc(start).long()
            end = torch.clamp(start + int(patch * scale), max=limit)
            return torch.div(start + end, 2, rounding_mode="floor")

        return axis(col, self.x0, self.sx, self.width), axis(row, self.y0, self.sy, self.height)

    def to_grid(self, x: torch.Tensor, y: torch.Tensor, grid: int) -> torch.Tensor:
        """Original pixel positions -> the flat index of the grid cell of this frame that shows them
        (clamped to the grid for points outside the frame)."""
        patch = self.size / grid
        col = torch.floor((x.double() - self.x0) / self.sx / patch).long().clamp(0, grid - 1)
        row = torch.floor((y.double() - self.y0) / self.sy / patch).long().clamp(0, grid - 1)
        return row * grid + col


# --------------------------------------------------------------------------------------------------
# ABS's sampling and windows


def sample_cells(attention: torch.Tensor, top_k: int, temperature: float, n: int, generator: torch.Generator) -> torch.Tensor:
    """Flat indices of ``n`` cells drawn with replacement from the ``top_k`` strongest of a flat
    attention map, with probabilities ``softmax(values / temperature)``."""
    values, indices = torch.topk(attention.float().flatten(), min(top_k, attention.numel()))
    probs = torch.softmax(values.cpu() / temperature, dim=0)
    return indices.cpu()[torch.multinomial(probs, n, replacement=True, generator=generator)]


def window_bounds(centre: torch.Tensor, size: torch.Tensor, grid: int, faithful: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Token windows along one axis: ``[c - s // 2, c + s // 2 + 1)`` as the ABS reference slices
    them (odd effective sizes: s = 8 and 9 both give 9 tokens), or ``[c - s // 2, c - s // 2 + s)``
    (exactly s tokens) when not ``faithful``; clamped to ``[0, grid)``. Returns (start, length)."""
    half = torch.div(size, 2, rounding_mode="floor")
    start = (centre - half).clamp(min=0)
    end = (centre + half + 1) if faithful else (centre - half + size)
    end = end.clamp(max=grid)
    return start, end - start


def crop_boxes(cx: torch.Tensor, cy: torch.Tensor, w: torch.Tensor, h: torch.Tensor, width: int, height: int,
               faithful: bool = True) -> torch.Tensor:
    """``[K, 4]`` integer boxes (x0, y0, x1, y1) of sizes ``w x h`` centred at (cx, cy), clamped to the
    image. ``faithful``: the reference's ``[c - s // 2, c + s // 2)`` (even sizes: s = 301 gives 300);
    else ``[c - s // 2, c - s // 2 + s)``."""
    x0 = cx - torch.div(w, 2, rounding_mode="floor")
    y0 = cy - torch.div(h, 2, rounding_mode="floor")
    x1 = (cx + torch.div(w, 2, rounding_mode="floor")) if faithful else x0 + w
    y1 = (cy + torch.div(h, 2, rounding_mode="floor")) if faithful else y0 + h
    return torch.stack([x0.clamp(min=0), y0.clamp(min=0), x1.clamp(max=width), y1.clamp(max=height)], dim=1)


def size_range(extent: int, scale: tuple[float, float]) -> tuple[int, int]:
    """Inclusive integer range ``[int(extent * lo), int(extent * hi)]`` of crop sizes."""
    lo, hi = int(extent * scale[0]), int(extent * scale[1])
    return lo, max(lo, hi)


def grid_size_range(grid: int, scale: tuple[float, float]) -> tuple[int, int]:
    """The reference's window sizes ``randint(int(G * lo), int(G * hi))``, widened by one when equal."""
    lo, hi = int(grid * scale[0]), int(grid * scale[1])
    return (lo, hi + 1) if lo == hi else (lo, hi)


def remap_cells(index: torch.Tensor, source_grid: int, target_grid: int) -> torch.Tensor:
    """The reference's remapping of DINO's 14x14 cell indices onto another grid: row and column
    scaled by ``target // source`` in integers (``// 2`` for 7x7, ``* 16 // 14`` for 16x16)."""
    if source_grid == target_grid:
        return index
    row, col = index // source_grid, index % source_grid
    return (row * target_grid // source_grid) * target_grid + col * target_grid // source_grid
