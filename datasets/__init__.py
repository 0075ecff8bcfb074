"""zsbench's datasets (installed as ``zsbench.datasets``): registered datasets and suites. Importing
the package registers nothing (so that importing one module stays cheap); the registries import
``catalog``, ``suites`` and ``toy`` on first use.

Inside this package ``import datasets`` is the Hugging Face library (absolute imports); our own
modules are imported relatively. When Python starts in the repository root, this folder is also
reachable as a top-level ``datasets``; that import is handed over to the Hugging Face library, so
our folder never shadows it.
"""
if __name__ != "zsbench.datasets":  # imported as top-level `datasets` because the repository root is on sys.path
    import importlib.util
    import sys
    from importlib.machinery import PathFinder
    from pathlib import Path

    _repo_root = Path(__file__).resolve().parents[1]
    _spec = PathFinder.find_spec(__name__, [p for p in sys.path if Path(p or ".").resolve() != _repo_root])
    if _spec is None:
        raise ImportError("the Hugging Face `datasets` library is not installed (pip install datasets)")
    sys.modules[__name__] = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(sys.modules[__name__])
