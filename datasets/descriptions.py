"""Class descriptions for description-based methods (CuPL, DCLIP, WaffleCLIP, ABS): where they come
from, and how a dataset's class names find their entries in a file. Dataset-side (each dataset's
record names its files), so that methods ask for descriptions instead of knowing datasets.

A description source (a method's ``descriptions`` hyperparameter, ``--set descriptions=...``) is one of

- a named public source, each mapping a dataset to a JSON file at a pinned commit of
  github.com/sarahpratt/CuPL or github.com/BIT-DA/ABS (the files the references themselves read):

  - ``cupl``: CuPL's sentences as ABS uses them: ABS's own ``prompts/<dataset>/cupl.json`` where ABS
    ships one; for the ImageNet family CuPL's ``imagenet_prompts/CuPL_image_prompts.json`` (the file
    ABS's ImageNet-family ``cupl.json`` are, and the one CuPL's ``classify_imagenet.py`` loads); else
    CuPL's full prompt set;
  - ``cupl-base`` / ``cupl-full``: CuPL's ``all_prompts/base_prompts/*_base.json`` /
    ``all_prompts/full_prompts/*_full.json``, for the datasets CuPL has them for;
  - ``dclip``: DCLIP's descriptors, as ABS ships them.

  Which file a dataset uses is its record's ``description_files``
  (:mod:`zsbench.datasets.records`); :data:`SOURCES` is the same, by source.

  Each file is fetched once through :mod:`zsbench.harness.core.downloads` into
  ``$ZSBENCH_CACHE/downloads/`` (default ``~/.cache/zsbench/downloads/``) and checked against its
  checksum (sha256, or the git blob id the pinned tree lists for files we could not hash). Offline,
  put the file there by hand (the error names the URL and the path) or pass a path instead;
- a path to a JSON file ``{classname: [sentence, ...]}``;
- ``dataset``: the dataset's own descriptions (``Dataset.descriptions``).

A dataset may answer a named source itself (``Dataset.description_sources``): the toy world
answers ``dclip`` with its shapes' geometry descriptors, the others with its generated CuPL-style
sentences.

Class names are matched to a file's keys exactly, then case/punctuation-insensitively ("Black footed
Albatross" = "Black-footed Albatross", "Brewer Blackbird" = "Brewer's Blackbird"), then to a key
worded as CoOp words it (qualifier or year first: "indoor apse" = "apse (indoor)", "2012 Tesla Model
S Sedan" = "Tesla Model S Sedan 2012"), then through the entry's aliases (CoOp's EuroSAT and
Caltech101 names); a file whose keys list the dataset's whole label space in order (DCLIP's ImageNet
file, whose names differ from open_clip's in four places) is matched by position. CuPL's ImageNet
files are keyed by CLIP's cleaned class names (CuPL's ``imagenet_classes.py``, open_clip's
``IMAGENET_CLASSNAMES``), in which "missile" and "sunglasses" name two classes each: both classes get
the one list, as in the reference. A class left without descriptions, or whose list has no
non-blank sentence, is an error that names the file and the classes.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from zsbench.harness.core import downloads
from zsbench.harness.core.downloads import DownloadError

from .description_files import NAMED_SOURCES, RemoteFile
from .errors import DatasetNotFoundError
from .records import RECORDS

if TYPE_CHECKING:
    from .base import Dataset


class DescriptionsError(DatasetNotFoundError):
    """Descriptions that cannot be found, downloaded or matched to a dataset's classes; the message
    names the file and the fix."""


class DescriptionDownloadError(DescriptionsError, DownloadError):
    """A named source's file that cannot be downloaded or does not match its checksum: both a
    DescriptionsError (what description code catches) and the shared downloader's DownloadError."""


#: source -> {dataset: its file}: the records' ``description_files``, by source (a test may patch an entry).
SOURCES: dict[str, dict[str, RemoteFile]] = {
    source: {name: record.description_files[source] for name, record in RECORDS.items() if source in record.description_files}
    for source in NAMED_SOURCES
}


class Descriptions(dict):
    """``{classname: [sentence, ...]}`` for a label space, plus ``per_class`` (one list per entry of
    ``classnames``, in order: two classes with the same name can still differ, as in DCLIP's ImageNet
    file) and ``origin`` (the file or generator they came from)."""

    def __init__(self, classnames: Sequence[str], per_class: Sequence[Sequence[str]], origin: str):
        super().__init__()
        self.classnames = list(classnames)
        self.per_class = [list(s) for s in per_class]
        self.origin = origin
        for name, sentences in zip(self.classnames, self.per_class):
            self.setdefault(name, sentences)


def per_class_lists(descriptions: dict, classnames: Sequence[str]) -> list[list[str]]:
    """The descriptions of each class of ``classnames`` (from a :class:`Descriptions` or a plain dict)."""
    if isinstance(descriptions, Descriptions) and descriptions.classnames == list(classnames):
        return descriptions.per_class
    missing = [c for c in classnames if c not in descriptions]
    if missing:
        origin = getattr(descriptions, "origin", "the descriptions")
        raise DescriptionsError(f"{origin} has no descriptions for {len(missing)} classes: {_names(missing)}")
    return [list(descriptions[c]) for c in classnames]


# --------------------------------------------------------------------------------------------------
# sources


_OFFLINE_ALTERNATIVE = "or pass --set descriptions=PATH to a local copy of the file"


def cache_path(remote: RemoteFile, cache_dir: Path | str | None = None) -> Path:
    """Where the shared downloader keeps ``remote``: ``<cache>/downloads/<cache_name>``."""
    return downloads.cache_path(remote, cache_dir)


def fetch(remote: RemoteFile, cache_dir: Path | str | None = None, timeout: float = 60.0) -> Path:
    """The verified cached copy of ``remote``, downloaded first if needed (zsbench.harness.core.downloads);
    its errors are re-raised as :class:`DescriptionDownloadError`, so callers of this module catch
    one error class for every description problem."""
    try:
        return downloads.fetch(remote, cache_dir, timeout, alternative=_OFFLINE_ALTERNATIVE)
    except DownloadError as err:
        raise DescriptionDownloadError(str(err)) from None


def read_json(path: Path | str) -> dict[str, list[str]]:
    """A description file; errors name the file and what is wrong with it."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise DescriptionsError(f"--set descriptions={path}: no such file (a JSON file {{classname: [sentence, ...]}}, "
                                f"or one of the named sources {', '.join(SOURCES)}, or 'dataset')")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DescriptionsError(f"{path} is not valid JSON ({err})") from None
    if not isinstance(data, dict) or not all(isinstance(v, list) and all(isinstance(s, str) for s in v) for v in data.values()):
        what = "a list (prompt templates?)" if isinstance(data, list) else f"a {type(data).__name__}"
        raise DescriptionsError(f"{path} holds {what}, not descriptions {{classname: [sentence, ...]}}")
    return data


def is_path(source: str) -> bool:
    return source.endswith(".json") or os.sep in source or "/" in source or Path(source).expanduser().is_file()


def raw_descriptions(source: str, dataset: "Dataset", cache_dir: Path | None = None) -> tuple[dict[str, list[str]], str, RemoteFile | None]:
    """(``{key: [sentence, ...]}``, origin, the remote entry if any) for ``source`` on ``dataset``."""
    if not source:
        raise DescriptionsError(f"empty description source; use one of {', '.join(SOURCES)}, 'dataset' or a path")
    if is_path(source):
        path = Path(source).expanduser()
        return read_json(path), str(path), None
    if source == "dataset":
        if dataset.descriptions is None:
            raise DescriptionsError(f"dataset {dataset.name!r} has no descriptions of its own; use --set descriptions="
                                    f"{'|'.join(SOURCES)} or a path to a JSON file")
        return dataset.descriptions(), f"{dataset.name}'s own descriptions", None
    if source not in SOURCES:
        raise DescriptionsError(f"--set descriptions={source}: unknown description source; valid: {', '.join(SOURCES)}, "
                                "dataset, or a path to a JSON file {classname: [sentence, ...]}")
    own = dataset.description_sources.get(source)
    if own is not None:
        return own.load(), own.origin, None
    remote = SOURCES[source].get(dataset.name)
    if remote is None:
        if dataset.descriptions is not None:
            return dataset.descriptions(), f"{dataset.name}'s own descriptions", None
        others = [name for name, table in SOURCES.items() if dataset.name in table]
        raise DescriptionsError(
            f"description source {source!r} has no file for dataset {dataset.name!r} (it covers "
            f"{', '.join(sorted(SOURCES[source]))}); "
            + (f"use --set descriptions={'|'.join(others)}, or " if others else "")
            + "pass --set descriptions=PATH to a JSON file {classname: [sentence, ...]}")
    path = fetch(remote, cache_dir)
    return read_json(path), f"{path} (from {remote.url})", remote


# --------------------------------------------------------------------------------------------------
# matching class names to keys


def normalise(name: str) -> str:
    """Case, underscores, hyphens, possessives and other punctuation do not matter."""
    name = name.lower().replace("’", "'")
    name = re.sub(r"'s\b", "", name).replace("'", "")
    name = re.sub(r"[_\-/]", " ", name)
    name = re.sub(r"[^0-9a-z ]+", "", name)
    return " ".join(name.split())


def _names(items: Sequence[str], limit: int = 10) -> str:
    shown = ", ".join(repr(c) for c in items[:limit])
    return shown + (f", ... ({len(items) - limit} more)" if len(items) > limit else "")


@dataclass
class LabelSpace:
    """The classes to find descriptions for: ``classnames[i]`` is class ``positions[i]`` of a label
    space of ``size`` classes (ImageNet-A's 200 classes are positions in ImageNet's 1000)."""

    classnames: list[str]
    positions: list[int] = field(default_factory=list)
    size: int = 0

    def __post_init__(self):
        if not self.positions:
            self.positions = list(range(len(self.classnames)))
        self.size = self.size or len(self.classnames)

    @classmethod
    def of(cls, dataset: "Dataset") -> "LabelSpace":
        if dataset.imagenet_indices is not None:
            return cls(list(dataset.classnames), list(dataset.imagenet_indices), 1000)
        return cls(list(dataset.classnames))


def match(data: dict[str, list[str]], space: LabelSpace, origin: str, remote: RemoteFile | None = None,
          positional_agreement: float = 0.9) -> list[list[str]]:
    """The description list of every class of ``space`` (see the module docstring for the rules)."""
    keys = list(data)
    if len(keys) == space.size and space.size > 0:
        agree = sum(normalise(keys[p]) == normalise(c) for c, p in zip(space.classnames, space.positions))
        if agree >= positional_agreement * len(space.classnames):
            return _checked([data[keys[p]] for p in space.positions], space.classnames, origin)
    by_norm: dict[str, str] = {}
    for k in keys:
        by_norm.setdefault(normalise(k), k)
    for k in keys:  # other spellings of a key, added after every key's own so that they never shadow one
        for variant in _key_variants(k):
            by_norm.setdefault(variant, k)
    aliases = {normalise(a): b for a, b in (remote.aliases if remote else ())}
    out, missing = [], []
    for c in space.classnames:
        key = c if c in data else by_norm.get(normalise(c))
        if key is None and normalise(c) in aliases:
            key = aliases[normalise(c)] if aliases[normalise(c)] in data else by_norm.get(normalise(aliases[normalise(c)]))
        if key is None and remote is not None and remote.qualified_names:
            words = normalise(c).split()
            for i in range(1, len(words)):
                key = by_norm.get(" ".join(words[i:]))
                if key is not None:
                    break
        if key is None:
            missing.append(c)
        else:
            out.append(data[key])
    if missing:
        raise DescriptionsError(
            f"{origin} has no descriptions for {len(missing)} of {len(space.classnames)} classes: {_names(missing)} "
            f"(its keys start {_names(keys, 5)}); pass --set descriptions=PATH to a file whose keys are the class names")
    return _checked(out, space.classnames, origin)


_QUALIFIED_KEY = re.compile(r"^(.+?)\s*\(([^()]+)\)$")
_YEAR_LAST_KEY = re.compile(r"^(.+?)\s+((?:19|20)\d\d)$")


def _key_variants(key: str) -> list[str]:
    """A key as CoOp words the same class, normalised: CuPL's SUN397 "apse (indoor)" is CoOp's
    "indoor apse" (qualifier first), its Stanford Cars "Tesla Model S Sedan 2012" CoOp's "2012 Tesla
    Model S Sedan" (year first)."""
    out = []
    for pattern in (_QUALIFIED_KEY, _YEAR_LAST_KEY):
        m = pattern.match(key.strip())
        if m:
            out.append(normalise(f"{m.group(2)} {m.group(1)}"))
    return out


def _checked(lists: list[list[str]], classnames: Sequence[str], origin: str) -> list[list[str]]:
    """The lists as they are, unless a class has no sentence with text in it: a list of only empty or
    blank strings would encode to a class weight that describes nothing."""
    empty = [c for c, lst in zip(classnames, lists) if not any(s.strip() for s in lst)]
    if empty:
        raise DescriptionsError(
            f"{origin} has an empty description list for classes {_names(empty)} (no sentence that is not blank); "
            "add sentences for them or pass --set descriptions=PATH to a file that has them")
    return [list(lst) for lst in lists]


def load(source: str, dataset: "Dataset", space: LabelSpace | None = None, cache_dir: Path | None = None) -> Descriptions:
    """The descriptions of ``dataset``'s classes (or of ``space``) from ``source``."""
    space = space or LabelSpace.of(dataset)
    data, origin, remote = raw_descriptions(source, dataset, cache_dir)
    return Descriptions(space.classnames, match(data, space, origin, remote), origin)
