"""Description baselines on cached global image features: a text classifier whose class weight is
the renormalised mean of the class's encoded sentences (as the ABS reference evaluates them), logits
``logit_scale * cos``.

- ``clip-d`` (DCLIP, Menon & Vondrick): "{c}, which is/has {descriptor}" for each DCLIP descriptor.
- ``cupl`` (CuPL, Pratt et al.): every CuPL sentence of the class.
- ``waffle`` (WaffleCLIP, Roth et al.): "A photo of a {c}, which is/has {noise}." with 15 random-word
  and 15 random-character descriptors, seeded, the same for every class (WaffleCLIP's ``waffle``
  mode). Words come from our own list below (WaffleCLIP's ``word_list.pkl`` is not used), truncated
  to the class names' average word length; characters are those of the dataset's DCLIP descriptors,
  as in WaffleCLIP (or a-z with ``descriptions=none``).
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from zsbench.harness.core.config import param
from zsbench.harness.core.registry import register_method

from zsbench.datasets import descriptions as desc
from zsbench.methods.base import Method, MethodInputs, Need
from zsbench.methods.descriptions import descriptor_sentence
from zsbench.methods.heads import linear_head

# Our word source for WaffleCLIP's random-word descriptors: common English words, written for zsbench.
WORDS = tuple("""
able acid actor adult advice aerial afternoon agency airport album alley almond amber anchor angle animal
ankle answer apple april arch arena armor arrow artist ash autumn avenue bakery balcony ballet bamboo banana
band banner barrel basket battery beach beacon beard bell belt bench berry bicycle blanket blossom board bonnet
border bottle boulder bracket branch breeze brick bridge bronze brush bubble bucket buffalo bundle butter button
cabin cable cactus camera canal candle canvas canyon carpet castle cattle cellar cement chain chalk channel
chapel cherry chimney circle citizen clay cliff clock cloud coast cobalt coffee collar colony comet copper
coral corner cotton county cradle crater cream creek crystal curtain cushion dagger dancer dawn desert diesel
dinner doctor dolphin domain donkey dragon drawer driver dune eagle echo elbow ember engine envelope fabric
falcon farmer feather fence ferry fiber field finger flame flannel fleet flower fog forest fountain frame
garden garlic garnet gate glacier glass glove golden granite grape gravel harbor harvest hazel helmet herald
hollow honey horizon hunter island ivory jacket jasmine jelly jungle kettle kitchen ladder lagoon lantern
laser lemon lever library lily linen lizard lobster lumber magnet mango maple marble market meadow melody
mirror monkey mortar mosaic motor mountain muffin mural needle nickel noodle oasis ocean olive orbit orchard
otter paddle palace panther paper parrot pebble pepper piano pillar pilot planet plaster pocket pollen pony
porch potato prairie prism puzzle quarry quartz rabbit radar rafter ribbon river rocket saddle salmon sandal
satin saucer scarf school shadow shelter shovel signal silver sketch sleeve socket spider spiral sponge stable
statue stone street studio summit sunset sweater tablet teapot temple thimble thunder timber tomato tower
trail tunnel turtle umbrella valley velvet violet voyage wagon walnut walrus wander window winter wizard
wool yarn yellow zebra zipper
""".split())


class DescriptionClassifier(Method):
    """Base: class weights from per-class sentences built in :meth:`class_prompts`."""

    needs = frozenset({Need.IMAGE_FEATURES, Need.DESCRIPTIONS})

    @dataclass
    class Config:
        descriptions: str = "cupl"
        logit_scale: float = param(100.0, gt=0)

    def load_descriptions(self, dataset) -> desc.Descriptions:
        return desc.load(self.config.descriptions, dataset)

    def class_prompts(self, inputs: MethodInputs) -> list[list[str]]:
        raise NotImplementedError

    def fit(self, inputs: MethodInputs) -> None:
        prompts = self.class_prompts(inputs)
        feats = inputs.text.encode([p for group in prompts for p in group])
        per_class = torch.split(feats, [len(group) for group in prompts])
        self.weights = F.normalize(torch.stack([f.mean(0) for f in per_class]), dim=-1)

    def logits_from_features(self, features: torch.Tensor) -> torch.Tensor:
        return linear_head(features, self.weights, self.config.logit_scale)


@register_method("cupl")
class CuPL(DescriptionClassifier):
    name = "cupl"

    def class_prompts(self, inputs: MethodInputs) -> list[list[str]]:
        return desc.per_class_lists(inputs.descriptions, inputs.classnames)


@register_method("clip-d")
class DCLIP(DescriptionClassifier):
    name = "clip-d"

    @dataclass
    class Config:
        descriptions: str = "dclip"
        prompt: str = "{classname}, {descriptor}"  # the ABS reference's; DCLIP's own is "A photo of a {classname}, {descriptor}."
        logit_scale: float = param(100.0, gt=0)

    def class_prompts(self, inputs: MethodInputs) -> list[list[str]]:
        lists = desc.per_class_lists(inputs.descriptions, inputs.classnames)
        return [[self.config.prompt.format(classname=c, descriptor=descriptor_sentence(d)) for d in ds]
                for c, ds in zip(inputs.classnames, lists)]


def waffle_descriptors(classnames: list[str], descriptors: list[str], count: int, rng: random.Random,
                       words: tuple[str, ...] = WORDS) -> list[str]:
    """WaffleCLIP's random descriptors: ``count`` random-word ones (as many words as the class names
    have on average, each cut to their average word length) interleaved with ``count`` random-
    character ones (groups of random characters shaped like a class name, joined by ", ")."""
    names = [c.replace("_", " ") for c in classnames]
    n_words = max(round(sum(len(n.split(" ")) for n in names) / len(names)), 1)
    word_len = round(sum(sum(len(w) for w in n.split(" ")) / len(n.split(" ")) for n in names) / len(names))
    pool = [w[:word_len] for w in words]
    chars = sorted({ch for d in descriptors for w in d.split(" ") for ch in w.replace(",", "").replace(".", "")})
    chars = chars or list("abcdefghijklmnopqrstuvwxyz")
    n_groups = round(sum(c.count(" ") for c in classnames) / len(classnames)) + 1
    n_chars = math.ceil(sum(max(len(w) for w in c.split(" ")) for c in classnames) / len(classnames))
    n_chars += n_groups - n_chars % n_groups  # WaffleCLIP's rounding up (adds a full group when divisible)
    per_group = n_chars // n_groups
    out = []
    for _ in range(count):
        out.append(" ".join(rng.choice(pool) for _ in range(n_words)))
        out.append(", ".join("".join(rng.choice(chars) for _ in range(per_group)) for _ in range(n_groups)))
    return out


@register_method("waffle")
class WaffleCLIP(DescriptionClassifier):
    name = "waffle"
    uses_seed = True

    @dataclass
    class Config:
        descriptions: str = "dclip"  # only their characters are used; "none": a-z
        count: int = param(15, ge=1)  # random-word and random-character descriptors each, per class
        shared: bool = True  # the same random descriptors for every class (WaffleCLIP's "waffle" mode)
        prompt: str = "A photo of a {classname}, {descriptor}."
        logit_scale: float = param(100.0, gt=0)

    def load_descriptions(self, dataset) -> dict:
        if self.config.descriptions in ("none", ""):
            return {}
        return desc.load(self.config.descriptions, dataset)

    def class_prompts(self, inputs: MethodInputs) -> list[list[str]]:
        source = inputs.descriptions or {}
        lists = desc.per_class_lists(source, inputs.classnames) if source else []
        descriptors = [d for ds in lists for d in ds]
        rng = random.Random(f"waffle/{inputs.seed}")
        classnames = list(inputs.classnames)
        shared = waffle_descriptors(classnames, descriptors, self.config.count, rng) if self.config.shared else None
        prompts = []
        for c in classnames:
            noise = shared if shared is not None else waffle_descriptors(classnames, descriptors, self.config.count, rng)
            prompts.append([self.config.prompt.format(classname=c.replace("_", " "), descriptor=descriptor_sentence(n))
                            for n in noise])
        return prompts
