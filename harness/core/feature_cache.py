"""On-disk cache of image and text features (and other derived tensors such as few-shot views).

An entry is keyed by the hash of everything that determines its content: model + weights
identity, dataset + split + data fingerprint, transform, view spec, prompt list. Entries are
written to a temporary file and renamed into place, so a crash or Ctrl-C leaves either the old
state or the complete new entry, never a partial file that would load.

Several workers may share one cache (shards of a sweep, array tasks on a cluster). An entry is
computed under a claim (``harness.core.claims``, in ``<cache>/claims``). A worker that needs an entry
another live worker is computing waits for it instead of computing it too.
"""
from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Callable

import torch

from zsbench.harness.core.atomic import atomic_write
from zsbench.harness.core.cache_dir import default_cache_dir
from zsbench.harness.core.claims import POLL_S, ClaimBoard

# Bumped when entries computed before would be wrong under the same key: 2 = OpenAI-tag models
# built with QuickGELU (open_clip 3.3 builds GELU for e.g. ViT-B-16 + openai unless forced).
KEY_VERSION = 2


class FeatureCache:
    def __init__(self, root: Path | str | None = None, claims: ClaimBoard | None = None):
        self.root = Path(root) if root is not None else default_cache_dir()
        self.claims = claims if claims is not None else ClaimBoard(self.root / "claims")
        self.hits = 0
        self.misses = 0
        self.waits = 0  # entries this process waited for while another worker computed them

    @staticmethod
    def key(**parts) -> str:
        """Stable hash of the key parts (JSON with sorted keys; values must be JSON-able) and of
        ``KEY_VERSION``."""
        blob = json.dumps({**parts, "_version": KEY_VERSION}, sort_keys=True, default=str)
        return parts.get("kind", "entry") + "-" + hashlib.sha256(blob.encode()).hexdigest()[:32]

    def path(self, key: str) -> Path:
        kind, _, digest = key.rpartition("-")
        return self.root / (kind or "entry") / digest[:2] / f"{key}.pt"

    def load(self, key: str) -> dict | None:
        path = self.path(key)
        if not path.exists():
            return None
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except Exception:  # an unreadable entry is a miss; it is recomputed and replaced
            return None

    def save(self, key: str, payload: dict) -> None:
        with atomic_write(self.path(key)) as f:
            torch.save(payload, f)

    def get_or_compute(self, key: str, compute: Callable[[], dict]) -> dict:
        """The entry, computed by this process only when it is missing and no live worker is computing it."""
        waited = False
        while True:
            cached = self.load(key)
            if cached is not None:
                self.hits += 1
                self.waits += waited
                return cached
            claim = self.claims.try_claim("cache", key)
            if claim is None:  # another live worker is computing it
                waited = True
                time.sleep(POLL_S)
                continue
            with claim:
                cached = self.load(key)  # finished between our look and our claim
                if cached is not None:
                    self.hits += 1
                    return cached
                self.misses += 1
                payload = compute()
                self.save(key, payload)
                return payload
