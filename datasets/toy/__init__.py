"""The offline toy world (suite ``toy``, declared in ``zsbench.datasets.suites``): generated shape
images in domains that mirror the ImageNet variants, class descriptions, and toy-clip, a small CLIP
trained on it."""
from __future__ import annotations

import functools
from pathlib import Path

from zsbench.datasets.base import Dataset, DescriptionLoader, TensorSplit
from zsbench.datasets.description_files import NAMED_SOURCES
from zsbench.harness.core.registry import register_dataset

from .domains import DOMAINS, GENERATOR_VERSION, PER_CLASS, Domain
from .text import EVAL_TEMPLATE, EVAL_TEMPLATES, descriptions, shape_descriptors

TOY_MODEL = "toy-clip"


@functools.lru_cache(maxsize=None)
def _split(domain: Domain, split: str) -> TensorSplit:
    images, labels, boxes = domain.generate(split)
    out = TensorSplit(images, labels.tolist(), domain.fingerprint(split), name=split, id_prefix=f"{domain.name}/{split}")
    out.boxes = boxes  # object boxes in [-1, 1] coordinates, for attention checks
    return out


def _description_sources(classnames: list[str]) -> dict[str, DescriptionLoader]:
    """The toy world answers the named description sources itself: ``dclip`` with its shapes'
    geometry descriptors, the others with its generated CuPL-style sentences."""
    generated = DescriptionLoader(functools.partial(descriptions, classnames), "the toy world's generated descriptions")
    sources = dict.fromkeys(NAMED_SOURCES, generated)
    sources["dclip"] = DescriptionLoader(functools.partial(shape_descriptors, classnames), "the toy world's shape descriptors")
    return sources


def _dataset(domain: Domain, data_root: Path | None = None) -> Dataset:
    classnames = list(domain.classes)
    mirrors_imagenet = domain.classes == DOMAINS[0].classes  # toy and its shifted copies toy-v2/-sketch/-r/-a
    return Dataset(
        name=domain.name,
        classnames=classnames,
        templates=[EVAL_TEMPLATE],
        ensemble_templates=list(EVAL_TEMPLATES),
        splits={s: functools.partial(_split, domain, s) for s in PER_CLASS},
        source=f"generated:{GENERATOR_VERSION}",
        fewshot_from="toy" if mirrors_imagenet and domain.name != "toy" else None,
        descriptions=functools.partial(descriptions, classnames),
        description_sources=_description_sources(classnames),
        default_model=TOY_MODEL,
        family="imagenet" if mirrors_imagenet else None,
        test_size=PER_CLASS["test"] * len(classnames),
    )


for _domain in DOMAINS:
    register_dataset(_domain.name)(functools.partial(_dataset, _domain))
