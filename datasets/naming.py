"""CoOp's class-name conventions, so that prompts read the same whatever the data's source.

The Zhou split files already hold CoOp's names (with ``_`` for spaces, which CoOp's zero-shot
prompt replaces); Hub mirrors and official index files hold the raw dataset names, which these
rules turn into CoOp's: Caltech101 drops two classes and renames four, EuroSAT uses descriptive
names, UCF101 splits CamelCase, SUN397 puts qualifiers like "outdoor" first, Stanford Cars puts the
year first. A rule returns ``None`` for a class that CoOp leaves out.
"""
from __future__ import annotations

import re
from typing import Callable

NameRule = Callable[[str], "str | None"]

CALTECH_IGNORED = frozenset({"BACKGROUND_Google", "Faces_easy"})
CALTECH_RENAMED = {"airplanes": "airplane", "Faces": "face", "Leopards": "leopard", "Motorbikes": "motorbike"}
EUROSAT_RENAMED = {
    "AnnualCrop": "Annual Crop Land",
    "Forest": "Forest",
    "HerbaceousVegetation": "Herbaceous Vegetation Land",
    "Highway": "Highway or Road",
    "Industrial": "Industrial Buildings",
    "Pasture": "Pasture Land",
    "PermanentCrop": "Permanent Crop Land",
    "Residential": "Residential Buildings",
    "River": "River",
    "SeaLake": "Sea or Lake",
}


def spaced(name: str) -> str:
    """CoOp's prompt-time cleanup: underscores become spaces."""
    return " ".join(name.replace("_", " ").split())


def caltech(name: str) -> str | None:
    if name in CALTECH_IGNORED:
        return None
    return spaced(CALTECH_RENAMED.get(name, name))


def eurosat(name: str) -> str:
    return EUROSAT_RENAMED.get(name, spaced(name))


def ucf(name: str) -> str:
    """``ApplyEyeMakeup`` -> ``Apply Eye Makeup``; names already split are only cleaned."""
    if "_" in name or " " in name:
        return spaced(name)
    return " ".join(re.findall(r"[A-Z][^A-Z]*", name)) or name


def scene(name: str) -> str:
    """SUN/Places category paths: ``/c/church/outdoor`` -> ``outdoor church`` (initial-letter folder
    dropped, remaining parts reversed, as CoOp's SUN397 reader does)."""
    parts = [p for p in name.strip("/").split("/") if p]
    if len(parts) > 1 and len(parts[0]) == 1:
        parts = parts[1:]
    return spaced(" ".join(reversed(parts)))


def car(name: str) -> str:
    """``AM General Hummer SUV 2000`` -> ``2000 AM General Hummer SUV``."""
    words = name.split()
    if len(words) > 1 and re.fullmatch(r"(19|20)\d\d", words[-1]):
        words = [words[-1], *words[:-1]]
    return spaced(" ".join(words))


def cub(name: str) -> str:
    """``001.Black_footed_Albatross`` -> ``Black footed Albatross``."""
    return spaced(re.sub(r"^\d+\.", "", name))
