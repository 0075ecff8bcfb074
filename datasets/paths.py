"""Where local data lives: the data root (``--data-root`` / ``ZSBENCH_DATA``), resolved in one place
so every loader and error message agrees on it. (The cache root is the feature cache's.)"""
from __future__ import annotations

import os
from pathlib import Path

DATA_ENV = "ZSBENCH_DATA"


def resolve_data_root(data_root: Path | str | None = None) -> Path | None:
    """The folder holding one sub-folder per dataset: ``data_root`` if given, else ``$ZSBENCH_DATA``,
    else ``None`` (no local data configured)."""
    chosen = data_root if data_root not in (None, "") else os.environ.get(DATA_ENV)
    return Path(chosen).expanduser() if chosen else None

