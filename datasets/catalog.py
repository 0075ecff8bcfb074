"""The real datasets' builder: the registered factories that build a :class:`Dataset` from a
dataset's record (:mod:`~zsbench.datasets.records`) and its local folder or Hub mirror.

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
from pathlib import Path
from typing import Callable

from zsbench.harness.core.errors import UserError
from zsbench.harness.core.registry import register_dataset

from .base import Dataset, FileSplit

from .errors import DatasetNotFoundError
from .local_layouts import Items, LocalData, MissingDataError
from .paths import DATA_ENV, resolve_data_root
from .records import RECORDS, DatasetRecord

SOURCE_ENV = "ZSBENCH_SOURCE"
SOURCES = ("local", "hub", "auto")


class SourceError(UserError, ValueError):
    """``ZSBENCH_SOURCE`` (or a factory's ``source``) is not one of :data:`SOURCES`."""




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


def fix_text(spec: DatasetRecord, data_root: Path | None, missing: list[str], detail: str = "") -> str:
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


def _missing(spec: DatasetRecord, data_root: Path | None, err: MissingDataError) -> MissingDataError:
    missing = [str(Path(spec.folder) / m) for m in err.missing]
    return MissingDataError(missing, err.detail, fix_text(spec, data_root, missing, err.detail))


def inspect_local(spec: DatasetRecord, data_root: Path | None) -> LocalData:
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


def _with_fix(spec: DatasetRecord, data_root: Path, loader: Callable[[], Items]) -> Callable[[], Items]:
    def load() -> Items:
        try:
            return loader()
        except MissingDataError as err:
            raise _missing(spec, data_root, err) from None

    return load


def _file_split(spec: DatasetRecord, folder: Path, split: str, loader: Callable[[], Items]) -> Callable[[], FileSplit]:
    def load() -> FileSplit:
        paths, labels = loader()
        digest = hashlib.sha256()
        for path, label in zip(paths, labels):
            digest.update(f"{path.relative_to(folder).as_posix()}\t{label}\n".encode())
        return FileSplit(paths, labels, f"{spec.name}/{split}/local/{digest.hexdigest()[:16]}", split, root=folder.parent)

    return load


def _dataset(spec: DatasetRecord, classnames: list[str], splits: dict, source: str, imagenet_indices: list[int] | None) -> Dataset:
    return Dataset(
        name=spec.name,
        classnames=classnames,
        templates=spec.zero_shot_templates(),
        ensemble_templates=spec.ensemble_templates(),
        splits=splits,
        source=source,
        train_split="train" if "train" in splits else None,
        val_split="val" if "val" in splits else None,
        fewshot_from=spec.fewshot_from,
        imagenet_indices=imagenet_indices,
        family=spec.family,
        fewshot_templates=list(spec.fewshot_templates) if spec.fewshot_templates is not None else None,
        fewshot_recipe=spec.fewshot_recipe,
    )


def local_dataset(spec: DatasetRecord, data_root: Path | None) -> Dataset:
    data = inspect_local(spec, data_root)
    folder = data_root / spec.folder
    splits = {name: _file_split(spec, folder, name, loader) for name, loader in data.splits.items()}
    return _dataset(spec, data.classnames, splits, f"local:{spec.folder}/{data.index}", data.imagenet_indices)


def hub_dataset(spec: DatasetRecord) -> Dataset:
    if spec.hub is None:
        raise DatasetNotFoundError(
            f"dataset {spec.name!r} has no Hugging Face mirror ({SOURCE_ENV}=hub); use local data: {spec.get}, "
            f"then set {SOURCE_ENV}=local and pass --data-root DIR or set {DATA_ENV}=DIR"
        )
    from .hub import open_entry  # the Hugging Face libraries, imported only for a mirror

    data = open_entry(spec.name, spec.hub, spec.hub_names)
    return _dataset(spec, data.classnames, {"test": data.load_test}, data.source, data.imagenet_indices)


def build_dataset(name: str, data_root: Path | str | None = None, source: str | None = None) -> Dataset:
    """The dataset ``name`` from the selected source (see the module docstring)."""
    spec = RECORDS[name]
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


for _name in RECORDS:
    register_dataset(_name)(_factory(_name))
