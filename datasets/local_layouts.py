"""Readers for the local folder layouts (CoOp/Dassl's, plus the official CUB and Places365 files).

A layout reads one dataset folder. ``read`` does only cheap work (index files, class-folder names)
and returns the class names and one lazy loader per split; a loader lists the split's image paths
and labels. Whatever is absent raises :class:`MissingDataError` listing it (paths relative to the
dataset folder); the catalog turns that into the user-facing fix text. Malformed index files raise
``ValueError`` naming the file.
"""
from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Callable

from . import imagenet, naming
from .base import DatasetNotFoundError

Items = tuple[list[Path], list[int]]  # image paths and their labels, in split order


class MissingDataError(DatasetNotFoundError):
    """Local data is absent or incomplete. ``missing``: what, as paths relative to the folder read."""

    def __init__(self, missing: list[str], detail: str = "", message: str | None = None):
        self.missing = list(missing)
        self.detail = detail
        super().__init__(message or f"missing{' ' + detail if detail else ''}: {', '.join(self.missing)}")


@dataclass
class LocalData:
    """What a layout found: class names, one lazy item loader per split, and the file (or folder)
    the labels come from, relative to the dataset folder."""

    classnames: list[str]
    splits: dict[str, Callable[[], Items]]
    index: str
    imagenet_indices: list[int] | None = None


class Layout(ABC):
    required: tuple[str, ...] = ()  # paths, relative to the dataset folder, that must exist

    def missing(self, folder: Path) -> list[str]:
        return [r for r in self.required if not (folder / r).exists()]

    @abstractmethod
    def read(self, folder: Path) -> LocalData:
        """Class names and lazy split loaders; call only once ``missing`` is empty."""


def _files(directory: Path) -> list[str]:
    """Non-hidden file names, sorted (CoOp lists with ``listdir_nohidden``)."""
    return sorted(e.name for e in directory.iterdir() if e.is_file() and not e.name.startswith("."))


def _subfolders(directory: Path) -> set[str]:
    return {e.name for e in directory.iterdir() if e.is_dir() and not e.name.startswith(".")}


def _lines(path: Path) -> list[list[str]]:
    """The non-empty lines of a whitespace-separated index file, as lists of fields."""
    return [line.split() for line in path.read_text().splitlines() if line.strip()]


def _require_folders(root: Path, folders: list[str], prefix: str, detail: str) -> None:
    absent = [f for f in folders if not (root / f).is_dir()]
    if absent:
        raise MissingDataError([str(Path(prefix) / f) for f in absent], detail)


# --- Zhou split files ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ZhouSplit(Layout):
    """``split_zhou_<Name>.json``: ``{"train"|"val"|"test": [[relpath, label, classname], ...]}``,
    relpaths under ``images`` (``""``: the dataset folder). Class names are CoOp's, from the file."""

    images: str
    split_file: str

    @property
    def required(self) -> tuple[str, ...]:
        return (self.split_file, self.images) if self.images else (self.split_file,)

    def read(self, folder: Path) -> LocalData:
        path = folder / self.split_file
        try:
            split = json.loads(path.read_text())
        except json.JSONDecodeError as err:
            raise ValueError(f"{path} is not valid JSON ({err}); download the split file again") from None
        records: dict[str, list[tuple[str, int]]] = {}
        names: dict[int, str] = {}
        for name in ("train", "val", "test"):
            if not isinstance(split, dict) or not isinstance(split.get(name), list):
                raise ValueError(f"{path} has no {name!r} list; a Zhou split file maps train/val/test to [relpath, label, classname] lists")
            records[name] = []
            for i, item in enumerate(split[name]):
                if not (isinstance(item, list) and len(item) == 3):
                    raise ValueError(f"{path}: {name}[{i}] is {item!r}, expected [relpath, label, classname]")
                relpath, label, cname = item[0], int(item[1]), item[2]
                if names.setdefault(label, cname) != cname:
                    raise ValueError(f"{path}: label {label} is named both {names[label]!r} and {cname!r}")
                records[name].append((relpath, label))
        if sorted(names) != list(range(len(names))):
            raise ValueError(f"{path}: labels must be 0..{len(names) - 1} without gaps, found {sorted(names)[:5]}...")
        image_root = folder / self.images
        class_folders = sorted({str(Path(r).parent) for items in records.values() for r, _ in items} - {"."})
        _require_folders(image_root, class_folders, self.images, f"(class folders listed in {self.split_file})")
        return LocalData(
            classnames=[naming.spaced(names[i]) for i in range(len(names))],
            splits={name: partial(_zhou_items, image_root, items) for name, items in records.items()},
            index=self.split_file,
        )


def _zhou_items(image_root: Path, records: list[tuple[str, int]]) -> Items:
    return [image_root / r for r, _ in records], [label for _, label in records]


# --- ImageNet-family class folders ---------------------------------------------------------------


@dataclass(frozen=True)
class ImageNetFolders(Layout):
    """One folder per class, named by WordNet id (``folder_names="wnid"``) or by ImageNet class index
    (ImageNet-V2's ``0``..``999``). ``splits``: split name -> folder; the first is required, the
    others (ImageNet's train, for few-shot training only) are checked when loaded. Labels follow
    ``space``: ImageNet's class index, or the position in a 200-class subset's sorted wnids."""

    splits: tuple[tuple[str, str], ...]
    space: str = "imagenet-1k"
    folder_names: str = "wnid"

    @property
    def required(self) -> tuple[str, ...]:
        return (self.splits[0][1],)

    def read(self, folder: Path) -> LocalData:
        wnids, names, indices = imagenet.label_space(self.space)
        keys = wnids if self.folder_names == "wnid" else [str(i) for i in range(len(wnids))]
        _check_class_folders(folder, self.splits[0][1], keys, self.space)
        return LocalData(
            classnames=names,
            splits={split: partial(_class_folder_items, folder, sub, keys, self.space) for split, sub in self.splits},
            index=self.splits[0][1],
            imagenet_indices=indices,
        )


def _check_class_folders(folder: Path, sub: str, keys: list[str], space: str) -> None:
    if not (folder / sub).is_dir():
        raise MissingDataError([sub])
    present = _subfolders(folder / sub)
    _require_folders(folder / sub, [k for k in keys if k not in present], sub, f"(class folders of {space})")
    unexpected = sorted(present - set(keys))
    if unexpected:
        raise ValueError(f"{folder / sub} has folders that are not {space} classes: {', '.join(unexpected[:5])}; remove them")


def _class_folder_items(folder: Path, sub: str, keys: list[str], space: str) -> Items:
    _check_class_folders(folder, sub, keys, space)
    paths, labels = [], []
    for label, key in enumerate(keys):
        class_dir = folder / sub / key
        names = _files(class_dir)
        paths += [class_dir / n for n in names]
        labels += [label] * len(names)
    return paths, labels


# --- Official index files ------------------------------------------------------------------------


@dataclass(frozen=True)
class AircraftLists(Layout):
    """FGVC-Aircraft's ``data/`` folder: ``variants.txt`` (class order) and
    ``images_variant_{train,val,test}.txt`` ("<image id> <variant>" lines), images in ``images/``."""

    required = ("images", "variants.txt", "images_variant_train.txt", "images_variant_val.txt", "images_variant_test.txt")

    def read(self, folder: Path) -> LocalData:
        classnames = [line.strip() for line in (folder / "variants.txt").read_text().splitlines() if line.strip()]
        label_of = {c: i for i, c in enumerate(classnames)}
        return LocalData(
            classnames=classnames,
            splits={s: partial(_aircraft_items, folder, f"images_variant_{s}.txt", label_of) for s in ("train", "val", "test")},
            index="images_variant_{train,val,test}.txt",
        )


def _aircraft_items(folder: Path, list_file: str, label_of: dict[str, int]) -> Items:
    paths, labels = [], []
    for n, line in enumerate((folder / list_file).read_text().splitlines(), 1):
        if not line.strip():
            continue
        image_id, _, variant = line.strip().partition(" ")
        if variant not in label_of:
            raise ValueError(f"{folder / list_file}:{n}: variant {variant!r} is not in variants.txt")
        paths.append(folder / "images" / f"{image_id}.jpg")
        labels.append(label_of[variant])
    return paths, labels


@dataclass(frozen=True)
class CubLists(Layout):
    """CUB-200-2011 as its tarball extracts: ``classes.txt`` ("<id> <NNN.Name>"), ``images.txt``
    ("<image id> <class folder>/<file>"), ``train_test_split.txt`` ("<image id> <1 train|0 test>"),
    images in ``images/``. No validation split (few-shot val is then empty)."""

    required = ("images", "classes.txt", "images.txt", "train_test_split.txt")

    def read(self, folder: Path) -> LocalData:
        class_folders = [fields[1] for fields in _lines(folder / "classes.txt")]
        _require_folders(folder / "images", class_folders, "images", "(class folders listed in classes.txt)")
        label_of = {c: i for i, c in enumerate(class_folders)}
        return LocalData(
            classnames=[naming.cub(c) for c in class_folders],
            splits={s: partial(_cub_items, folder, label_of, s == "train") for s in ("train", "test")},
            index="train_test_split.txt",
        )


def _cub_items(folder: Path, label_of: dict[str, int], train: bool) -> Items:
    is_train = {fields[0]: fields[1] == "1" for fields in _lines(folder / "train_test_split.txt")}
    paths, labels = [], []
    for image_id, relpath in _lines(folder / "images.txt"):
        if image_id not in is_train:
            raise ValueError(f"{folder / 'train_test_split.txt'} has no line for image {image_id} of images.txt")
        if is_train[image_id] != train:
            continue
        class_folder = relpath.split("/", 1)[0]
        if class_folder not in label_of:
            raise ValueError(f"{folder / 'images.txt'}: {relpath} is in a class folder not listed in classes.txt")
        paths.append(folder / "images" / relpath)
        labels.append(label_of[class_folder])
    return paths, labels


@dataclass(frozen=True)
class PlacesLists(Layout):
    """Places365-Standard validation: ``val_256/`` images, ``places365_val.txt`` ("<file> <label>")
    and ``categories_places365.txt`` ("/a/airfield 0") from ``filelist_places365-standard.tar``."""

    required = ("val_256", "places365_val.txt", "categories_places365.txt")

    def read(self, folder: Path) -> LocalData:
        categories = {int(label): path for path, label in _lines(folder / "categories_places365.txt")}
        if sorted(categories) != list(range(len(categories))):
            raise ValueError(f"{folder / 'categories_places365.txt'}: labels must be 0..{len(categories) - 1} without gaps")
        return LocalData(
            classnames=[naming.scene(categories[i]) for i in range(len(categories))],
            splits={"test": partial(_places_items, folder, len(categories))},
            index="places365_val.txt",
        )


def _places_items(folder: Path, n_classes: int) -> Items:
    paths, labels = [], []
    for name, label in _lines(folder / "places365_val.txt"):
        if not 0 <= int(label) < n_classes:
            raise ValueError(f"{folder / 'places365_val.txt'}: {name} has label {label}, outside 0..{n_classes - 1}")
        paths.append(folder / "val_256" / name)
        labels.append(int(label))
    return paths, labels
