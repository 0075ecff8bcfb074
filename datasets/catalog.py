"""The real datasets: one declarative entry each (local folder and layout, how to get it, Hub
mirror), and the registered factories that build a :class:`Dataset` from them.

Source selection: ``ZSBENCH_SOURCE`` (or a factory's ``source`` argument) is ``local`` (default:
the CoOp/Zhou layout under the data root), ``hub`` (the Hub mirror) or ``auto`` (local if found,
else the mirror). Mirrors do not follow the Zhou splits, so ``Dataset.source`` records which was
used. A missing local dataset raises :class:`DatasetNotFoundError` whose message is the fix; a
malformed one :class:`~zsbench.datasets.base.DatasetFormatError` naming the file; an unknown source
:class:`SourceError`. All are :class:`UserError` and are raised when the dataset is built.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from zsbench.harness.core.errors import UserError
from zsbench.harness.core.registry import register_dataset

from . import naming
from .base import Dataset, DatasetNotFoundError, FileSplit
from .hub import HubEntry, open_entry
from .local_layouts import (
    COOP_DATASETS_MD,
    AircraftLists,
    CubLists,
    ImageNetFolders,
    Items,
    Layout,
    LocalData,
    MissingDataError,
    PlacesLists,
    ZhouSplit,
)
from .paths import DATA_ENV, resolve_data_root
from .templates import IMAGENET_FAMILY, IMAGENET_TEMPLATES_SELECT, ensemble_templates, zero_shot_templates

SOURCE_ENV = "ZSBENCH_SOURCE"
SOURCES = ("local", "hub", "auto")


class SourceError(UserError, ValueError):
    """``ZSBENCH_SOURCE`` (or a factory's ``source``) is not one of :data:`SOURCES`."""


@dataclass(frozen=True)
class DatasetSpec:
    """``folder``: under the data root; ``get``: how to obtain it (quoted in the fix text);
    ``hub_names``: CoOp's naming rule for the mirror's raw class names; ``fewshot_from``: the
    dataset few-shot methods train on instead (ImageNet for its variants)."""

    name: str
    folder: str
    layout: Layout
    get: str
    hub: HubEntry | None = None
    hub_names: naming.NameRule = naming.spaced
    fewshot_from: str | None = None


def _zhou_md(anchor: str, what: str) -> str:
    return f"{what}; put the Zhou split file from {COOP_DATASETS_MD}#{anchor} next to it"


def _zhou(images: str, split_file: str, anchor: str) -> ZhouSplit:
    """A Zhou split layout that quotes its DATASETS.md section when the split file is malformed."""
    return ZhouSplit(images, split_file, f"{COOP_DATASETS_MD}#{anchor}")


_SPECS = (
    DatasetSpec(
        "imagenet", "imagenet",
        ImageNetFolders((("test", "images/val"), ("train", "images/train"))),
        "download ILSVRC2012 from https://image-net.org/download.php and extract val (sorted into n*/ class folders) "
        "to imagenet/images/val/ and train to imagenet/images/train/ (train is needed for few-shot training only)",
        HubEntry("clip-benchmark/wds_imagenet1k", "b24c7a5a3ef12df09089055d1795e2ce7c7e7397", "test", "jpg", "cls", "imagenet-1k"),
    ),
    DatasetSpec(
        "imagenet-v2", "imagenetv2",
        ImageNetFolders((("test", "imagenetv2-matched-frequency-format-val"),), folder_names="index"),
        "download https://s3-us-west-2.amazonaws.com/imagenetv2public/imagenetv2-matched-frequency.tar.gz "
        "and extract it into imagenetv2/ (folders 0..999)",
        HubEntry("clip-benchmark/wds_imagenetv2", None, "test", "webp", "cls", "imagenet-1k"),
        fewshot_from="imagenet",
    ),
    DatasetSpec(
        "imagenet-sketch", "imagenet-sketch",
        ImageNetFolders((("test", "images"),)),
        "download ImageNet-Sketch (https://github.com/HaohanWang/ImageNet-Sketch) and extract it so that "
        "the n* class folders are in imagenet-sketch/images/",
        HubEntry("clip-benchmark/wds_imagenet_sketch", None, "test", "jpg", "cls", "imagenet-1k"),
        fewshot_from="imagenet",
    ),
    DatasetSpec(
        "imagenet-a", "imagenet-adversarial",
        ImageNetFolders((("test", "imagenet-a"),), space="imagenet-a"),
        "download https://people.eecs.berkeley.edu/~hendrycks/imagenet-a.tar and extract it into imagenet-adversarial/",
        HubEntry("clip-benchmark/wds_imagenet-a", None, "test", "jpg", "cls", "imagenet-a"),
        fewshot_from="imagenet",
    ),
    DatasetSpec(
        "imagenet-r", "imagenet-rendition",
        ImageNetFolders((("test", "imagenet-r"),), space="imagenet-r"),
        "download https://people.eecs.berkeley.edu/~hendrycks/imagenet-r.tar and extract it into imagenet-rendition/",
        HubEntry("axiong/imagenet-r", None, "test", "image", "wnid", "imagenet-r"),
        fewshot_from="imagenet",
    ),
    DatasetSpec(
        "caltech101", "caltech-101",
        _zhou("101_ObjectCategories", "split_zhou_Caltech101.json", "caltech101"),
        _zhou_md("caltech101", "extract 101_ObjectCategories.tar.gz (https://data.caltech.edu/records/mzrjq-6wc02) into caltech-101/"),
        HubEntry("mteb/Caltech101", "011e51e5fb01f0c820824734edb7a539ab8e6650", "test", "image", "label"),
        hub_names=naming.caltech,
    ),
    DatasetSpec(
        "oxford-pets", "oxford_pets",
        _zhou("images", "split_zhou_OxfordPets.json", "oxfordpets"),
        _zhou_md("oxfordpets", "extract https://www.robots.ox.ac.uk/~vgg/data/pets/data/images.tar.gz into oxford_pets/"),
        HubEntry("isaacchung/OxfordPets", "557b480fae8d69247be74d9503b378a09425096f", "test", "image", "label"),
    ),
    DatasetSpec(
        "stanford-cars", "stanford_cars",
        _zhou("", "split_zhou_StanfordCars.json", "stanfordcars"),
        _zhou_md("stanfordcars", "put the Stanford Cars cars_train/ and cars_test/ image folders in stanford_cars/"),
        HubEntry("mteb/StanfordCars", "09ffe9bc7864d3f1e851529e5c4b7e05601a04fb", "test", "image", "label"),
        hub_names=naming.car,
    ),
    DatasetSpec(
        "flowers102", "oxford_flowers",
        _zhou("jpg", "split_zhou_OxfordFlowers.json", "flowers102"),
        _zhou_md("flowers102", "extract https://www.robots.ox.ac.uk/~vgg/data/flowers/102/102flowers.tgz into oxford_flowers/ (giving jpg/)"),
        HubEntry("nelorth/oxford-flowers", "a37b1891609c0376fa81eced756e7863e1bd873b", "test", "image", "label"),
    ),
    DatasetSpec(
        "food101", "food-101",
        _zhou("images", "split_zhou_Food101.json", "food101"),
        _zhou_md("food101", "extract https://data.vision.ee.ethz.ch/cvl/datasets_extra/food-101/static/food-101.tar.gz into the data root (giving food-101/images/)"),
        HubEntry("mteb/food101", "7cca05bfde8fdad4a9b39ed14a881c800cc1dca2", "validation", "image", "label"),
    ),
    DatasetSpec(
        "fgvc-aircraft", "fgvc_aircraft",
        AircraftLists(),
        "extract https://www.robots.ox.ac.uk/~vgg/data/fgvc-aircraft/archives/fgvc-aircraft-2013b.tar.gz, "
        f"keep its data/ folder and rename it to fgvc_aircraft/ (the official splits; see {COOP_DATASETS_MD}#fgvcaircraft)",
        HubEntry("mteb/FGVCAircraft", "2d33d00400099b87bfec8b04f2876fb10ca07487", "test", "image", "variant"),
    ),
    DatasetSpec(
        "sun397", "sun397",
        _zhou("SUN397", "split_zhou_SUN397.json", "sun397"),
        _zhou_md("sun397", "extract http://vision.princeton.edu/projects/2010/SUN/SUN397.tar.gz into sun397/"),
        HubEntry("mteb/sun397", "c684cff33166060e2ae05525a5c4abdf5e6d7bce", "test", "image", "label"),
        hub_names=naming.scene,
    ),
    DatasetSpec(
        "dtd", "dtd",
        _zhou("images", "split_zhou_DescribableTextures.json", "dtd"),
        _zhou_md("dtd", "extract https://www.robots.ox.ac.uk/~vgg/data/dtd/download/dtd-r1.0.1.tar.gz into the data root (giving dtd/images/)"),
        HubEntry("tanganke/dtd", "d2afa97d9f335b1a6b3b09c637aef667f98f966e", "test", "image", "label"),
    ),
    DatasetSpec(
        "eurosat", "eurosat",
        _zhou("2750", "split_zhou_EuroSAT.json", "eurosat"),
        _zhou_md("eurosat", "extract EuroSAT.zip (RGB, https://github.com/phelber/EuroSAT) into eurosat/ (giving 2750/)"),
        HubEntry("timm/eurosat-rgb", "b4e28552cd5f3932b6abc37eb20d3e84901ad728", "test", "image", "label"),
        hub_names=naming.eurosat,
    ),
    DatasetSpec(
        "ucf101", "ucf101",
        _zhou("UCF-101-midframes", "split_zhou_UCF101.json", "ucf101"),
        _zhou_md("ucf101", f"extract UCF-101-midframes.zip (the middle frames, linked from {COOP_DATASETS_MD}#ucf101) into ucf101/"),
        HubEntry("mteb/ucf101", "e0618988874f6ffbf90af69fa6dccecb9be3deb3", "test", "image", "label"),
        hub_names=naming.ucf,
    ),
    DatasetSpec(
        "cub", "CUB_200_2011",
        CubLists(),
        "extract CUB_200_2011.tgz (https://data.caltech.edu/records/65de6-vp158) into the data root "
        "(giving CUB_200_2011/images/, classes.txt, images.txt, train_test_split.txt)",
    ),
    DatasetSpec(
        "places365", "places365",
        PlacesLists(),
        "extract http://data.csail.mit.edu/places/places365/val_256.tar into places365/ and put places365_val.txt "
        "and categories_places365.txt from http://data.csail.mit.edu/places/places365/filelist_places365-standard.tar next to it",
    ),
)

SPECS: dict[str, DatasetSpec] = {spec.name: spec for spec in _SPECS}


def selected_source(source: str | None = None) -> str:
    """``source`` if given, else ``$ZSBENCH_SOURCE``, else ``local``. Checked before any data is
    read, so that a typo fails at once instead of silently meaning another source."""
    if source:
        given, where = source, "source"
    else:
        given, where = os.environ.get(SOURCE_ENV) or "local", SOURCE_ENV
    chosen = given.strip().lower()
    if chosen not in SOURCES:
        unset = f" (or unset it for {SOURCES[0]})" if where == SOURCE_ENV else ""
        raise SourceError(f"{where}={given!r} is not a data source: use one of {', '.join(SOURCES)}{unset}")
    return chosen


def fix_text(spec: DatasetSpec, data_root: Path | None, missing: list[str], detail: str = "") -> str:
    """What is missing, where it was looked for, and how to get it (``missing``: paths relative to
    the data root)."""
    lines = [f"dataset {spec.name!r} not found locally."]
    if data_root is None:
        lines.append(f"  no data root is set: pass --data-root DIR or set {DATA_ENV}=DIR, where DIR/{spec.folder}/ holds the data")
    else:
        shown = ", ".join(str(data_root / m) for m in missing[:8]) + (f" and {len(missing) - 8} more" if len(missing) > 8 else "")
        lines.append(f"  missing{' ' + detail if detail else ''}: {shown}")
        lines.append(f"  looked in {data_root / spec.folder} (data root from --data-root or {DATA_ENV})")
    lines.append(f"  get it: {spec.get}")
    if spec.hub is not None:
        lines.append(f"  or use the Hugging Face mirror {spec.hub.where} (another copy, recorded as the source): set {SOURCE_ENV}=hub")
    return "\n".join(lines)


def _missing(spec: DatasetSpec, data_root: Path | None, err: MissingDataError) -> MissingDataError:
    missing = [str(Path(spec.folder) / m) for m in err.missing]
    return MissingDataError(missing, err.detail, fix_text(spec, data_root, missing, err.detail))


def inspect_local(spec: DatasetSpec, data_root: Path | None) -> LocalData:
    """Read the local layout (cheap); :class:`MissingDataError` with the fix text if incomplete.
    Split loaders are wrapped so that what they find missing carries the fix text too."""
    if data_root is None:
        raise MissingDataError([f"data root ({DATA_ENV})"], "", fix_text(spec, None, []))
    folder = data_root / spec.folder
    try:
        if not folder.is_dir():
            raise MissingDataError(["."])
        absent = spec.layout.missing(folder)
        if absent:
            raise MissingDataError(absent)
        data = spec.layout.read(folder)
    except MissingDataError as err:
        raise _missing(spec, data_root, err) from None
    data.splits = {name: _with_fix(spec, data_root, loader) for name, loader in data.splits.items()}
    return data


def _with_fix(spec: DatasetSpec, data_root: Path, loader: Callable[[], Items]) -> Callable[[], Items]:
    def load() -> Items:
        try:
            return loader()
        except MissingDataError as err:
            raise _missing(spec, data_root, err) from None

    return load


def _file_split(spec: DatasetSpec, folder: Path, split: str, loader: Callable[[], Items]) -> Callable[[], FileSplit]:
    def load() -> FileSplit:
        paths, labels = loader()
        digest = hashlib.sha256()
        for path, label in zip(paths, labels):
            digest.update(f"{path.relative_to(folder).as_posix()}\t{label}\n".encode())
        return FileSplit(paths, labels, f"{spec.name}/{split}/local/{digest.hexdigest()[:16]}", split, root=folder.parent)

    return load


def _dataset(spec: DatasetSpec, classnames: list[str], splits: dict, source: str, imagenet_indices: list[int] | None) -> Dataset:
    return Dataset(
        name=spec.name,
        classnames=classnames,
        templates=zero_shot_templates(spec.name),
        ensemble_templates=ensemble_templates(spec.name),
        splits=splits,
        source=source,
        train_split="train" if "train" in splits else None,
        val_split="val" if "val" in splits else None,
        fewshot_from=spec.fewshot_from,
        imagenet_indices=imagenet_indices,
        family="imagenet" if spec.name in IMAGENET_FAMILY else None,
        fewshot_templates=list(IMAGENET_TEMPLATES_SELECT) if spec.name in IMAGENET_FAMILY else None,
        fewshot_recipe="imagenet" if spec.name == "imagenet" else "default",
    )


def local_dataset(spec: DatasetSpec, data_root: Path | None) -> Dataset:
    data = inspect_local(spec, data_root)
    folder = data_root / spec.folder
    splits = {name: _file_split(spec, folder, name, loader) for name, loader in data.splits.items()}
    return _dataset(spec, data.classnames, splits, f"local:{spec.folder}/{data.index}", data.imagenet_indices)


def hub_dataset(spec: DatasetSpec) -> Dataset:
    if spec.hub is None:
        raise DatasetNotFoundError(
            f"dataset {spec.name!r} has no Hugging Face mirror ({SOURCE_ENV}=hub); use local data: {spec.get}, "
            f"then set {SOURCE_ENV}=local and pass --data-root DIR or set {DATA_ENV}=DIR"
        )
    data = open_entry(spec.name, spec.hub, spec.hub_names)
    return _dataset(spec, data.classnames, {"test": data.load_test}, data.source, data.imagenet_indices)


def build_dataset(name: str, data_root: Path | str | None = None, source: str | None = None) -> Dataset:
    """The dataset ``name`` from the selected source (see the module docstring)."""
    spec = SPECS[name]
    chosen = selected_source(source)
    if chosen == "hub":
        return hub_dataset(spec)
    root = resolve_data_root(data_root)
    try:
        return local_dataset(spec, root)
    except DatasetNotFoundError as local_err:
        if chosen == "local" or spec.hub is None:
            raise
        try:
            return hub_dataset(spec)
        except DatasetNotFoundError as hub_err:
            raise DatasetNotFoundError(f"{local_err}\n  the Hugging Face mirror failed too: {hub_err}") from hub_err


def _factory(name: str) -> Callable[..., Dataset]:
    def build(data_root: Path | None = None, source: str | None = None) -> Dataset:
        return build_dataset(name, data_root, source)

    build.__name__ = build.__qualname__ = f"build_{name.replace('-', '_')}"
    build.__doc__ = f"Build dataset {name!r} (see zsbench.datasets.catalog)."
    return build


for _name in SPECS:
    register_dataset(_name)(_factory(_name))
