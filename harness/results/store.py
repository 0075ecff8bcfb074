"""The results store: one Parquet file per run under ``results/``, the single source of truth.

Every evaluation appends one row, and the run file is rewritten atomically after each row, so an
interrupted run keeps the evaluations it finished and never leaves a half-written file behind.
All files share one explicit schema, so runs from different machines and versions concatenate.

An evaluation is identified by content (``eval_id``): the hash of everything that produced it
(method and config, the weights' content, the task: class names, label space, templates, the test
split's data fingerprint, description and template file contents, the few-shot source, seed and
``--limit``; see ``harness.evaluation_id``). A changed input is a new evaluation; re-running the same
evaluation (``--force``) supersedes its row. ``schema_version`` says which layout a row was written
with: version 1 rows (before content identity) still load, with null identity columns, and are
never taken as the evaluation of a current run. Per-image predictions live beside the run files,
in ``predictions/<eval_id>.parquet`` (``harness.predictions``).
"""
from __future__ import annotations

import json
import numbers
import secrets
import warnings
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from zsbench.harness.core.atomic import atomic_write
from zsbench.harness.core.errors import UserError

SCHEMA_VERSION = 4  # 3: the latency protocol's columns (batch-1 percentiles, device facts); 4: where it ran (host, Slurm job, shard)
# What a row is about, in words (sorting, display); the evaluation itself is ``eval_id``.
KEY_COLUMNS = ["method", "model", "pretrained", "dataset", "split", "seed", "shots", "config_hash"]
# How schema-1 rows (no eval_id) were told apart: their key plus ``limit``.
LEGACY_IDENTITY_COLUMNS = KEY_COLUMNS + ["limit"]
OUTPUT_PREFIX = "out_"  # method-specific outputs (GDA's alpha, ZPE's prompt counts, ...)

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
        ("timestamp", pa.timestamp("us", tz="UTC")),
        ("run_id", pa.string()),
        ("limit", pa.int64()),  # --limit images per dataset; null for a full evaluation
        ("schema_version", pa.int64()),
        ("eval_id", pa.string()),  # content identity of the evaluation (inputs_hash + seed)
        ("inputs_hash", pa.string()),  # everything but the seed: rows of one mean share it
        ("weights_id", pa.string()),  # content identity of the model weights
        ("task_hash", pa.string()),  # class names, label space, templates, test data fingerprint
        ("classes", pa.string()),  # all | base | new (base-to-new evaluations)
        ("acc1_ci95_low", pa.float64()),  # 95 % bootstrap interval over test images, percent
        ("acc1_ci95_high", pa.float64()),
        ("mean_per_class_recall_ci95_low", pa.float64()),
        ("mean_per_class_recall_ci95_high", pa.float64()),
        ("n_train", pa.int64()),  # few-shot training images drawn (null for zero-shot)
        # the latency protocol (harness/evaluation/latency.py); images_per_s and latency_ms_per_image
        # above are the throughput at latency_batch
        ("latency_ms_p50", pa.float64()),  # per-image latency at batch 1, median over latency_calls calls
        ("latency_ms_p95", pa.float64()),
        ("latency_calls", pa.int64()),
        ("latency_batch", pa.int64()),  # images per call of the throughput measurement
        ("latency_scope", pa.string()),  # "encoder+head" (timed apart, added) or "whole method"
        ("decode_ms_per_image", pa.float64()),  # reading + decoding (+ transform) one image, one CPU process
        ("gpu_mem_peak_mb", pa.float64()),  # peak CUDA memory allocated during the evaluation
        ("cpu_model", pa.string()),
        ("cpu_threads", pa.int64()),  # torch's intra-op threads
        ("cuda_version", pa.string()),
        ("cudnn_version", pa.string()),
        ("gpu_driver", pa.string()),
        ("workers", pa.int64()),  # DataLoader workers that decoded the test images
        ("batch_size_source", pa.string()),  # "auto" (--batch-size auto) or "flag"
        # where it ran (schema 4): to find a sweep task's logs
        ("host", pa.string()),
        ("slurm_job_id", pa.string()),  # the array's job id under Slurm (SLURM_ARRAY_JOB_ID, else SLURM_JOB_ID)
        ("slurm_array_task_id", pa.string()),
        ("shard", pa.string()),  # "I/N" for a --shard run, null for a whole run
    ]
)
COLUMNS = SCHEMA.names

_PANDAS_TYPES = {pa.int64(): pd.Int64Dtype()}  # nullable ints stay ints in pandas


class ResultsFileSkipped(UserWarning):
    """A file in the results folder that is not a readable zsbench results file."""


def new_run_id() -> str:
    """``20261122T101500Z-ab12cd``: sorts by start time, random suffix for concurrent runs."""
    return f"{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def _now() -> datetime:
    return datetime.now(timezone.utc)


class ResultsError(UserError):
    """A results directory that cannot be used as asked; the message names it and the fix."""


def check_writable(results_dir: str | Path) -> Path:
    """Fail now, before any model work, if ``results_dir`` cannot hold results (a file, a
    read-only folder): creates it and writes and removes a probe file."""
    results_dir = Path(results_dir)
    if results_dir.exists() and not results_dir.is_dir():
        raise ResultsError(f"--results-dir {results_dir} is a file, not a folder; pass a folder (it is created if missing)")
    try:
        results_dir.mkdir(parents=True, exist_ok=True)
        with atomic_write(results_dir / ".write-check"):
            pass
        (results_dir / ".write-check").unlink()
    except OSError as err:
        raise ResultsError(f"--results-dir {results_dir} is not writable ({err.strerror or err}); "
                           "pass a folder you can write to") from None
    return results_dir


def _timestamps(values: list) -> pa.Array:
    """Timestamps as UTC ``timestamp[us]``: datetimes, or ISO-8601 strings (schema-1 files)."""
    parsed = pd.to_datetime(pd.Series(values, dtype=object), utc=True, format="ISO8601", errors="coerce")
    return pa.array(parsed, type=pa.timestamp("us", tz="UTC"))


def _column(name: str, values: list, type_: pa.DataType | None) -> pa.Array:
    """One column as Arrow, with a ValueError naming the column for a value of the wrong type."""
    if name == "timestamp":
        return _timestamps(values)
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

    def append(self, row: dict) -> dict:
        """Validate ``row``, then rewrite the run file with every row so far.

        ``suite`` defaults to "", ``run_id`` to this run, ``timestamp`` to now and
        ``schema_version`` to the current one. The row is kept only once the file holding it is
        written; it is returned as stored.
        """
        missing = [c for c in KEY_COLUMNS if row.get(c) is None]
        if missing:
            raise ValueError(f"results row is missing key column(s) {', '.join(missing)}; every row needs {KEY_COLUMNS}")
        row = {"suite": "", "run_id": self.run_id, "timestamp": _now(), "schema_version": SCHEMA_VERSION, **row}
        rows = self.rows + [row]
        _write_atomic(_rows_to_table(rows), self.path)
        self.rows = rows
        return row


def _conform(table: pa.Table) -> pa.Table:
    """Cast a run file to the current schema (columns it predates become null); extras kept."""
    missing = [c for c in KEY_COLUMNS if c not in table.column_names]
    if missing:
        raise ValueError(f"it has no key column(s) {', '.join(missing)}, so it is not a zsbench results file")
    if "schema_version" in table.column_names:
        versions = [v for v in table["schema_version"].to_pylist() if v is not None]
        if versions and max(versions) > SCHEMA_VERSION:
            raise ValueError(f"it was written by a newer zsbench (results schema {max(versions)}; this one reads up to "
                             f"{SCHEMA_VERSION}): upgrade zsbench (pip install -U zsbench) to read it")
    arrays = []
    for f in SCHEMA:
        if f.name not in table.column_names:
            fill = pa.array([1] * table.num_rows, pa.int64()) if f.name == "schema_version" else pa.nulls(table.num_rows, f.type)
            arrays.append(fill)
            continue
        if f.name == "timestamp" and not pa.types.is_timestamp(table[f.name].type):
            arrays.append(_timestamps(table[f.name].to_pylist()))
            continue
        try:
            arrays.append(table[f.name].cast(f.type))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as err:
            raise ValueError(f"its column {f.name!r} cannot be read as {f.type}: {err}") from None
    extras = [c for c in table.column_names if c not in COLUMNS]
    return pa.Table.from_arrays(arrays + [table[c] for c in extras], names=COLUMNS + extras)


def _read_run(path: Path) -> pa.Table | None:
    """A run file conformed to the schema, or None (with a warning) when it cannot be used."""
    try:  # through one open handle: a path is stat-ed apart from the read, racing a concurrent rewrite
        with path.open("rb") as f:
            table = pq.read_table(f)
    except (pa.ArrowException, OSError, ValueError) as err:
        reason = f"it cannot be read as Parquet ({type(err).__name__}: {err})"
    else:
        try:
            return _conform(table)
        except ValueError as err:
            reason = str(err)
    warnings.warn(f"skipped results file {path}: {reason}", ResultsFileSkipped, stacklevel=3)
    return None


def legacy_classes(config: str) -> str:
    """The base-to-new half of a schema-1 row, from CoOp's ``subsample`` in its config JSON."""
    try:
        return str(json.loads(config).get("subsample", "all")) if isinstance(config, str) and config else "all"
    except ValueError:
        return "all"


def evaluation_keys(df: pd.DataFrame) -> pd.Series:
    """One key per evaluation: ``eval_id``, or for schema-1 rows their legacy identity."""
    legacy = df[LEGACY_IDENTITY_COLUMNS].astype(str).agg("|".join, axis=1)
    return df["eval_id"].where(df["eval_id"].notna(), "legacy|" + legacy)


def load_results(results_dir: str | Path, latest_only: bool = True) -> pd.DataFrame:
    """All rows of the run files directly in ``results_dir``, sorted by key then time.

    Hidden files (temp files of a write in progress) and subfolders (``reference/``,
    ``predictions/``) are not read. With ``latest_only``, an evaluation (``eval_id``) stored more
    than once keeps only its latest row. ``timestamp`` is a timezone-aware (UTC) datetime.
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
    legacy = df["classes"].isna()
    df.loc[legacy, "classes"] = df.loc[legacy, "config_json"].map(legacy_classes)
    df = df.sort_values(["timestamp", "run_id"], kind="stable", na_position="first")
    if latest_only:
        df = df[~evaluation_keys(df).duplicated(keep="last")]
    return df.sort_values(KEY_COLUMNS, kind="stable").reset_index(drop=True)


def completed_evaluations(results_dir: str | Path) -> set[str]:
    """The ``eval_id`` of every evaluation already in the results (for resuming a run)."""
    return set(load_results(results_dir)["eval_id"].dropna())


# What a displayed row is (leaderboard rows, compare's method selection): one method configuration
# on one model and shot count, scored on all classes or a base-to-new half.
ROW_COLUMNS = ["method", "model", "pretrained", "shots", "config_hash", "classes"]


def current_evaluations(df: pd.DataFrame, row_columns: list[str] = ROW_COLUMNS) -> pd.DataFrame:
    """The rows a table may show: per displayed row only the evaluations with its latest weights,
    and per (row, dataset) only those with its latest inputs (``inputs_hash``), so that a mean over
    seeds or an average over datasets never mixes an old and a new input. Schema-1 rows count as
    one unknown input, older than any current row."""
    if df.empty:
        return df
    df = df.sort_values(["timestamp", "run_id"], kind="stable", na_position="first")
    weights = df["weights_id"].astype(object).where(df["weights_id"].notna(), "legacy")
    latest = weights.groupby([df[c] for c in row_columns], dropna=False, sort=False).transform("last")
    df = df[weights == latest]
    inputs = df["inputs_hash"].astype(object).where(df["inputs_hash"].notna(), "legacy")
    latest = inputs.groupby([df[c] for c in row_columns + ["dataset"]], dropna=False, sort=False).transform("last")
    return df[inputs == latest].sort_values(KEY_COLUMNS, kind="stable")
