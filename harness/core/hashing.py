"""Content hashes: what identifies a file, a blob or a JSON-able value, the same on every machine.

Everything zsbench keys by content (results, cached features, downloaded files) hashes through
here, so two spellings of the same content always agree.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any


def file_sha256(path: str | Path) -> str:
    """The sha256 hex digest of a file's bytes (read in 4 MiB chunks)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()


def bytes_sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def git_blob_sha1(data: bytes) -> str:
    """Git's object id of a file with these bytes (``sha1("blob <size>\\0" + data)``): the id a
    repository's tree lists for it, so a file can be checked against a public commit's tree."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def json_sha256(value: Any) -> str:
    """The sha256 of ``value`` as JSON with sorted keys (``default=str`` for paths and the like)."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()
