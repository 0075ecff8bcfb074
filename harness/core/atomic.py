"""Atomic file writes: a crash or Ctrl-C leaves the old file or the complete new one, never half.

Used by everything zsbench persists (results, predictions, leaderboard, feature cache, few-shot
subsets, downloaded files). The file gets the mode an ordinary ``open`` would give it
(``0o666`` minus the umask), not the ``0o600`` of the temp file it is written through, so a
shared results or cache folder stays readable by the group.
"""
from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Iterator


def _umask() -> int:
    """The process's umask, read without changing it where Linux shows it (``/proc/self/status``):
    setting and restoring it would, for that instant, give files other threads create the wrong mode."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_write(path: str | Path, mode: str = "wb") -> Iterator[IO]:
    """Write to a hidden temp file beside ``path``; on success fsync and rename it over ``path``;
    on any error (KeyboardInterrupt included) remove the temp file and re-raise."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=path.suffix, dir=path.parent)
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fchmod(f.fileno(), 0o666 & ~_umask())
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
