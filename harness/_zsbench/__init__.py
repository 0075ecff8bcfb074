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

__all__ = ["load_results", "__version__"]


def load_results(results_dir="results", latest_only: bool = True):
    """All evaluations in a results directory as a pandas DataFrame, one row per evaluation."""
    from zsbench.harness.results_store import load_results as _load

    return _load(results_dir, latest_only=latest_only)
