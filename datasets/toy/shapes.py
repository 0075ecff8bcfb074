"""The toy world's object classes: shapes of distinct geometry, each a batched pseudo signed
distance function (negative inside) in object-local coordinates where the shape fits the unit disc.

Shapes are defined as distance functions rather than bitmaps so that one renderer can draw them
filled, textured, as outlines (sketches) or anti-aliased at any size, for a whole batch at once.
"""
from __future__ import annotations

import math

import torch


def _box(x, y, hx, hy):
    return torch.maximum(x.abs() - hx, y.abs() - hy)


def _polygon(x, y, n, radius=1.0, phase=-math.pi / 2):
    """Regular n-gon with circumradius ``radius``, a vertex at angle ``phase`` (up by default)."""
    apothem = radius * math.cos(math.pi / n)
    angles = phase + math.pi / n + 2 * math.pi * torch.arange(n, dtype=x.dtype) / n
    normals = torch.stack([angles.cos(), angles.sin()])  # [2, n]
    proj = x.unsqueeze(-1) * normals[0] + y.unsqueeze(-1) * normals[1]
    return proj.max(-1).values - apothem


def _star(x, y, points, r_in=0.45, r_out=1.0):
    phi = torch.atan2(y, x) + math.pi / 2  # a point straight up
    t = torch.remainder(phi * points / (2 * math.pi), 1.0)
    tri = (1 - 2 * t).abs()  # 1 at the tips, 0 between
    return torch.hypot(x, y) - (r_in + (r_out - r_in) * tri)


def circle(x, y):
    return torch.hypot(x, y) - 0.85


def square(x, y):
    return _box(x, y, 0.72, 0.72)


def triangle(x, y):
    return _polygon(x, y + 0.15, 3, 1.05)


def diamond(x, y):
    return (x.abs() * 1.3 + y.abs() - 1.0) / math.hypot(1.3, 1.0)


def star(x, y):
    return _star(x, y, 5)


def cross(x, y):
    return torch.minimum(_box(x, y, 0.95, 0.28), _box(x, y, 0.28, 0.95))


def ring(x, y):
    return (torch.hypot(x, y) - 0.68).abs() - 0.22


def crescent(x, y):
    outer = torch.hypot(x, y) - 0.9
    bite = torch.hypot(x - 0.45, y + 0.15) - 0.72
    return torch.maximum(outer, -bite)


def heart(x, y):
    lobes = torch.minimum(torch.hypot(x + 0.4, y + 0.3), torch.hypot(x - 0.4, y + 0.3)) - 0.47
    point = torch.maximum((x.abs() + 1.1 * y - 0.6) / math.hypot(1.0, 1.1), -(y + 0.3))
    return torch.minimum(lobes, point)


def arrow(x, y):
    shaft = _box(x + 0.35, y, 0.55, 0.16)
    head = torch.maximum(0.1 - x, (y.abs() + 0.95 * (x - 0.1) - 0.6) / math.hypot(1.0, 0.95))
    return torch.minimum(shaft, head)


def semicircle(x, y):
    return torch.maximum(torch.hypot(x, y + 0.3) - 0.95, y - 0.3)


def bowtie(x, y):
    return torch.maximum((y.abs() - 0.9 * x.abs()) / math.hypot(1.0, 0.9), x.abs() - 0.9)


def star_with(points: int):
    def sdf(x, y):
        return _star(x, y, points)

    sdf.__name__ = f"star{points}"
    return sdf


NUMBER_WORDS = {4: "four", 5: "five", 6: "six", 7: "seven", 8: "eight"}

# name -> (distance function, geometry descriptors used by captions and class descriptions)
SHAPES: dict[str, tuple] = {
    "circle": (circle, ["round", "no corners", "a smooth curved edge"]),
    "square": (square, ["four equal sides", "four corners", "straight sides"]),
    "triangle": (triangle, ["three sides", "three corners", "a point on top"]),
    "star": (star, ["five points", "pointed tips", "sharp points"]),
    "cross": (cross, ["two crossing bars", "four arms", "a plus sign"]),
    "ring": (ring, ["a hole in the middle", "a round band", "an empty centre"]),
    "crescent": (crescent, ["a curved shape like a moon", "two sharp tips", "a curved edge"]),
    "heart": (heart, ["two round bumps on top", "a point at the bottom", "a curved top"]),
    "arrow": (arrow, ["a pointed head", "a long straight shaft", "a point on one side"]),
    "diamond": (diamond, ["four corners", "a point on top and bottom", "slanted sides"]),
    "semicircle": (semicircle, ["a flat side", "a curved side", "half of a circle"]),
    "bowtie": (bowtie, ["two triangles", "a narrow middle", "two wide sides"]),
}
for _n in (4, 6, 7, 8):
    SHAPES[f"{NUMBER_WORDS[_n]}-pointed star"] = (
        star_with(_n),
        [f"{NUMBER_WORDS[_n]} points", "pointed tips", "sharp points"],
    )

MAIN_CLASSES = [
    "circle", "square", "triangle", "star", "cross", "ring",
    "crescent", "heart", "arrow", "diamond", "semicircle", "bowtie",
]
# The fine-grained set: stars that differ only in their number of points.
FINE_CLASSES = [f"{NUMBER_WORDS[n]}-pointed star" for n in (4, 5, 6, 7, 8)]
SHAPE_NAMES = list(SHAPES)  # every shape the world can draw (training covers all of them)


def shape_function(name: str):
    """The distance function of a class name (``five-pointed star`` is the main set's ``star``)."""
    if name == "five-pointed star":
        return star
    return SHAPES[name][0]
