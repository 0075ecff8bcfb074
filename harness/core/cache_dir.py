"""Where zsbench keeps what it computes or downloads: ``$ZSBENCH_CACHE`` or ``~/.cache/zsbench``.
Its own module (no torch) so that the downloader, and the dataset records that name downloads, stay
cheap to import."""
from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "ZSBENCH_CACHE"


def default_cache_dir() -> Path:
    """``$ZSBENCH_CACHE`` or ``~/.cache/zsbench``: features, few-shot subsets, learned state, downloads."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "zsbench").expanduser()
