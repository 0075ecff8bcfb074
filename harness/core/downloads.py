"""Pinned public files (description files, prompt-template pools): fetched once from their public
source at a pinned commit into the cache, and checked against a checksum on every use.

A :class:`PinnedFile` names the URL, the checksum (``sha256:<hex>``, or ``git-blob:<sha1>``: the
object id the repository's tree lists for the file, for files we could not hash ourselves) and
where the cache keeps it. :func:`fetch` returns the cached copy when its bytes match the
checksum, else downloads it (written atomically; a download that does not match is refused and
not cached). Offline, the error names the URL and the exact path to put the file at.
"""
from __future__ import annotations

import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from zsbench.harness.core.atomic import atomic_write
from zsbench.harness.core.errors import UserError
from zsbench.harness.core.cache_dir import default_cache_dir
from zsbench.harness.core.hashing import bytes_sha256, git_blob_sha1

CHECKSUM_KINDS = ("sha256", "git-blob")


class DownloadError(UserError):
    """A pinned file that cannot be downloaded or does not match its checksum; the message says
    where to put a copy by hand."""


@dataclass(frozen=True)
class PinnedFile:
    url: str
    checksum: str  # "sha256:<hex>" or "git-blob:<sha1>"
    cache_name: str  # path under <cache>/downloads/

    def __post_init__(self):
        kind, _, digest = self.checksum.partition(":")
        if kind not in CHECKSUM_KINDS or not digest:
            raise ValueError(f"PinnedFile {self.url}: checksum {self.checksum!r} is not sha256:<hex> or git-blob:<sha1>")


def checksum_of(data: bytes, kind: str) -> str:
    """``data``'s checksum in the given kind's notation (``sha256:...`` / ``git-blob:...``)."""
    return f"{kind}:{bytes_sha256(data) if kind == 'sha256' else git_blob_sha1(data)}"


def matches(data: bytes, checksum: str) -> bool:
    return checksum_of(data, checksum.partition(":")[0]) == checksum


def cache_path(pinned: PinnedFile, cache_dir: Path | str | None = None) -> Path:
    return Path(cache_dir or default_cache_dir()) / "downloads" / pinned.cache_name


def fetch(pinned: PinnedFile, cache_dir: Path | str | None = None, timeout: float = 60.0, alternative: str = "") -> Path:
    """The verified cached copy of ``pinned``, downloading it first if needed. ``alternative`` is
    appended to the offline error (e.g. "or pass --set descriptions=PATH to a local copy")."""
    path = cache_path(pinned, cache_dir)
    if path.is_file() and matches(path.read_bytes(), pinned.checksum):
        return path
    where = f"{path} (a copy there that does not match is replaced)" if path.exists() else str(path)
    try:
        with urllib.request.urlopen(pinned.url, timeout=timeout) as response:
            data = response.read()
    except (urllib.error.URLError, OSError, ValueError) as err:
        raise DownloadError(
            f"cannot download {pinned.url} ({getattr(err, 'reason', err)}). Offline, download it on a connected machine "
            f"and save it as {where}{', ' + alternative if alternative else ''}") from None
    if not matches(data, pinned.checksum):
        kind = pinned.checksum.partition(":")[0]
        raise DownloadError(f"{pinned.url} downloaded with {checksum_of(data, kind)}, expected {pinned.checksum}; "
                            f"not cached{'; ' + alternative if alternative else ''}")
    with atomic_write(path) as f:
        f.write(data)
    return path
