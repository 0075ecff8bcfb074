"""The toy world's language: training captions, evaluation templates, class descriptions (CuPL-style
sentences and DCLIP-style shape descriptors), and the word list its tokenizer is built from.

Training and evaluation prompts are kept apart on purpose: toy-clip's auxiliary loss sees only
``TRAIN_TEMPLATES``, and the zero-shot baselines are evaluated with ``EVAL_TEMPLATE`` /
``EVAL_TEMPLATES``, strings that no training caption contains (captions that use the words
"picture" or "image" always carry an attribute between the article and the shape).
"""
from __future__ import annotations

import random

from zsbench.datasets.descriptions import DescriptionsError

from .render import BACKGROUNDS, COLOUR_NAMES, TEXTURES
from .shapes import FINE_CLASSES, MAIN_CLASSES, SHAPES

TRAIN_TEMPLATES = ["a {}.", "a photo of a {}.", "the {}.", "{}"]
EVAL_TEMPLATE = "a picture of a {}."
EVAL_TEMPLATES = [
    "a picture of a {}.", "an image of a {}.", "a picture of the {}.", "an image of the {}.",
    "a good picture of a {}.", "a {} in a picture.", "a {} in an image.", "there is a {} in the picture.",
]

SIZE_WORDS = ["small", "medium", "large"]
POSITION_WORDS = ["on the left", "on the right", "at the top", "at the bottom", "in the middle"]
TEXTURE_WORDS = {"plain": "plain", "striped": "striped", "dotted": "dotted", "checkered": "checkered", "outlined": "outlined"}
BACKGROUND_PHRASES = {
    "plain": "a plain background", "noisy": "a noisy background",
    "striped": "a striped background", "cluttered": "a cluttered background",
}
_PREFIXES = ["a picture of", "an image of", "a good picture of", "a photo of", "there is"]


def size_word(radius: float) -> str:
    return SIZE_WORDS[0] if radius < 0.42 else SIZE_WORDS[1] if radius < 0.65 else SIZE_WORDS[2]


def position_word(cx: float, cy: float) -> str:
    if max(abs(cx), abs(cy)) < 0.2:
        return POSITION_WORDS[4]
    if abs(cx) >= abs(cy):
        return POSITION_WORDS[0] if cx < 0 else POSITION_WORDS[1]
    return POSITION_WORDS[2] if cy < 0 else POSITION_WORDS[3]


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def caption(rng: random.Random, shape: str, colour: str, texture: str, background: str, radius: float, cx: float, cy: float) -> str:
    """One training caption for an object; half of them name only the shape, so that shape (not
    colour or background) is what the contrastive loss must explain."""
    name = "star" if shape == "five-pointed star" else shape
    if shape == "star" and rng.random() < 0.3:
        name = "five-pointed star"
    r = rng.random()
    if r < 0.5:
        return rng.choice(TRAIN_TEMPLATES).format(name)
    descriptor = rng.choice(SHAPES["star" if shape == "five-pointed star" else shape][1])
    if r < 0.6:
        return f"a {colour} shape with {descriptor}."
    if r < 0.68:
        return f"a {name} with {descriptor}."
    attrs = []
    if rng.random() < 0.5:
        attrs.append(size_word(radius))
    if rng.random() < 0.7:
        attrs.append(colour)
    if texture != "plain" and rng.random() < 0.5:
        attrs.append(TEXTURE_WORDS[texture])
    if not attrs:
        attrs.append(colour)
    phrase = " ".join(attrs + [name])
    text = f"{rng.choice(_PREFIXES)} {_article(phrase)} {phrase}"
    if rng.random() < 0.4:
        text += f" on {BACKGROUND_PHRASES[background]}"
    elif rng.random() < 0.4:
        text += f" {position_word(cx, cy)}"
    return text + "."


_UNINFORMATIVE = [
    "a {} can be any colour.", "a {} can be small or large.", "a {} can be on any background.",
    "a {} is a common shape.", "a {} can be red or blue or green.", "you can see a {} in a picture.",
    "a {} can be plain or striped or dotted.", "a {} can be on the left or on the right.",
]
_INFORMATIVE = ["a {} has {}.", "a {} is a shape with {}.", "the {} has {}."]


def descriptions(classnames: list[str]) -> dict[str, list[str]]:
    """CuPL-style ``{class: [sentence, ...]}``: informative geometry sentences mixed with
    uninformative ones, so description methods have something real to select."""
    out = {}
    for c in classnames:
        geometry = SHAPES["star" if c == "five-pointed star" else c][1]
        informative = [t.format(c, d) for d in geometry for t in _INFORMATIVE]
        uninformative = [t.format(c) for t in _UNINFORMATIVE]
        mixed = [s for pair in zip(informative, uninformative) for s in pair]
        out[c] = mixed + informative[len(uninformative):] + uninformative[len(informative):]
    return out


def shape_descriptors(classnames: list[str]) -> dict[str, list[str]]:
    """DCLIP-format descriptors of the toy world's classes: their shapes' geometry phrases (what the
    toy world answers for the ``dclip`` description source)."""
    out = {}
    for c in classnames:
        key = "star" if c == "five-pointed star" else c
        if key not in SHAPES:
            raise DescriptionsError(f"toy class {c!r} has no shape descriptors")
        out[c] = list(SHAPES[key][1])
    return out


def vocabulary() -> list[str]:
    """Every word the toy world writes, in a fixed order (the tokenizer's word list)."""
    texts = list(TRAIN_TEMPLATES) + list(EVAL_TEMPLATES) + list(_UNINFORMATIVE) + list(_INFORMATIVE)
    texts += list(BACKGROUND_PHRASES.values()) + POSITION_WORDS + SIZE_WORDS + _PREFIXES
    texts += COLOUR_NAMES + list(TEXTURE_WORDS.values()) + TEXTURES + BACKGROUNDS
    texts += ["a {} shape with {}.", "a {} with {}.", "an", "which", "is", "has", "five-pointed star"]
    texts += list(SHAPES) + MAIN_CLASSES + FINE_CLASSES
    texts += [d for _, ds in SHAPES.values() for d in ds]
    words = []
    for text in texts:
        for w in text.replace("{}", " ").replace(".", " ").replace(",", " ").replace("-", " ").lower().split():
            if w not in words:
                words.append(w)
    return words
