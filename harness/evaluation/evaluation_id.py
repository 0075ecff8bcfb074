"""What identifies an evaluation: the content of everything that produced its number.

A results row is only as citable as its identity is complete. ``--pretrained PATH`` names a file
whose bytes can change, ``--set descriptions=PATH`` a file that can be edited, a retrained toy-clip
keeps its name: so the identity holds content hashes, never names alone.

- ``task_hash``: the dataset as the method sees it: name, class names and label space (ImageNet
  indices), both template lists, the evaluated split's name and data fingerprint (which covers
  ``--limit``'s subset) and the data source.
- ``inputs_hash``: the method and its config hash, the sha256 of every file the config names, the
  model name, the weights' content identity and the precision, the task, the descriptions'
  content, what the method's ``resolve_inputs`` reports (prompt pools, ...), the few-shot source
  (its task and training split fingerprints, and K) and ``--limit``. Everything but the seed, so
  the seeds of one mean share it.
- ``eval_id``: ``inputs_hash`` and the seed. The results store resumes and supersedes by it.
"""
from __future__ import annotations

from typing import Any

from zsbench.harness.core.hashing import json_sha256

IDENTITY_VERSION = 1  # bump when the recipe below changes meaning


def task_hash(dataset, split) -> str:
    """The content identity of evaluating ``split`` of ``dataset`` (see the module docstring)."""
    return json_sha256({
        "dataset": dataset.name,
        "classnames": list(dataset.classnames),
        "imagenet_indices": list(dataset.imagenet_indices) if dataset.imagenet_indices is not None else None,
        "templates": list(dataset.templates),
        "ensemble_templates": list(dataset.ensemble_templates),
        "split": split.name,
        "fingerprint": split.fingerprint,
        "source": dataset.source,
    })[:16]


def inputs_hash(parts: dict[str, Any]) -> str:
    """The identity of everything but the seed (``parts``: JSON-able, see the module docstring)."""
    return json_sha256({"identity_version": IDENTITY_VERSION, **parts})[:16]


def eval_id(inputs: str, seed: int) -> str:
    return json_sha256({"inputs": inputs, "seed": int(seed)})[:16]
