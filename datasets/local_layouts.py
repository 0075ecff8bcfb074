"""Readers for the local folder layouts (CoOp/Dassl's, plus the official CUB and Places365 files).

A layout reads one dataset folder. ``read`` does only cheap work (index files, class-folder names)
and returns the class names and one lazy loader per split; a loader lists the split's image paths
and labels. Index files are parsed and checked whole in ``read``, so that a malformed one fails
when the dataset is built, before any model work. Whatever is absent raises
:class:`MissingDataError` listing it (paths relative to the dataset folder); the catalog turns that
into the user-facing fix text. A malformed index file raises :class:`DatasetFormatError` naming the
file, the item or line, and how to get a good copy. No split a layout returns is empty.
"""
from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import dataclass
from functools import partial
from pathlib import Path, PurePosixPath
from typing import Callable

from . import imagenet, naming
from .errors import DatasetFormatError, DatasetNotFoundError

Items = tuple[list[Path], list[int]]  # image paths and their labels, in split order

COOP_DATASETS_MD = "https://github.com/KaiyangZhou/CoOp/blob/main/DATASETS.md"


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


def _text(path: Path, fix: str) -> str:
    """An index file's text. Index files are UTF-8 (a leading byte-order mark is allowed); anything
    else is a damaged or wrong file, reported as one rather than as a decoding traceback."""
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as err:
        raise DatasetFormatError(f"{path} is not UTF-8 text (byte {err.start} cannot be decoded); {fix}") from None
    except OSError as err:
        raise DatasetFormatError(f"cannot read {path} ({err.strerror or err}); {fix}") from None


def _records(path: Path, n_fields: int, form: str, fix: str) -> list[tuple[int, list[str]]]:
    """The non-empty lines of a whitespace-separated index file as ``(line number, fields)``; a
    line without exactly ``n_fields`` fields is refused with its number."""
    out = []
    for n, line in enumerate(_text(path, fix).splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != n_fields:
            raise DatasetFormatError(f"{path}:{n}: expected a line '{form}', got {line.strip()!r}; {fix}")
        out.append((n, fields))
    return out


def _label(path: Path, n: int, text: str, fix: str) -> int:
    """A non-negative decimal label (``int`` alone would also take ``+3``, ``3_0`` or non-ASCII digits)."""
    if not (text.isascii() and text.isdigit()):
        raise DatasetFormatError(f"{path}:{n}: label {text!r} is not a non-negative integer; {fix}")
    return int(text)


def _require_folders(root: Path, folders: list[str], prefix: str, detail: str) -> None:
    absent = [f for f in folders if not (root / f).is_dir()]
    if absent:
        raise MissingDataError([str(Path(prefix) / f) for f in absent], detail)


def _nonempty(items: Items, what: str, fix: str) -> Items:
    if not items[0]:
        raise DatasetFormatError(f"{what}; {fix}")
    return items


def _stored(items: Items) -> Items:
    """A split loader's result for items parsed in ``read`` (copies, so that callers may mutate them)."""
    return list(items[0]), list(items[1])


def _json(value) -> str:
    """A JSON value as the file spells it (``true``, ``"3"``), cut short for a one-line message."""
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 80 else text[:77] + "..."


# --- Zhou split files ----------------------------------------------------------------------------

ZHOU_SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class ZhouSplit(Layout):
    """``split_zhou_<Name>.json``: ``{"train"|"val"|"test": [[relpath, label, classname], ...]}``,
    relpaths under ``images`` (``""``: the dataset folder). Class names are CoOp's, from the file.
    ``link``: where the split file is downloaded from, quoted when the file is malformed."""

    images: str
    split_file: str
    link: str = COOP_DATASETS_MD

    @property
    def required(self) -> tuple[str, ...]:
        return (self.split_file, self.images) if self.images else (self.split_file,)

    def read(self, folder: Path) -> LocalData:
        path = folder / self.split_file
        records, names = self._parse(path)
        image_root = folder / self.images
        class_folders = sorted({str(Path(r).parent) for items in records.values() for r, _ in items} - {"."})
        _require_folders(image_root, class_folders, self.images, f"(class folders listed in {self.split_file})")
        return LocalData(
            classnames=[naming.spaced(names[i]) for i in range(len(names))],
            splits={name: partial(_zhou_items, image_root, items) for name, items in records.items()},
            index=self.split_file,
        )

    def _parse(self, path: Path) -> tuple[dict[str, list[tuple[str, int]]], dict[int, str]]:
        """Every item checked, so that a damaged file fails here naming the item, not later as a
        traceback (or, worse, as wrong labels)."""
        fix = f"download {self.split_file} again from {self.link}"
        text = _text(path, fix)
        try:
            split = json.loads(text)
        except json.JSONDecodeError as err:
            cut = " (the file ends early: probably a cut-off download)" if err.pos >= len(text.rstrip()) else ""
            raise DatasetFormatError(
                f"{path} is not valid JSON: {err.msg} at line {err.lineno} column {err.colno}{cut}; {fix}"
            ) from None
        form = "a JSON object mapping train, val and test to lists of [relpath, label, classname]"
        if not isinstance(split, dict):
            raise DatasetFormatError(f"{path} holds a JSON {_kind(split)}, not {form}; {fix}")
        records: dict[str, list[tuple[str, int]]] = {}
        names: dict[int, str] = {}
        for name in ZHOU_SPLITS:
            if name not in split:
                raise DatasetFormatError(f"{path} has no {name!r} list; a Zhou split file is {form}; {fix}")
            if not isinstance(split[name], list):
                raise DatasetFormatError(f"{path}: {name!r} is a JSON {_kind(split[name])}, not a list of [relpath, label, classname]; {fix}")
        for name in ZHOU_SPLITS:
            if not split[name]:
                raise DatasetFormatError(f"{path}: {name!r} is empty; a Zhou split file lists the images of train, val and test; {fix}")
            records[name] = [self._item(path, f"{name}[{i}]", item, names, fix) for i, item in enumerate(split[name])]
        missing = sorted(set(range(max(names) + 1)) - set(names))
        if missing:
            shown = ", ".join(map(str, missing[:5])) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
            raise DatasetFormatError(
                f"{path}: labels must be 0..{len(names) - 1} without gaps (one per class), but it uses labels up to "
                f"{max(names)} and never {shown}; {fix}"
            )
        return records, names

    def _item(self, path: Path, where: str, item, names: dict[int, str], fix: str) -> tuple[str, int]:
        if not isinstance(item, list) or len(item) != 3:
            raise DatasetFormatError(f"{path}: {where} is {_json(item)}, expected [relpath, label, classname]; {fix}")
        relpath, label, cname = item
        if not isinstance(relpath, str) or not relpath.strip() or PurePosixPath(relpath).is_absolute() or ".." in PurePosixPath(relpath).parts:
            under = f"the {self.images}/ folder" if self.images else "the dataset folder"
            raise DatasetFormatError(f"{path}: {where} has relpath {_json(relpath)}, expected a path relative to {under}; {fix}")
        if type(label) is not int or label < 0:  # bool is an int subclass: refused too
            raise DatasetFormatError(f"{path}: {where} has label {_json(label)}, expected an integer 0 or more; {fix}")
        if not isinstance(cname, str) or not cname.strip():
            raise DatasetFormatError(f"{path}: {where} has classname {_json(cname)}, expected the class name as a string; {fix}")
        if names.setdefault(label, cname) != cname:
            raise DatasetFormatError(f"{path}: {where}: label {label} is named both {names[label]!r} and {cname!r}; {fix}")
        return relpath, label


def _kind(value) -> str:
    """The JSON type name of a parsed value, for messages."""
    for kind, types in (("null", type(None)), ("boolean", bool), ("number", (int, float)), ("string", str),
                        ("array", list), ("object", dict)):
        if isinstance(value, types):
            return kind
    return type(value).__name__


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
        raise DatasetFormatError(
            f"{folder / sub} has folders that are not {space} classes: {', '.join(unexpected[:5])}"
            f"{f' and {len(unexpected) - 5} more' if len(unexpected) > 5 else ''}; move them out of it"
        )


def _class_folder_items(folder: Path, sub: str, keys: list[str], space: str) -> Items:
    _check_class_folders(folder, sub, keys, space)
    paths, labels = [], []
    for label, key in enumerate(keys):
        class_dir = folder / sub / key
        names = _files(class_dir)
        paths += [class_dir / n for n in names]
        labels += [label] * len(names)
    if not paths:
        raise MissingDataError([sub], "(images: its class folders are all empty)")
    return paths, labels


# --- Official index files ------------------------------------------------------------------------


@dataclass(frozen=True)
class AircraftLists(Layout):
    """FGVC-Aircraft's ``data/`` folder: ``variants.txt`` (class order) and
    ``images_variant_{train,val,test}.txt`` ("<image id> <variant>" lines), images in ``images/``."""

    required = ("images", "variants.txt", "images_variant_train.txt", "images_variant_val.txt", "images_variant_test.txt")

    def read(self, folder: Path) -> LocalData:
        fix = "extract the data/ folder of fgvc-aircraft-2013b.tar.gz again"
        path = folder / "variants.txt"
        classnames = []
        for n, line in enumerate(_text(path, fix).splitlines(), 1):
            if line.strip() in classnames:
                raise DatasetFormatError(f"{path}:{n}: variant {line.strip()!r} is listed twice; {fix}")
            if line.strip():
                classnames.append(line.strip())
        if not classnames:
            raise DatasetFormatError(f"{path} lists no variants; {fix}")
        label_of = {c: i for i, c in enumerate(classnames)}
        items = {s: _aircraft_items(folder, f"images_variant_{s}.txt", label_of, fix) for s in ("train", "val", "test")}
        return LocalData(
            classnames=classnames,
            splits={s: partial(_stored, items[s]) for s in items},
            index="images_variant_{train,val,test}.txt",
        )


def _aircraft_items(folder: Path, list_file: str, label_of: dict[str, int], fix: str) -> Items:
    """Variant names hold spaces ("Cessna 172"), so a line is split at its first space only."""
    path = folder / list_file
    paths, labels = [], []
    for n, line in enumerate(_text(path, fix).splitlines(), 1):
        if not line.strip():
            continue
        image_id, _, variant = line.strip().partition(" ")
        variant = variant.strip()
        if not variant:
            raise DatasetFormatError(f"{path}:{n}: expected a line '<image id> <variant>', got {line.strip()!r}; {fix}")
        if variant not in label_of:
            raise DatasetFormatError(f"{path}:{n}: variant {variant!r} is not in variants.txt; {fix}")
        paths.append(folder / "images" / f"{image_id}.jpg")
        labels.append(label_of[variant])
    return _nonempty((paths, labels), f"{path} lists no images", fix)


@dataclass(frozen=True)
class CubLists(Layout):
    """CUB-200-2011 as its tarball extracts: ``classes.txt`` ("<id> <NNN.Name>"), ``images.txt``
    ("<image id> <class folder>/<file>"), ``train_test_split.txt`` ("<image id> <1 train|0 test>"),
    images in ``images/``. No validation split (few-shot val is then empty)."""

    required = ("images", "classes.txt", "images.txt", "train_test_split.txt")

    def read(self, folder: Path) -> LocalData:
        fix = "extract CUB_200_2011.tgz again"
        path = folder / "classes.txt"
        class_folders: list[str] = []
        for n, (_, class_folder) in _records(path, 2, "<class id> <class folder>", fix):
            if class_folder in class_folders:
                raise DatasetFormatError(f"{path}:{n}: class {class_folder!r} is listed twice; {fix}")
            class_folders.append(class_folder)
        if not class_folders:
            raise DatasetFormatError(f"{path} lists no classes; {fix}")
        _require_folders(folder / "images", class_folders, "images", "(class folders listed in classes.txt)")
        items = _cub_items(folder, {c: i for i, c in enumerate(class_folders)}, fix)
        return LocalData(
            classnames=[naming.cub(c) for c in class_folders],
            splits={s: partial(_stored, items[s]) for s in ("train", "test")},
            index="train_test_split.txt",
        )


def _cub_items(folder: Path, label_of: dict[str, int], fix: str) -> dict[str, Items]:
    split_path, images_path = folder / "train_test_split.txt", folder / "images.txt"
    is_train: dict[str, bool] = {}
    for n, (image_id, flag) in _records(split_path, 2, "<image id> <1 (train) or 0 (test)>", fix):
        if flag not in ("0", "1"):
            raise DatasetFormatError(f"{split_path}:{n}: image {image_id} is marked {flag!r}, expected 1 (train) or 0 (test); {fix}")
        if image_id in is_train:
            raise DatasetFormatError(f"{split_path}:{n}: image {image_id} is listed twice; {fix}")
        is_train[image_id] = flag == "1"
    items: dict[str, Items] = {"train": ([], []), "test": ([], [])}
    seen: set[str] = set()
    for n, (image_id, relpath) in _records(images_path, 2, "<image id> <class folder>/<file>", fix):
        if image_id in seen:
            raise DatasetFormatError(f"{images_path}:{n}: image {image_id} is listed twice; {fix}")
        seen.add(image_id)
        if image_id not in is_train:
            raise DatasetFormatError(f"{split_path} has no line for image {image_id} of images.txt (line {n}); {fix}")
        class_folder = relpath.split("/", 1)[0]
        if class_folder not in label_of:
            raise DatasetFormatError(f"{images_path}:{n}: {relpath} is in a class folder not listed in classes.txt; {fix}")
        paths, labels = items["train" if is_train[image_id] else "test"]
        paths.append(folder / "images" / relpath)
        labels.append(label_of[class_folder])
    for split, split_items in items.items():
        _nonempty(split_items, f"{split_path} marks no image of images.txt as {split} ({'1' if split == 'train' else '0'})", fix)
    return items


@dataclass(frozen=True)
class PlacesLists(Layout):
    """Places365-Standard validation: ``val_256/`` images, ``places365_val.txt`` ("<file> <label>")
    and ``categories_places365.txt`` ("/a/airfield 0") from ``filelist_places365-standard.tar``."""

    required = ("val_256", "places365_val.txt", "categories_places365.txt")

    def read(self, folder: Path) -> LocalData:
        fix = "extract it again from filelist_places365-standard.tar"
        path = folder / "categories_places365.txt"
        categories: dict[int, str] = {}
        for n, (category, label) in _records(path, 2, "<category> <label>", fix):
            index = _label(path, n, label, fix)
            if index in categories:
                raise DatasetFormatError(f"{path}:{n}: label {index} is given to both {categories[index]!r} and {category!r}; {fix}")
            categories[index] = category
        if not categories:
            raise DatasetFormatError(f"{path} lists no categories; {fix}")
        if sorted(categories) != list(range(len(categories))):
            raise DatasetFormatError(f"{path}: labels must be 0..{len(categories) - 1} without gaps; {fix}")
        items = _places_items(folder, len(categories), fix)
        return LocalData(
            classnames=[naming.scene(categories[i]) for i in range(len(categories))],
            splits={"test": partial(_stored, items)},
            index="places365_val.txt",
        )


def _places_items(folder: Path, n_classes: int, fix: str) -> Items:
    path = folder / "places365_val.txt"
    paths, labels = [], []
    for n, (name, text) in _records(path, 2, "<file> <label>", fix):
        label = _label(path, n, text, fix)
        if label >= n_classes:
            raise DatasetFormatError(f"{path}:{n}: {name} has label {label}, outside 0..{n_classes - 1} (categories_places365.txt); {fix}")
        paths.append(folder / "val_256" / name)
        labels.append(label)
    return _nonempty((paths, labels), f"{path} lists no images", fix)
