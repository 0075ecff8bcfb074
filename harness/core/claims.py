"""Claim files: two workers never compute the same unit, however the work was sharded.

Before computing a unit, a worker creates ``<unit id>.claim`` exclusively (``O_CREAT | O_EXCL``,
atomic on local and NFS v3+ file systems). The file records the host, the pid and a token. While the
unit runs, a heartbeat thread refreshes the file's modification time. The claim is removed when the
unit's output (a results row, a cache entry) has been written. A worker that finds a claim leaves the
unit alone, or, for a cache entry it needs, waits for it.

A claim whose heartbeat is older than ``stale_after`` seconds belongs to a worker that died: a
killed array task, or a node that went down. So does a claim from this host whose process is gone.
Either is taken over. The taker first renames the stale file to a name of its own, which only one
renamer can win, and then claims afresh. So a sweep that was killed halfway and submitted again
finishes without waiting and without redoing a finished unit.
"""
from __future__ import annotations

import hashlib
import json
import os
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path


STALE_AFTER_S = 600.0  # a claim whose heartbeat is this old is taken over
HEARTBEAT_S = 30.0
POLL_S = 0.5  # how often a worker waiting on another's unit looks again


@dataclass
class Claim:
    path: Path
    token: str
    board: "ClaimBoard" = field(repr=False)

    def release(self) -> None:
        """Remove the claim if it is still ours (a worker that was presumed dead may find it taken)."""
        self.board._held.pop(self.token, None)
        if _read(self.path).get("token") == self.token:
            self.path.unlink(missing_ok=True)

    def __enter__(self) -> "Claim":
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def _read(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, another user's
        return True
    return True


class ClaimBoard:
    """The claims of one folder (``<cache>/claims`` for cache entries, ``<results>/.claims`` for
    evaluations)."""

    def __init__(self, root: Path | str, stale_after: float = STALE_AFTER_S, heartbeat: float = HEARTBEAT_S):
        self.root = Path(root)
        self.stale_after, self.heartbeat = stale_after, heartbeat
        self.host = socket.gethostname()
        self._held: dict[str, Path] = {}
        self._beating: threading.Thread | None = None
        self._lock = threading.Lock()

    def path(self, kind: str, key: str) -> Path:
        return self.root / f"{hashlib.sha256(f'{kind}:{key}'.encode()).hexdigest()[:24]}.claim"

    def holder(self, kind: str, key: str) -> dict:
        """What the unit's claim file says (host, pid, ...), or {} when it is not claimed."""
        return _read(self.path(kind, key))

    def try_claim(self, kind: str, key: str) -> Claim | None:
        """The unit's claim, or None when a live worker holds it."""
        path = self.path(kind, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(3):
            token = secrets.token_hex(8)
            try:
                fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
            except FileExistsError:
                if not self._stale(path):
                    return None
                try:  # one renamer wins; the others find the file gone and try again
                    os.rename(path, path.with_name(f".{path.name}.taken-{token}"))
                    path.with_name(f".{path.name}.taken-{token}").unlink(missing_ok=True)
                except FileNotFoundError:
                    pass
                continue
            with os.fdopen(fd, "w") as f:
                json.dump({"host": self.host, "pid": os.getpid(), "token": token, "kind": kind, "key": key,
                           "claimed_at": time.time()}, f)
            self._hold(token, path)
            return Claim(path, token, self)
        return None

    def _stale(self, path: Path) -> bool:
        try:
            age = time.time() - path.stat().st_mtime
        except FileNotFoundError:
            return True
        info = _read(path)
        if info.get("host") == self.host and isinstance(info.get("pid"), int) and not _alive(info["pid"]):
            return True
        return age > self.stale_after

    def _hold(self, token: str, path: Path) -> None:
        with self._lock:
            self._held[token] = path
            if self._beating is None or not self._beating.is_alive():
                self._beating = threading.Thread(target=self._beat, name="zsbench-claims", daemon=True)
                self._beating.start()

    def _beat(self) -> None:
        while True:
            time.sleep(self.heartbeat)
            for path in list(self._held.values()):
                try:
                    os.utime(path)
                except FileNotFoundError:
                    pass
