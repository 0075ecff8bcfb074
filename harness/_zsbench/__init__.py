"""zsbench: benchmark and evaluation harness for zero-shot and few-shot CLIP classification.

The public Python API. The repository folders ``harness/``, ``methods/`` and ``datasets/`` are
installed as the subpackages ``zsbench.harness``, ``zsbench.methods`` and ``zsbench.datasets``.
"""
from __future__ import annotations

from importlib import metadata

try:
    __version__ = metadata.version("zsbench")
except metadata.PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0+unknown"

__all__ = ["load_results", "load_predictions", "compare", "__version__"]


def load_results(results_dir="results", latest_only: bool = True):
    """All evaluations in a results directory as a pandas DataFrame, one row per evaluation
    (``eval_id``); ``latest_only=False`` keeps every stored row, re-runs included."""
    from zsbench.harness.results.store import load_results as _load

    return _load(results_dir, latest_only=latest_only)


def load_predictions(results_dir="results", **filters):
    """Per-image predictions of the evaluations matching ``filters`` (results columns, e.g.
    ``method="abs", dataset="toy"``) as one DataFrame; join to ``load_results`` on ``eval_id``."""
    from zsbench.harness.results.predictions import load_predictions as _load

    return _load(results_dir, **filters)


def compare(method_a: str, method_b: str, dataset: str, results_dir="results", **selection):
    """The paired comparison of two methods on one dataset's test images, as a DataFrame: one row
    per seed pair and one for the mean over seeds (difference, bootstrap 95 % interval, McNemar)."""
    from zsbench.harness.results.compare import compare as _compare

    return _compare(method_a, method_b, dataset, results_dir, **selection)
