"""zsbench's datasets (installed as ``zsbench.datasets``): registered datasets and suites.

Inside this package ``import datasets`` is the Hugging Face library (absolute imports); our own
modules are imported relatively.
"""
from . import catalog, suites, toy  # noqa: F401
