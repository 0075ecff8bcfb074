"""Class descriptions for description-based methods (CuPL, DCLIP, WaffleCLIP, ABS): where they come
from, and how a dataset's class names find their entries in a file.

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

  Each file is fetched once through :mod:`zsbench.harness.core.downloads` into
  ``$ZSBENCH_CACHE/downloads/`` (default ``~/.cache/zsbench/downloads/``) and checked against its
  checksum (sha256, or the git blob id the pinned tree lists for files we could not hash). Offline,
  put the file there by hand (the error names the URL and the path) or pass a path instead;
- a path to a JSON file ``{classname: [sentence, ...]}``;
- ``dataset``: the dataset's own descriptions (``Dataset.descriptions``).

The toy world answers the named sources itself: ``dclip`` with its shapes' geometry descriptors,
the others with its generated CuPL-style sentences.

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

from zsbench.datasets.base import DatasetNotFoundError
from zsbench.harness.core import downloads
from zsbench.harness.core.downloads import DownloadError, PinnedFile

if TYPE_CHECKING:
    from zsbench.datasets.base import Dataset

CUPL_COMMIT = "719619c829792ff8f37298266e941b7f077c7f5c"
ABS_COMMIT = "5ba77c652af789590c0e863517c2291514093d6e"
CUPL_RAW = f"https://raw.githubusercontent.com/sarahpratt/CuPL/{CUPL_COMMIT}"
ABS_RAW = f"https://raw.githubusercontent.com/BIT-DA/ABS/{ABS_COMMIT}"
IMAGENET_FAMILY = ("imagenet", "imagenet-v2", "imagenet-sketch", "imagenet-a", "imagenet-r")


class DescriptionsError(DatasetNotFoundError):
    """Descriptions that cannot be found, downloaded or matched to a dataset's classes; the message
    names the file and the fix."""


class DescriptionDownloadError(DescriptionsError, DownloadError):
    """A named source's file that cannot be downloaded or does not match its checksum: both a
    DescriptionsError (what description code catches) and the shared downloader's DownloadError."""


@dataclass(frozen=True)
class RemoteFile(PinnedFile):
    """A public description file: a :class:`PinnedFile` (URL, checksum, cache name) plus how its keys
    relate to our class names."""

    aliases: tuple[tuple[str, str], ...] = ()  # (our class name, the file's key)
    qualified_names: bool = False  # our names carry leading qualifiers the file drops ("hockey arena" -> "arena")


def _cupl(path: str, checksum: str, **kw) -> RemoteFile:
    return RemoteFile(f"{CUPL_RAW}/{path}", checksum, f"CuPL-{CUPL_COMMIT[:7]}/{path}", **kw)


def _cupl_base(key: str, sha256: str, **kw) -> RemoteFile:
    return _cupl(f"all_prompts/base_prompts/{key}_prompts_base.json", f"sha256:{sha256}", **kw)


def _cupl_full(key: str, checksum: str, **kw) -> RemoteFile:
    return _cupl(f"all_prompts/full_prompts/{key}_prompts_full.json", checksum, **kw)


def _abs(folder: str, name: str, sha256: str, **kw) -> RemoteFile:
    path = f"prompts/{folder}/{name}"
    return RemoteFile(f"{ABS_RAW}/{path}", f"sha256:{sha256}", f"ABS-{ABS_COMMIT[:7]}/{folder}/{name}", **kw)


# CoOp's EuroSAT names -> the keys of ABS's EuroSAT files (which use CuPL's descriptive names)
_EUROSAT = (
    ("Herbaceous Vegetation Land", "brushland or shrubland"),
    ("Industrial Buildings", "industrial buildings or commercial buildings"),
    ("Residential Buildings", "residential buildings or homes or apartments"),
    ("Sea or Lake", "lake or sea"),
)

# CoOp's Caltech101 names -> the keys of CuPL's Caltech101 files (CLIP's descriptive names; CoOp's
# "face" is the Faces folder, CLIP's "off-center face"; Faces_easy, "centered face", CoOp drops)
_CALTECH = (
    ("face", "off-center face"),
    ("car side", "side of a car"),
    ("cougar body", "body of a cougar cat"),
    ("cougar face", "face of a cougar cat"),
    ("crocodile head", "head of a crocodile"),
    ("flamingo head", "head of a flamingo"),
    ("snoopy", "snoopy (cartoon beagle)"),
    ("yin yang", "yin and yang symbol"),
)

# The files' sha256s were computed from the public copies in ../shared/reference (whose git blob ids
# equal the pinned trees'); the two ImageNet files marked git-blob are not in any local clone, so
# they are checked against the blob id their pinned tree lists.
# CuPL's image prompts: ABS's prompts/imagenet*/cupl.json are this file (the same blob).
_IMAGENET_CUPL = _cupl("imagenet_prompts/CuPL_image_prompts.json", "git-blob:b5796c20e12c7448a9d78147fc9869b421d908d7")
_IMAGENET_CUPL_BASE = _cupl_base("imagenet", "f8962ec2a4c4355406eb1b2cf695179f7269c512e130b623444b1a3eb4e3fe2c")
_IMAGENET_CUPL_FULL = _cupl_full("imagenet", "git-blob:3eca90382a18a1c54586f719cb58e27329063259")
_IMAGENET_DCLIP = _abs("imagenet", "clip-d.json", "0c478db8b74046ca185488f252c908420bcea585198c7bceb4e42386cc1f7d3a")

# CuPL's per-dataset files (our dataset name -> CuPL's file); the bird base and full files are one blob.
_CUPL_BASE = {
    "fgvc-aircraft": _cupl_base("airplane", "1b7e08f68b57627a0e0658c0af9856bef531fe8134248f57c5f16aabccbeb523"),
    "cub": _cupl_base("bird", "830d654a8ad729b7aa211dcf7d6a4dc33b6e0ff68bcb848115faf7c3d12d93b5"),
    "caltech101": _cupl_base("cal", "99aeac054495d5564340b6f8ac922b4dc64156e6aa0429a29c9acca30ba38208", aliases=_CALTECH),
    "stanford-cars": _cupl_base("cars", "cd0854d7e784a48c93e5e2f3ea910e43f105d2b1270db7394cd86858a3f5ac86"),
    "flowers102": _cupl_base("flower", "4d98c313eae511a74a0973a7350062970291c69a709fe21bdb9df3f45757ec7d"),
    "food101": _cupl_base("food", "b75a42ae975592bfd5e5a35af8c4f0dfa0f0f2f7d3cf31b474b95f67260fca1e"),
    "oxford-pets": _cupl_base("pet", "a4c136a8adaf85646d6fc0a1cb7cfd75c12b6da33ef235ad55dd1247138a7e08"),
    "sun397": _cupl_base("sun", "9700c0ebfe122bf0972d1707a22307aa6153df50c414e3b675633d465aefca59"),
    "dtd": _cupl_base("texture", "7d55451f1c038a9b4b80a5d339e3c5f7dcd7194a8a51b5608f343b5079b76ea8"),
    "ucf101": _cupl_base("ucf", "5cf5ff16e0ff37305c9fbf078170ab7e165437936ed54297fad5a309cef72f12"),
}
_CUPL_FULL = {
    "fgvc-aircraft": _cupl_full("airplane", "sha256:d86833c2483c1d12907abeb6198412f1d0a020bd12999a3f170967a7f549e3b8"),
    "cub": _cupl_full("bird", "sha256:830d654a8ad729b7aa211dcf7d6a4dc33b6e0ff68bcb848115faf7c3d12d93b5"),
    "caltech101": _cupl_full("cal", "sha256:f0995df6482ae36ec969d7bbdc01fd37ec8724430d6d2369e0043eee1f542834", aliases=_CALTECH),
    "stanford-cars": _cupl_full("cars", "sha256:10c77fcbd845283b59148e9bf714ec521971a34f0c9e691d46f65c8371d9e52d"),
    "flowers102": _cupl_full("flower", "sha256:439e88a1ac5f7058da59d0bcdc4fa848283e4e8f29fc8711ebac4274137a2bbf"),
    "food101": _cupl_full("food", "sha256:67cb17f323b7f0726e4b152224365fda289658ff92b0d14ee264910a16af96dc"),
    "oxford-pets": _cupl_full("pets", "sha256:b53cbe7f37e807c13a3f02e511c6058e6a50bafea3f8c4363cb85bf32920c6c6"),
    "sun397": _cupl_full("sun", "sha256:e6b1a95febe8e9420799fcf3be6647a73dc1aa9a6a9ac100d264c3ff78faf011"),
    "dtd": _cupl_full("texture", "sha256:dabdcafded7babd67046d0f90abeb510b648bdaaf397b884f265f3460a7942a9"),
    "ucf101": _cupl_full("ucf", "sha256:8f2b130ee0c7573c3f0d4a6353c9bdda64ea63b771155207befa579f2a35c985"),
}

SOURCES: dict[str, dict[str, RemoteFile]] = {
    # CuPL sentences as ABS uses them: ABS's own cupl.json for its non-ImageNet datasets (for Food101
    # CuPL's food full file, for Pets CuPL's pet base file, byte for byte), CuPL_image_prompts.json for
    # the ImageNet family, CuPL's full prompt set for the datasets ABS does not cover.
    "cupl": {
        **{name: _IMAGENET_CUPL for name in IMAGENET_FAMILY},
        "cub": _abs("cub", "cupl.json", "7f2a595332e80720be68ee64e9f32b242dd8acd7d590096903f9fa41bf6f3287"),
        "dtd": _abs("dtd", "cupl.json", "764191c34e52dabdb1517824a48004172478329b04aa3950104b6f39e3b74cc4"),
        "eurosat": _abs("eurosat", "cupl.json", "cc6eae59c3fa62222299ac457e916f4bdf30714d56ff2eedf7b62dc4b3ae7268", aliases=_EUROSAT),
        "food101": _abs("food101", "cupl.json", "67cb17f323b7f0726e4b152224365fda289658ff92b0d14ee264910a16af96dc"),
        "oxford-pets": _abs("oxford_pet", "cupl.json", "a4c136a8adaf85646d6fc0a1cb7cfd75c12b6da33ef235ad55dd1247138a7e08"),
        "places365": _abs("place365", "cupl.json", "8bab6f1daa8a39ba53c5243f1e910cb3559e27e92a700df3dfdc270fd5c9f02f",
                          qualified_names=True),
        **{name: _CUPL_FULL[name] for name in ("caltech101", "stanford-cars", "flowers102", "fgvc-aircraft", "sun397", "ucf101")},
    },
    "cupl-base": {**{name: _IMAGENET_CUPL_BASE for name in IMAGENET_FAMILY}, **_CUPL_BASE},
    "cupl-full": {**{name: _IMAGENET_CUPL_FULL for name in IMAGENET_FAMILY}, **_CUPL_FULL},
    # DCLIP descriptors ({class: [descriptor, ...]}, used as "{c}, which is/has {d}"), as ABS ships them
    # (its five ImageNet-family copies are byte-identical).
    "dclip": {
        **{name: _IMAGENET_DCLIP for name in IMAGENET_FAMILY},
        "cub": _abs("cub", "clip-d.json", "983966040fd8747d89ee9b0f311eeab3b5f4b318e062dd0529c9bb57e2282597"),
        "dtd": _abs("dtd", "clip-d.json", "3bb97a62ef38ab3daaee15afdd1cacf1ad8706d7c8a92e35c127a9fca9aa1ce4"),
        "eurosat": _abs("eurosat", "clip-d.json", "1298f7a9f47e634120d67fbc4eb3c1fbc7c61a4103ad2861d72ed707ef46a867", aliases=_EUROSAT),
        "food101": _abs("food101", "clip-d.json", "1556bae208439f373fc6a966f43b163f2d1698811ff7f84861635010499a0166"),
        "oxford-pets": _abs("oxford_pet", "clip-d.json", "70621f48ae4d823624732d26d8f125c4c6d848507878515cff96e935fe872208"),
        "places365": _abs("place365", "clip-d.json", "aa35beea77718ef7e9afecf66a0c49b23fcbd4064f3027dc29d6701649c6efd6",
                          qualified_names=True),
    },
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


def _toy_names() -> set[str]:
    from zsbench.datasets.toy.domains import DOMAINS

    return {d.name for d in DOMAINS}


def toy_descriptors(classnames: Sequence[str]) -> dict[str, list[str]]:
    """DCLIP-format descriptors of the toy world's classes: their shapes' geometry phrases."""
    from zsbench.datasets.toy.shapes import SHAPES

    out = {}
    for c in classnames:
        key = "star" if c == "five-pointed star" else c
        if key not in SHAPES:
            raise DescriptionsError(f"toy class {c!r} has no shape descriptors")
        out[c] = list(SHAPES[key][1])
    return out


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
    if dataset.name in _toy_names():
        if source == "dclip":
            return toy_descriptors(dataset.classnames), "the toy world's shape descriptors", None
        return dataset.descriptions(), "the toy world's generated descriptions", None
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


# --------------------------------------------------------------------------------------------------
# DCLIP's sentence rule (shared by clip-d and waffle)


def descriptor_sentence(descriptor: str) -> str:
    """DCLIP's ``make_descriptor_sentence``: "which is ..." for descriptors starting with "a" (any
    word starting with the letter a, as in DCLIP) or "used", "which ..." for "has/often/typically/
    may/can ...", else "which has ..."."""
    if descriptor.startswith("a") or descriptor.startswith("used"):
        return f"which is {descriptor}"
    if descriptor.startswith(("has", "often", "typically", "may", "can")):
        return f"which {descriptor}"
    return f"which has {descriptor}"
