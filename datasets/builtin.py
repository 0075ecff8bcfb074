"""The built-in datasets by name, with the module whose import registers each: known without
importing those modules (the catalog and the toy world import torch), so that a dataset name can
be listed, resolved or refused cheaply."""
from __future__ import annotations

from .records import RECORDS

CATALOG_MODULE = "zsbench.datasets.catalog"  # registers every record
TOY_MODULE = "zsbench.datasets.toy"  # registers the toy domains
#: The toy world's datasets, in the order of ``zsbench.datasets.toy.domains.DOMAINS`` (a test checks it).
TOY_DATASETS = ("toy", "toy-v2", "toy-sketch", "toy-r", "toy-a", "toy-fine")


def dataset_names() -> dict[str, str]:
    """``{dataset name: module whose import registers it}`` for every built-in dataset."""
    return {**dict.fromkeys(RECORDS, CATALOG_MODULE), **dict.fromkeys(TOY_DATASETS, TOY_MODULE)}
