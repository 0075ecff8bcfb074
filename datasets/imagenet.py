"""ImageNet's label space: the 1000 WordNet ids in class-index order, CLIP's cleaned class names, and
the 200-class subsets that ImageNet-A and ImageNet-R use.

Class names: CoOp reads ``imagenet/classnames.txt`` ("wnid name" lines, copied from CLIP's
prompt-engineering notebook) and labels classes by sorted wnid folder. open_clip's
``IMAGENET_CLASSNAMES`` is the same cleaned list in the same (sorted-wnid) order, so we take the
names from open_clip and the wnids from timm (both pinned dependencies): ``classnames.txt`` is then
not needed, and every ImageNet-family dataset, local or Hub, uses identical prompts.

Both packages are heavy to import; the lists are loaded on first use only.
"""
from __future__ import annotations

import importlib.util
from functools import cache
from pathlib import Path

# label space -> timm's synset list for it (sorted wnids; for the subsets, the order of their labels)
LABEL_SPACES = {
    "imagenet-1k": "imagenet_synsets.txt",
    "imagenet-a": "imagenet_a_synsets.txt",
    "imagenet-r": "imagenet_r_synsets.txt",
}


@cache
def wnids(space: str = "imagenet-1k") -> tuple[str, ...]:
    """The WordNet ids of ``space`` in label order (read from timm's package data without importing
    timm, which takes seconds)."""
    if space not in LABEL_SPACES:
        raise KeyError(f"unknown ImageNet label space {space!r}; known: {', '.join(LABEL_SPACES)}")
    spec = importlib.util.find_spec("timm")
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError("timm is not installed; it provides ImageNet's WordNet ids (pip install timm==1.0.29)")
    path = Path(spec.origin).parent / "data" / "_info" / LABEL_SPACES[space]
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: the installed timm lacks its ImageNet synset lists; reinstall timm==1.0.29")
    return tuple(line.strip() for line in path.read_text().splitlines() if line.strip())


@cache
def classnames() -> tuple[str, ...]:
    """CLIP's cleaned names of the 1000 ImageNet classes, in class-index order."""
    from open_clip.zero_shot_metadata import IMAGENET_CLASSNAMES

    return tuple(IMAGENET_CLASSNAMES)


def indices(wnid_list: list[str] | tuple[str, ...]) -> list[int]:
    """The ImageNet-1k class index of each wnid."""
    position = {w: i for i, w in enumerate(wnids())}
    unknown = [w for w in wnid_list if w not in position]
    if unknown:
        raise KeyError(f"not ImageNet-1k WordNet ids: {', '.join(unknown[:5])}")
    return [position[w] for w in wnid_list]


def label_space(space: str) -> tuple[list[str], list[str], list[int] | None]:
    """``(wnids, class names, imagenet_indices)`` of a label space; ``imagenet_indices`` is ``None``
    for the full 1000 classes (nothing to restrict)."""
    ids = list(wnids(space))
    if space == "imagenet-1k":
        return ids, list(classnames()), None
    idx = indices(ids)
    return ids, [classnames()[i] for i in idx], idx
