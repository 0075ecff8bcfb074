"""The results store: one Parquet file per run under ``results/``, the single source of truth.

Every evaluation appends one row, and the run file is rewritten atomically after each row, so an
interrupted run keeps the evaluations it finished and never leaves a half-written file behind.
All files share one explicit schema, so runs from different machines and versions concatenate.
"""
from __future__ import annotations

import numbers
import secrets
import warnings
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from .atomic import atomic_write

# A results row is identified by these; a later row with the same key supersedes an earlier one.
KEY_COLUMNS = ["method", "model", "pretrained", "dataset", "split", "seed", "shots", "config_hash"]
# An evaluation is its key plus ``limit``: a ``--limit N`` smoke run scores other images, so it
# neither replaces nor stands in for the full evaluation of the same key.
IDENTITY_COLUMNS = KEY_COLUMNS + ["limit"]

SCHEMA = pa.schema(
    [
        ("method", pa.string()),
        ("model", pa.string()),
        ("pretrained", pa.string()),
        ("dataset", pa.string()),
        ("split", pa.string()),
        ("seed", pa.int64()),
        ("shots", pa.int64()),
        ("config_hash", pa.string()),
        ("suite", pa.string()),
        ("acc1", pa.float64()),  # percent, 0-100
        ("acc5", pa.float64()),
        ("mean_per_class_recall", pa.float64()),
        ("n_images", pa.int64()),
        ("n_classes", pa.int64()),
        ("config_json", pa.string()),
        ("seconds_total", pa.float64()),
        ("setup_seconds", pa.float64()),
        ("images_per_s", pa.float64()),
        ("latency_ms_per_image", pa.float64()),
        ("device", pa.string()),
        ("device_name", pa.string()),
        ("precision", pa.string()),
        ("batch_size", pa.int64()),
        ("data_source", pa.string()),
        ("zsbench_version", pa.string()),
        ("git_sha", pa.string()),
        ("torch_version", pa.string()),
        ("open_clip_version", pa.string()),
        ("timestamp", pa.string()),  # ISO-8601 UTC
        ("run_id", pa.string()),
        ("limit", pa.int64()),  # --limit images per dataset; null for a full evaluation
    ]
)
COLUMNS = SCHEMA.names

_PANDAS_TYPES = {pa.int64(): pd.Int64Dtype()}  # nullable ints stay ints in pandas


class ResultsFileSkipped(UserWarning):
    """A file in the results folder that is not a readable zsbench results file."""


def new_run_id() -> str:
    """``20261122T101500Z-ab12cd``: sorts by start time, random suffix for concurrent runs."""
    return f"{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def _now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def _column(name: str, values: list, type_: pa.DataType | None) -> pa.Array:
    """One column as Arrow, with a ValueError naming the column for a value of the wrong type."""
    if type_ == pa.int64():
        bad = [v for v in values if v is not None and (isinstance(v, bool) or not isinstance(v, numbers.Integral))]
        if bad:
            raise ValueError(f"results column {name!r} must hold integers, got {bad[0]!r}")
    try:
        return pa.array(values, type=type_)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as err:
        expected = type_ if type_ is not None else "one type across rows"
        raise ValueError(f"results column {name!r}: cannot store {values!r} as {expected}: {err}") from None


def _rows_to_table(rows: list[dict]) -> pa.Table:
    extras = sorted({k for row in rows for k in row} - set(COLUMNS))
    arrays = [_column(f.name, [row.get(f.name) for row in rows], f.type) for f in SCHEMA]
    arrays += [_column(k, [row.get(k) for row in rows], None) for k in extras]
    return pa.Table.from_arrays(arrays, names=COLUMNS + extras)


def _write_atomic(table: pa.Table, path: Path) -> None:
    """Write to a hidden temp file in the same folder, fsync, then rename over ``path``.

    The rename is atomic, so readers see the old file or the new one, never a partial one; on any
    error (Ctrl-C included) the temp file is removed.
    """
    with atomic_write(path) as f:
        pq.write_table(table, f)


class RunWriter:
    """Collects the rows of one run and keeps ``run-<run_id>.parquet`` up to date after each row."""

    def __init__(self, results_dir: str | Path):
        self.run_id = new_run_id()
        self.results_dir = Path(results_dir)
        self.results_dir.mkdir(parents=True, exist_ok=True)
        self.path = self.results_dir / f"run-{self.run_id}.parquet"
        self.rows: list[dict] = []

    def append(self, row: dict) -> None:
        """Validate ``row``, then rewrite the run file with every row so far.

        ``suite`` defaults to "", ``run_id`` to this run and ``timestamp`` to now. The row is kept
        only once the file holding it is written.
        """
        missing = [c for c in KEY_COLUMNS if row.get(c) is None]
        if missing:
            raise ValueError(f"results row is missing key column(s) {', '.join(missing)}; every row needs {KEY_COLUMNS}")
        row = {"suite": "", "run_id": self.run_id, "timestamp": _now_iso(), **row}
        rows = self.rows + [row]
        _write_atomic(_rows_to_table(rows), self.path)
        self.rows = rows


def _conform(table: pa.Table) -> pa.Table:
    """Cast a run file to the current schema (columns it predates become null); extras kept."""
    missing = [c for c in KEY_COLUMNS if c not in table.column_names]
    if missing:
        raise ValueError(f"it has no key column(s) {', '.join(missing)}, so it is not a zsbench results file")
    arrays = []
    for f in SCHEMA:
        if f.name not in table.column_names:
            arrays.append(pa.nulls(table.num_rows, f.type))
            continue
        try:
            arrays.append(table[f.name].cast(f.type))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as err:
            raise ValueError(f"its column {f.name!r} cannot be read as {f.type}: {err}") from None
    extras = [c for c in table.column_names if c not in COLUMNS]
    return pa.Table.from_arrays(arrays + [table[c] for c in extras], names=COLUMNS + extras)


def _read_run(path: Path) -> pa.Table | None:
    """A run file conformed to the schema, or None (with a warning) when it cannot be used."""
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError, ValueError) as err:
        reason = f"it cannot be read as Parquet ({type(err).__name__}: {err})"
    else:
        try:
            return _conform(table)
        except ValueError as err:
            reason = str(err)
    warnings.warn(f"skipped results file {path}: {reason}", ResultsFileSkipped, stacklevel=3)
    return None


def load_results(results_dir: str | Path, latest_only: bool = True) -> pd.DataFrame:
    """All rows of the run files directly in ``results_dir``, sorted by key then time.

    Hidden files (temp files of a write in progress) and subfolders (``reference/``) are not
    read. With ``latest_only``, a key evaluated more than once keeps only its latest row.
    """
    results_dir = Path(results_dir)
    paths = sorted(p for p in results_dir.glob("*.parquet") if p.is_file() and not p.name.startswith("."))
    tables = []
    for path in paths:
        table = _read_run(path)
        if table is not None:
            tables.append(table)
    if not tables:
        return SCHEMA.empty_table().to_pandas(types_mapper=_PANDAS_TYPES.get)
    table = pa.concat_tables(tables, promote_options="permissive")
    extras = sorted(c for c in table.column_names if c not in COLUMNS)
    df = table.select(COLUMNS + extras).to_pandas(types_mapper=_PANDAS_TYPES.get)
    when = pd.to_datetime(df["timestamp"], utc=True, format="ISO8601", errors="coerce")
    order = df.assign(_when=when).sort_values(["_when", "run_id"], kind="stable", na_position="first").index
    df = df.loc[order]
    if latest_only:
        df = df.drop_duplicates(IDENTITY_COLUMNS, keep="last")
    return df.sort_values(KEY_COLUMNS, kind="stable").reset_index(drop=True)


def completed_keys(results_dir: str | Path) -> set[tuple]:
    """Evaluations already in the results, as tuples in ``IDENTITY_COLUMNS`` order (the key, then
    ``limit`` as an int or None), for resuming a run."""
    df = load_results(results_dir)
    limits = [None if pd.isna(v) else int(v) for v in df["limit"]]
    return set(zip(*(df[c].tolist() for c in KEY_COLUMNS), limits))
