"""Where a dataset's Hugging Face mirror is: a declaration only (the reader, ``hub``, imports the
Hugging Face libraries), so that the dataset records can name their mirrors cheaply."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class HubEntry:
    """One Hub mirror of a dataset's evaluation split.

    ``revision``: the repo commit to load; ``None`` is a placeholder for a mirror whose commit we
    have not pinned yet (``main`` is loaded and the source says "unpinned").
    ``classnames``: ``"features"`` (the label column is a ``ClassLabel``), ``"file:<name>"`` (a text
    file at the repo root, one name per line in label order), or an ImageNet label space
    (``"imagenet-1k"``, ``"imagenet-a"``, ``"imagenet-r"``) whose labels are either indices into
    that space or WordNet ids.
    """

    repo_id: str
    revision: str | None
    split: str
    image_column: str
    label_column: str
    classnames: str = "features"

    @property
    def where(self) -> str:
        if Path(self.repo_id).is_dir():
            return self.repo_id
        return f"{self.repo_id}@{self.revision or 'main (unpinned)'}"
