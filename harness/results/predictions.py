"""Per-image predictions: what every evaluation decided for every test image.

Each evaluation writes ``results/predictions/<eval_id>.parquet`` (atomically, before its results
row, so a row never names predictions that are not there): one row per test image with its stable
``image_id`` (path relative to the data root, the Hub row, or the toy world's index), ``label``,
``correct`` (top-1), ``top5_classes`` and ``top5_logits`` (the five highest-scoring class indices,
best first, and their logits; fewer when there are fewer classes), and with ``--save-logits`` the
full ``logits`` row in float16. They join to the results by ``eval_id`` and make paired tests
between methods possible (``zsbench compare``, the leaderboard's tie marks).

Size: zstd-compressed, class indices as int16 and top-5 logits as float32; ImageNet's 50,000
images take 1.4 MB per evaluation, 74 MB with ``--save-logits`` (see ``tests/test_predictions.py``).
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from zsbench.harness.core.atomic import atomic_write

PREDICTIONS_DIR = "predictions"
TOP_K = 5


class PredictionsFileSkipped(UserWarning):
    """An evaluation whose predictions file is missing or unreadable."""


def predictions_path(results_dir: str | Path, eval_id: str) -> Path:
    return Path(results_dir) / PREDICTIONS_DIR / f"{eval_id}.parquet"


def predictions_table(eval_id: str, image_ids: list[str], labels: torch.Tensor, logits: torch.Tensor,
                      save_logits: bool = False) -> pa.Table:
    """The per-image table of one evaluation (``logits`` [N, C], ``labels`` [N])."""
    logits = logits.detach().float().cpu()
    labels = labels.cpu()
    n, c = logits.shape
    if len(image_ids) != n or labels.shape[0] != n:
        raise ValueError(f"{n} rows of logits for {len(image_ids)} image ids and {labels.shape[0]} labels")
    k = min(TOP_K, c)
    top_logits, top_classes = logits.topk(k, dim=1)
    index_type = pa.int16() if c < 2 ** 15 else pa.int32()
    columns = {
        "eval_id": pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, dtype=np.int32)), pa.array([eval_id])),
        "image_id": pa.array(image_ids, type=pa.string()),
        "label": pa.array(labels.numpy().astype(np.int32)),
        "correct": pa.array((top_classes[:, 0] == labels).numpy()),
        "top5_classes": pa.FixedSizeListArray.from_arrays(
            pa.array(top_classes.numpy().astype(np.int16 if index_type == pa.int16() else np.int32).ravel()), k),
        "top5_logits": pa.FixedSizeListArray.from_arrays(pa.array(top_logits.numpy().astype(np.float32).ravel()), k),
    }
    if save_logits:
        columns["logits"] = pa.FixedSizeListArray.from_arrays(pa.array(logits.numpy().astype(np.float16).ravel()), c)
    return pa.table(columns)


def write_predictions(results_dir: str | Path, table: pa.Table) -> Path:
    """Write one evaluation's table atomically to ``predictions/<eval_id>.parquet``."""
    eval_id = table["eval_id"][0].as_py()
    path = predictions_path(results_dir, eval_id)
    with atomic_write(path) as f:
        pq.write_table(table, f, compression="zstd", compression_level=9,
                       use_dictionary=["eval_id"], use_byte_stream_split=["top5_logits"])
    return path


def read_predictions(results_dir: str | Path, eval_id: str) -> pd.DataFrame | None:
    """One evaluation's predictions, or None (with a warning) when its file is missing or unreadable."""
    path = predictions_path(results_dir, eval_id)
    try:
        table = pq.read_table(path)
    except FileNotFoundError:
        reason = "it has no predictions file (evaluated before zsbench wrote per-image predictions?)"
    except (pa.ArrowException, OSError) as err:
        reason = f"its predictions file cannot be read ({type(err).__name__}: {err})"
    else:
        df = table.to_pandas()
        df["eval_id"] = df["eval_id"].astype(str)
        return df
    warnings.warn(f"evaluation {eval_id} in {results_dir}: {reason}; re-run it with --force to write them",
                  PredictionsFileSkipped, stacklevel=3)
    return None


def read_correctness(results_dir: str | Path, eval_id: str) -> pd.Series | None:
    """One evaluation's per-image top-1 correctness (1.0/0.0, indexed by image id), reading only
    those two columns; None when its predictions file is missing or unreadable."""
    try:
        table = pq.read_table(predictions_path(results_dir, eval_id), columns=["image_id", "correct"])
    except (OSError, ValueError, pa.ArrowException):
        return None
    return pd.Series(np.asarray(table["correct"], dtype=np.float64), index=table["image_id"].to_pylist())


def mean_correctness(series: list[pd.Series]) -> pd.Series | None:
    """The per-image correctness averaged over several runs (seeds) of the same images, in the
    first run's image order; None when they do not cover the same images."""
    if not series:
        return None
    first = series[0]
    if any(len(s) != len(first) or not s.index.isin(first.index).all() for s in series[1:]):
        return None
    return pd.concat([s.reindex(first.index) for s in series], axis=1).mean(axis=1)


def load_predictions(results_dir: str | Path = "results", **filters) -> pd.DataFrame:
    """The per-image predictions of every evaluation in ``results_dir`` that matches ``filters``
    (results columns and the value, or list of values, to keep: ``method="abs", seed=[1, 2]``;
    ``None`` keeps missing values, e.g. ``limit=None`` the full evaluations), as one DataFrame that
    joins to ``load_results`` on ``eval_id``."""
    from zsbench.harness.results.store import load_results

    results = load_results(results_dir)
    for column, wanted in filters.items():
        if column not in results.columns:
            raise KeyError(f"load_predictions: no results column {column!r}; columns: {', '.join(results.columns)}")
        values = list(wanted) if isinstance(wanted, (list, tuple, set)) else [wanted]
        keep = results[column].isin([v for v in values if v is not None])
        if None in values:  # None selects missing values (limit=None: full evaluations)
            keep |= results[column].isna()
        results = results[keep]
    frames = [df for df in (read_predictions(results_dir, e) for e in results["eval_id"].dropna()) if df is not None]
    if not frames:
        return pd.DataFrame(columns=["eval_id", "image_id", "label", "correct", "top5_classes", "top5_logits"])
    return pd.concat(frames, ignore_index=True)
