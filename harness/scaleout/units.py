"""Units of work and shards: how a sweep is cut so that any number of workers, on any scheduler,
share it without a coordinator.

A sweep is a grid of independent units. There are two kinds:
- **encode** units fill the feature cache. A unit is one (model, dataset, split, view), named by its
  feature-cache key.
- **evaluate** units read the cache and write one results row each. A unit is one (method, dataset,
  seed, shots, ...), named by its content identity ``eval_id``.

A unit's id is a stable hash of its key, never Python's ``hash``, so ``--shard I/N`` selects the
same units in every process, on every machine and under every scheduler. The N shards together
are exactly the serial run's units, each unit in one shard.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from zsbench.harness.core.errors import RunError

ENCODE, EVALUATE = "encode", "evaluate"
PHASES = ("all", ENCODE, EVALUATE)


def unit_id(kind: str, key: str) -> str:
    """The stable id of a unit: sha256 of its kind and key (a cache key or an eval_id), hex."""
    return hashlib.sha256(f"{kind}:{key}".encode()).hexdigest()[:20]


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` (1-based) of ``count``: the units whose id, as a number, is ``index - 1``
    modulo ``count``."""

    index: int = 1
    count: int = 1

    @classmethod
    def parse(cls, text: str | None) -> "Shard":
        if text is None or text == "":
            return cls()
        match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", str(text))
        if not match:
            raise RunError(f"--shard {text}: expected I/N, e.g. --shard 1/4 (shard 1 of 4)")
        index, count = int(match[1]), int(match[2])
        if count < 1 or not 1 <= index <= count:
            raise RunError(f"--shard {text}: I must be between 1 and N, and N at least 1 (e.g. --shard 2/4)")
        return cls(index, count)

    @property
    def whole(self) -> bool:
        return self.count == 1

    def holds(self, kind: str, key: str) -> bool:
        """Whether the unit (``kind``, ``key``) belongs to this shard."""
        return self.whole or int(unit_id(kind, key), 16) % self.count == self.index - 1

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"
