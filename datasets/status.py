"""``zsbench data status``: for every real dataset, whether its local data is there, how much of it,
and, when something is missing, exactly what and how to fix it (the same text a run fails with).

Unlike a dataset factory this lists every split's images, so it takes a while on full data.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .catalog import inspect_local
from .errors import DatasetFormatError
from .local_layouts import MissingDataError
from .paths import resolve_data_root
from .records import PUBLISHED_SIZES, RECORDS, DatasetRecord


@dataclass
class DatasetStatus:
    """``found``: the evaluation data is usable; ``missing`` may still name optional parts (ImageNet's
    train split, needed for few-shot training only). ``split_file``: the file the labels come from,
    relative to ``location``."""

    name: str
    found: bool
    location: Path | None
    split_file: str | None = None
    n_classes: int | None = None
    n_images: dict[str, int] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    fix: str | None = None


def dataset_status(data_root: Path | str | None = None) -> list[DatasetStatus]:
    """The status of every catalogued dataset under ``data_root`` (or ``$ZSBENCH_DATA``)."""
    root = resolve_data_root(data_root)
    return [_status(spec, root) for spec in RECORDS.values()]


def _status(spec: DatasetRecord, root: Path | None) -> DatasetStatus:
    status = DatasetStatus(spec.name, found=False, location=root / spec.folder if root else None)
    try:
        data = inspect_local(spec, root)
    except MissingDataError as err:
        status.missing, status.fix = err.missing, str(err)
        return status
    except DatasetFormatError as err:  # a malformed index file: its message names the file and the fix
        status.fix = str(err)
        return status
    status.split_file, status.n_classes = data.index, len(data.classnames)
    for name, loader in data.splits.items():
        try:
            paths, _ = loader()
        except MissingDataError as err:
            status.missing += err.missing
            status.fix = str(err)
            continue
        except DatasetFormatError as err:
            status.fix = str(err)
            continue
        status.n_images[name] = len(paths)
    status.found = "test" in status.n_images
    return status


@dataclass
class DatasetListing:
    """One row of ``zsbench list datasets``: what a dataset is, and whether it can run here."""

    name: str
    n_classes: int | None
    test_size: int | None
    family: str | None
    here: str  # "yes", "no", "generated", ...


def dataset_listing(data_root: Path | str | None = None, names: list[str] | None = None) -> list[DatasetListing]:
    """Every registered dataset (or ``names``): class count and test size (a real dataset's as
    published, ``PUBLISHED_SIZES``, until its local data is here, then as read), its family, whether
    it is here.
    Real datasets are only inspected (their test split's file list), never loaded."""
    from zsbench.harness.core.registry import DATASETS

    root = resolve_data_root(data_root)
    rows = []
    for name in names if names is not None else [n for n, _ in DATASETS.items()]:
        spec = RECORDS.get(name)
        if spec is None:  # a generated or plug-in dataset: building it is cheap (splits load lazily)
            dataset = DATASETS.get(name)(data_root)
            here = "generated" if str(dataset.source).startswith("generated") else "yes"
            rows.append(DatasetListing(name, dataset.n_classes, dataset.test_size, dataset.family, here))
            continue
        status = DatasetListing(name, *PUBLISHED_SIZES.get(name, (None, None)), spec.family, "no")
        try:
            data = inspect_local(spec, root)
        except (MissingDataError, DatasetFormatError):
            rows.append(status)
            continue
        status.n_classes = len(data.classnames)
        try:
            status.test_size = len(data.splits["test"]()[0]) if "test" in data.splits else None
            status.here = "yes"
        except (MissingDataError, DatasetFormatError):
            status.here = "incomplete"
        rows.append(status)
    return rows
