"""The method side of class descriptions: DCLIP's sentence rule (shared by clip-d and waffle).
Where descriptions come from and how class names find them is dataset-side,
:mod:`zsbench.datasets.descriptions`."""
from __future__ import annotations


def descriptor_sentence(descriptor: str) -> str:
    """DCLIP's ``make_descriptor_sentence``: "which is ..." for descriptors starting with "a" (any
    word starting with the letter a, as in DCLIP) or "used", "which ..." for "has/often/typically/
    may/can ...", else "which has ..."."""
    if descriptor.startswith("a") or descriptor.startswith("used"):
        return f"which is {descriptor}"
    if descriptor.startswith(("has", "often", "typically", "may", "can")):
        return f"which {descriptor}"
    return f"which has {descriptor}"
