"""Batched, seeded rendering of toy scenes: one object of a known class, with attributes
(colour, texture, size, position, rotation), on a background, in one of several visual styles.

Everything is a tensor operation over the whole batch (a Python loop runs only over the shape
classes and clutter primitives, never over images), so the toy-clip trainer can draw fresh
images every step. The same generator seed always gives the same images.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from .shapes import shape_function

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40), "green": (40, 170, 60), "blue": (40, 80, 220), "yellow": (240, 220, 40),
    "orange": (245, 140, 30), "purple": (140, 60, 190), "pink": (245, 130, 190), "cyan": (40, 200, 220),
    "white": (245, 245, 245), "black": (20, 20, 20), "brown": (130, 80, 40), "gray": (128, 128, 128),
}
COLOUR_NAMES = list(COLOURS)
_PALETTE = torch.tensor(list(COLOURS.values()), dtype=torch.float32) / 255.0
TEXTURES = ["plain", "striped", "dotted", "checkered", "outlined"]  # outlined: hollow, coloured border
BACKGROUNDS = ["plain", "noisy", "striped", "cluttered"]
STYLES = ("natural", "outline", "rendition")


@dataclass(frozen=True)
class Style:
    """How a domain draws its scenes. Weights are over TEXTURES / BACKGROUNDS."""

    kind: str = "natural"  # natural | outline (sketch) | rendition (unusual palettes)
    size: tuple[float, float] = (0.45, 0.8)  # object radius, fraction of the half-width
    rotation: float = 25.0  # max |degrees|
    texture_weights: tuple[float, ...] = (0.5, 0.125, 0.125, 0.125, 0.125)
    background_weights: tuple[float, ...] = (0.3, 0.25, 0.2, 0.25)
    clutter: tuple[int, int] = (6, 12)  # primitives on a cluttered background
    distractors: tuple[int, int] = (0, 0)  # non-class primitives drawn over the background
    distractor_prob: float = 1.0
    colour_jitter: float = 0.06
    hard_groups: int = 1  # >1: consecutive groups share colour/texture/background (hard negatives)
    # Spurious shape-colour correlation (toy-clip's pretraining only): with this probability an
    # object takes its class's typical colour (``typical_colours[class]``, -1 for none).
    typical_colour_prob: float = 0.0
    typical_colours: tuple[int, ...] = ()


@dataclass
class Scene:
    """Per-image parameters of a batch (all tensors of leading size B)."""

    shape: torch.Tensor  # index into the class list given to the renderer
    cx: torch.Tensor
    cy: torch.Tensor
    radius: torch.Tensor
    theta: torch.Tensor
    colour: torch.Tensor  # index into COLOUR_NAMES
    texture: torch.Tensor  # index into TEXTURES
    background: torch.Tensor  # index into BACKGROUNDS
    extra: dict = field(default_factory=dict)

    def box(self) -> torch.Tensor:
        """Object bounding boxes [B, 4] (x0, y0, x1, y1) in [-1, 1] image coordinates."""
        return torch.stack([self.cx - self.radius, self.cy - self.radius, self.cx + self.radius, self.cy + self.radius], 1)


def _uniform(g, n, lo, hi):
    return lo + (hi - lo) * torch.rand(n, generator=g)


def _choice(g, n, weights):
    return torch.multinomial(torch.tensor(weights, dtype=torch.float32), n, replacement=True, generator=g)


def sample_scene(g: torch.Generator, shapes: torch.Tensor, style: Style) -> Scene:
    """Draw attributes for objects of the given class indices."""
    n = len(shapes)
    radius = _uniform(g, n, *style.size)
    span = (1.0 - radius) * 0.9
    colour = torch.randint(len(COLOURS), (n,), generator=g)
    texture = _choice(g, n, style.texture_weights)
    background = _choice(g, n, style.background_weights)
    if style.typical_colour_prob > 0:  # drawn only then, so the domains' streams are unchanged
        typical = torch.tensor(style.typical_colours, dtype=torch.long)[shapes]
        take = (torch.rand(n, generator=g) < style.typical_colour_prob) & (typical >= 0)
        colour = torch.where(take, typical, colour)
    if style.hard_groups > 1:  # images in a group differ only in shape (and pose)
        lead = torch.arange(n) // style.hard_groups * style.hard_groups
        colour, texture, background = colour[lead], texture[lead], background[lead]
        radius = radius[lead]
        span = span[lead]
    return Scene(
        shape=shapes,
        cx=(2 * torch.rand(n, generator=g) - 1) * span,
        cy=(2 * torch.rand(n, generator=g) - 1) * span,
        radius=radius,
        theta=(2 * torch.rand(n, generator=g) - 1) * math.radians(style.rotation),
        colour=colour,
        texture=texture,
        background=background,
    )


def _grid(size: int):
    coords = (torch.arange(size, dtype=torch.float32) + 0.5) / size * 2 - 1
    v, u = torch.meshgrid(coords, coords, indexing="ij")
    return u, v  # x right, y down


def _mix(a, b, t):
    return a * (1 - t) + b * t


def _vivid(g, n):
    """Random saturated colours [n, 3] (HSV with high saturation and value)."""
    h = torch.rand(n, generator=g) * 6
    k = torch.stack([(5 + h) % 6, (3 + h) % 6, (1 + h) % 6], 1)
    return 1 - torch.clamp(torch.minimum(k, 4 - k), 0, 1) * 0.9


def _segments(u, v, g, n, k, length):
    """Distances [n, k, H, W] to k random line segments per image."""
    p = 2 * torch.rand(n, k, 2, generator=g) - 1
    ang = torch.rand(n, k, generator=g) * math.pi
    half = _uniform(g, n * k, *length).view(n, k) / 2
    d = torch.stack([ang.cos(), ang.sin()], -1)
    rel_u = u - p[..., 0, None, None]
    rel_v = v - p[..., 1, None, None]
    t = (rel_u * d[..., 0, None, None] + rel_v * d[..., 1, None, None]).clamp(-1, 1)
    t = torch.maximum(torch.minimum(t, half[..., None, None]), -half[..., None, None])
    return torch.hypot(rel_u - t * d[..., 0, None, None], rel_v - t * d[..., 1, None, None])


def _scatter(img, u, v, g, k, px, aa):
    """Clutter: k vivid blobs and strokes per image, painted one layer at a time."""
    n = len(img)
    centres = 2 * torch.rand(n, k, 2, generator=g) - 1
    radii = _uniform(g, n * k, 0.04, 0.16).view(n, k)
    blob = torch.hypot(u - centres[..., 0, None, None], v - centres[..., 1, None, None]) - radii[..., None, None]
    stroke = _segments(u, v, g, n, k, (0.2, 0.7)) - 0.03
    shapes = torch.where(torch.rand(n, k, 1, 1, generator=g) < 0.5, stroke, blob)
    colours = _vivid(g, n * k).view(n, k, 3)
    for j in range(k):
        img = _mix(img, colours[:, j, :, None, None], torch.sigmoid(-shapes[:, j] * px / aa)[:, None])
    return img


def render(scene: Scene, class_names: list[str], style: Style, g: torch.Generator, size: int = 64) -> torch.Tensor:
    """Render a batch to float images [B, 3, size, size] in [0, 1]."""
    n = len(scene.shape)
    u, v = _grid(size)
    px = size / 2  # pixels per unit
    aa = 0.6  # anti-aliasing width in pixels

    # Object-local coordinates: undo translation, rotation and scale.
    du = u - scene.cx[:, None, None]
    dv = v - scene.cy[:, None, None]
    cos, sin = scene.theta.cos()[:, None, None], scene.theta.sin()[:, None, None]
    r = scene.radius[:, None, None]
    x = (cos * du + sin * dv) / r
    y = (-sin * du + cos * dv) / r
    dist = torch.empty(n, size, size)
    for idx in scene.shape.unique().tolist():
        rows = scene.shape == idx
        dist[rows] = shape_function(class_names[idx])(x[rows], y[rows])
    dist_px = dist * r * px

    jitter = lambda c: (c + style.colour_jitter * torch.randn(c.shape, generator=g)).clamp(0, 1)  # noqa: E731
    fg = jitter(_PALETTE[scene.colour])
    # Background colour: another palette colour, lighter for natural scenes.
    bg_idx = (scene.colour + torch.randint(1, len(COLOURS), (n,), generator=g)) % len(COLOURS)
    bg = jitter(_mix(_PALETTE[bg_idx], torch.ones(3), 0.35))
    bg2 = jitter(_PALETTE[torch.randint(len(COLOURS), (n,), generator=g)])

    if style.kind == "outline":
        paper = 0.92 + 0.05 * torch.rand(n, 1, 1, 1, generator=g)
        img = paper.expand(n, 3, size, size) + 0.02 * torch.randn(n, 1, size, size, generator=g)
        width = _uniform(g, n, 0.8, 1.6)[:, None, None]
        ink = torch.sigmoid((width - dist_px.abs()) / aa)[:, None]
        pencil = (0.15 + 0.2 * torch.rand(n, 1, 1, 1, generator=g))
        return _mix(img, pencil.expand_as(img), ink).clamp(0, 1)

    # Background: each kind is computed only for the images that use it.
    img = bg[:, :, None, None].expand(n, 3, size, size).clone()
    rows = (scene.background == 1).nonzero().flatten()
    if len(rows):
        low = torch.nn.functional.interpolate(torch.randn(len(rows), 3, 6, 6, generator=g), size=size, mode="bilinear", align_corners=False)
        img[rows] += 0.18 * low + 0.07 * torch.randn(len(rows), 3, size, size, generator=g)
    rows = (scene.background == 2).nonzero().flatten()
    if len(rows):
        ang = torch.rand(len(rows), 1, 1, generator=g) * math.pi
        freq = _uniform(g, len(rows), 4, 9)[:, None, None] * math.pi
        stripe = (torch.sin(freq * (u * ang.cos() + v * ang.sin())) > 0).float()[:, None]
        img[rows] = _mix(img[rows], bg2[rows, :, None, None], 0.6 * stripe)
    rows = (scene.background == 3).nonzero().flatten()
    if len(rows):
        img[rows] = _scatter(img[rows], u, v, g, torch.randint(style.clutter[0], style.clutter[1] + 1, (1,), generator=g).item(), px, aa)
    # Distractors: thin lines that are not any class, over the background.
    rows = (torch.rand(n, generator=g) < style.distractor_prob).nonzero().flatten()
    kd = torch.randint(style.distractors[0], style.distractors[1] + 1, (1,), generator=g).item()
    if kd and len(rows):
        dist_seg = _segments(u, v, g, len(rows), kd, (0.15, 0.5))
        colours = _PALETTE[torch.randint(len(COLOURS), (len(rows) * kd,), generator=g)].view(len(rows), kd, 3)
        sub = img[rows]
        for j in range(kd):
            sub = _mix(sub, colours[:, j, :, None, None], torch.sigmoid((1.0 - dist_seg[:, j] * px) / aa)[:, None])
        img[rows] = sub

    # Foreground fill and texture in object coordinates (textures rotate with the object).
    fg_img = fg[:, :, None, None].expand(n, 3, size, size)
    second = _mix(fg, 1 - fg, 0.7)[:, :, None, None]
    tex = scene.texture[:, None, None]
    pattern = torch.zeros(n, size, size)
    pattern = torch.where(tex == 1, (torch.sin(x * 3.2 * math.pi) > 0).float(), pattern)
    pattern = torch.where(tex == 2, ((torch.sin(x * 3 * math.pi) * torch.sin(y * 3 * math.pi)) > 0.45).float(), pattern)
    pattern = torch.where(tex == 3, ((torch.sin(x * 2.5 * math.pi) * torch.sin(y * 2.5 * math.pi)) > 0).float(), pattern)
    if style.kind == "rendition":
        # Unusual palettes: vivid two-colour gradients, hatching, and a thick contrasting outline.
        c1, c2, c3 = _vivid(g, n), _vivid(g, n), _vivid(g, n)
        grad = ((x * 0.5 + 0.5).clamp(0, 1))[:, None]
        fg_img = _mix(c1[:, :, None, None], c2[:, :, None, None], grad)
        hatch = (torch.sin((x + y) * 5 * math.pi) > 0.3).float()
        pattern = hatch * (torch.rand(n, 1, 1, generator=g) < 0.5)
        second = c3[:, :, None, None]
        bgg = _mix(_vivid(g, n)[:, :, None, None] * 0.4, _vivid(g, n)[:, :, None, None] * 0.4, (v[None, None] * 0.5 + 0.5))
        img = _mix(img, bgg.expand_as(img), 0.8)
    fg_img = _mix(fg_img, second.expand_as(fg_img), 0.75 * pattern[:, None])
    alpha = torch.sigmoid(-dist_px / aa)[:, None]
    if style.kind != "rendition":  # outlined objects keep only a border of 1.5 px
        hollow = (scene.texture == TEXTURES.index("outlined"))[:, None, None, None]
        alpha = torch.where(hollow, torch.sigmoid((1.5 - dist_px.abs()) / aa)[:, None], alpha)
    img = _mix(img, fg_img, alpha)
    if style.kind == "rendition":
        edge = torch.sigmoid((1.4 - dist_px.abs()) / aa)[:, None]
        img = _mix(img, (1 - c1)[:, :, None, None].expand_as(img), edge)
    return img.clamp(0, 1)


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    return (images * 255).round().to(torch.uint8)
