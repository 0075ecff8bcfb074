"""Hugging Face Hub mirrors, loaded with ``datasets.load_dataset`` (Parquet or WebDataset repos, no
loading scripts) at a pinned revision.

A :class:`HubEntry` is declarative: repo, revision, split, image and label columns, and where the
class names come from. Opening an entry is cheap (class names from the repo's metadata, the first
Parquet file's schema footer, or a small text file fetched with ``huggingface_hub`` and cached);
the images are downloaded when the split is first loaded. ``repo_id`` may also be a local folder
laid out like a Hub repo, which takes the same code path (the tests use this).

A mirror we have not pinned (``revision=None``) is resolved to the commit its ``main`` points to
when it is opened (from the Hub, or offline from the Hugging Face cache's ``refs/main``) and
loaded at that commit, so every results row's ``data_source`` names the exact commit used.

A mirror that does not match its entry (a missing or mistyped column, a label outside the class
names, no rows) raises :class:`DatasetFormatError` naming the mirror and what to fix.
"""
from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import datasets  # Hugging Face datasets (absolute import; our package is zsbench.datasets)
import fsspec
import pyarrow.parquet as pq
import huggingface_hub
from huggingface_hub import hf_hub_download
from PIL import Image, UnidentifiedImageError

from . import imagenet, naming
from .base import DECOMPRESSION_BOMB, ImageSplit, too_large
from .errors import CorruptImageError, DatasetFormatError, DatasetNotFoundError
from .hub_entry import HubEntry


@dataclass
class HubData:
    """An opened mirror: class names (CoOp's naming), a lazy loader of the test split, the source."""

    classnames: list[str]
    load_test: Callable[[], ImageSplit]
    source: str
    imagenet_indices: list[int] | None = None


class HubSplit(ImageSplit):
    """Rows of a Hugging Face dataset (Arrow, memory-mapped) with an image column."""

    def __init__(self, table: datasets.Dataset, rows: list[int], labels: list[int], image_column: str, fingerprint: str, where: str, name: str = "test"):
        super().__init__(labels, fingerprint, name)
        self.table = table.select_columns([image_column])
        self.rows = rows
        self.image_column = image_column
        self.where = where

    def image_id(self, index: int) -> str:
        """The row of the mirror's split (the mirror and its commit are the row's ``data_source``)."""
        return f"row/{self.rows[index]}"

    def image(self, index: int) -> Image.Image:
        row = self.rows[index]
        try:
            return self.table[row][self.image_column].convert("RGB")
        except DECOMPRESSION_BOMB as err:
            raise too_large(f"in row {row} of {self.where}", err) from err
        except (UnidentifiedImageError, OSError, SyntaxError) as err:
            raise CorruptImageError(
                f"cannot decode the image in row {row} of {self.where}: {err}. Clear this dataset from the Hugging Face cache and run again."
            ) from err


def open_entry(dataset: str, entry: HubEntry, rename: naming.NameRule = naming.spaced) -> HubData:
    """Resolve ``entry``'s class names (cheap) and return a lazy loader of its split. ``rename``
    maps the mirror's raw class names to CoOp's (``None`` drops a class and its rows)."""
    entry = resolve_revision(dataset, entry)
    if entry.classnames in imagenet.LABEL_SPACES:
        _check_split(entry, _builder(dataset, entry))  # an unreachable mirror fails now, before any model work
        keys, names, indices = imagenet.label_space(entry.classnames)
        new_label: list[int | None] = list(range(len(keys)))
    else:
        keys = _raw_classnames(dataset, entry)
        renamed = [rename(k) for k in keys]
        names = [n for n in renamed if n is not None]
        new_label = _compact([n is not None for n in renamed])
        indices = None

    def load_test() -> HubSplit:
        table = _load_split(dataset, entry)
        rows, labels = _map_labels(entry, table[entry.label_column], keys, new_label)
        if not rows:
            raise DatasetFormatError(
                f"Hugging Face mirror {entry.where} (split {entry.split!r}) has no rows{' of the classes kept' if len(table) else ''}; "
                "check the split of its HubEntry, or clear this dataset from the Hugging Face cache and run again"
            )
        digest = hashlib.sha256(repr((rows, labels)).encode()).hexdigest()[:16]
        return HubSplit(table, rows, labels, entry.image_column, f"{dataset}/test/hub:{entry.where}/{digest}", entry.where)

    return HubData(names, load_test, f"hub:{entry.where}", indices)


def resolve_revision(dataset: str, entry: HubEntry) -> HubEntry:
    """``entry`` at an exact commit: an unpinned Hub mirror gets the commit its ``main`` points to
    now (asked of the Hub; offline, read from the Hugging Face cache), so a run never loads a
    moving branch without recording which commit it was."""
    if entry.revision is not None or Path(entry.repo_id).is_dir():
        return entry
    cached = Path(huggingface_hub.constants.HF_HUB_CACHE) / f"datasets--{entry.repo_id.replace('/', '--')}" / "refs" / "main"
    try:
        sha = huggingface_hub.HfApi().dataset_info(entry.repo_id, revision="main").sha
    except OSError as err:  # offline (OfflineModeIsEnabled), unreachable or refused: use the cached ref
        if not cached.is_file():
            raise _unreachable(dataset, entry, err) from err
        sha = cached.read_text().strip()
    return dataclasses.replace(entry, revision=sha)


def _compact(keep: list[bool]) -> list[int | None]:
    """Old label -> new label once the dropped classes are removed."""
    out, next_label = [], 0
    for k in keep:
        out.append(next_label if k else None)
        next_label += k
    return out


def _unreachable(dataset: str, entry: HubEntry, err: Exception) -> DatasetNotFoundError:
    return DatasetNotFoundError(
        f"dataset {dataset!r}: cannot load the Hugging Face mirror {entry.where} ({type(err).__name__}: {err}). "
        "Check the network (with HF_HUB_OFFLINE=1 the mirror must already be in the Hugging Face cache), "
        "or use local data: set ZSBENCH_SOURCE=local and pass --data-root DIR or set ZSBENCH_DATA=DIR."
    )


def _require_column(entry: HubEntry, columns, column: str, role: str) -> None:
    if column not in columns:
        raise DatasetFormatError(
            f"Hugging Face mirror {entry.where} (split {entry.split!r}) has no {role} column {column!r}; "
            f"its columns are {sorted(columns)}. Fix the {role}_column of its HubEntry."
        )


def _raw_classnames(dataset: str, entry: HubEntry) -> list[str]:
    kind, _, filename = entry.classnames.partition(":")
    if kind == "file":
        return _repo_file_lines(dataset, entry, filename)
    if kind != "features":
        raise DatasetFormatError(f"HubEntry {entry.repo_id}: classnames={entry.classnames!r} is not 'features', 'file:<name>' or an ImageNet label space; fix its HubEntry")
    features = _features(dataset, entry)
    _require_column(entry, features, entry.label_column, "label")
    _require_column(entry, features, entry.image_column, "image")
    feature = features[entry.label_column]
    if not isinstance(feature, datasets.ClassLabel):
        raise DatasetFormatError(
            f"Hugging Face mirror {entry.where}: label column {entry.label_column!r} is {feature}, not a ClassLabel "
            "with class names; give its HubEntry classnames='file:<classnames file>'."
        )
    return list(feature.names)


def _repo_file_lines(dataset: str, entry: HubEntry, filename: str) -> list[str]:
    if Path(entry.repo_id).is_dir():
        path = Path(entry.repo_id) / filename
    else:
        try:
            path = Path(hf_hub_download(entry.repo_id, filename, repo_type="dataset", revision=entry.revision))
        except OSError as err:
            raise _unreachable(dataset, entry, err) from err
    if not path.is_file():
        raise DatasetNotFoundError(f"dataset {dataset!r}: {entry.where} has no {filename}, which its HubEntry names as the class-name file")
    try:
        names = [line.strip() for line in path.read_text(encoding="utf-8-sig").splitlines() if line.strip()]
    except UnicodeDecodeError as err:
        raise DatasetFormatError(
            f"dataset {dataset!r}: {path} (the class names of {entry.where}) is not UTF-8 text (byte {err.start}); "
            "clear this dataset from the Hugging Face cache and run again"
        ) from None
    if not names:
        raise DatasetFormatError(f"dataset {dataset!r}: {path} (the class names of {entry.where}) is empty; "
                                 "clear this dataset from the Hugging Face cache and run again")
    return names


def _builder(dataset: str, entry: HubEntry) -> datasets.DatasetBuilder:
    """The repo's builder: its metadata and data-file list, without the data."""
    try:
        return datasets.load_dataset_builder(entry.repo_id, revision=entry.revision)
    except OSError as err:
        raise _unreachable(dataset, entry, err) from err


def _features(dataset: str, entry: HubEntry) -> datasets.Features:
    """The repo's features from its card metadata, else from the first data file's Parquet schema
    (which stores them), reading only the footer."""
    builder = _builder(dataset, entry)
    _check_split(entry, builder)
    if builder.info.features is not None:
        return builder.info.features
    files = _data_files(builder).get(entry.split)
    if not files:
        raise DatasetFormatError(f"Hugging Face mirror {entry.where} has no data files; fix the repo_id of its HubEntry")
    try:
        with fsspec.open(files[0], "rb") as f:
            return datasets.Features.from_arrow_schema(pq.read_schema(f))
    except OSError as err:
        raise _unreachable(dataset, entry, err) from err


def _check_split(entry: HubEntry, builder: datasets.DatasetBuilder) -> None:
    """The entry's split is among the repo's data files (else ``load_dataset`` fails only when the
    images are loaded, with a bare ``ValueError``)."""
    files = _data_files(builder)
    if files and not files.get(entry.split):
        raise DatasetFormatError(f"Hugging Face mirror {entry.where} has no split {entry.split!r}; it has {sorted(files)}; fix the split of its HubEntry")


def _data_files(builder: datasets.DatasetBuilder) -> dict[str, list]:
    """The repo's data files by split name (keys may be ``NamedSplit``s)."""
    return {str(k): v for k, v in (builder.config.data_files or {}).items()}


def _load_split(dataset: str, entry: HubEntry) -> datasets.Dataset:
    try:
        table = datasets.load_dataset(entry.repo_id, revision=entry.revision, split=entry.split)
    except OSError as err:
        raise _unreachable(dataset, entry, err) from err
    _require_column(entry, table.column_names, entry.label_column, "label")
    _require_column(entry, table.column_names, entry.image_column, "image")
    if not isinstance(table.features[entry.image_column], datasets.Image):
        raise DatasetFormatError(f"Hugging Face mirror {entry.where}: column {entry.image_column!r} is {table.features[entry.image_column]}, not an image column; fix the image_column of its HubEntry")
    return table


def _map_labels(entry: HubEntry, values, keys: list[str], new_label: list[int | None]) -> tuple[list[int], list[int]]:
    """Rows kept and their labels. A label value is an index into ``keys`` or one of ``keys``."""
    position = {k: i for i, k in enumerate(keys)}
    rows, labels = [], []
    for row, value in enumerate(values):
        index = value if isinstance(value, int) else position.get(value)
        if index is None or not 0 <= index < len(keys):
            raise DatasetFormatError(
                f"Hugging Face mirror {entry.where}: row {row} has label {value!r} in column {entry.label_column!r}, "
                f"which is not one of its {len(keys)} classes; fix the classnames of its HubEntry, or clear this "
                "dataset from the Hugging Face cache and run again"
            )
        if new_label[index] is not None:
            rows.append(row)
            labels.append(new_label[index])
    return rows, labels
