"""Public class-description files at pinned commits of github.com/sarahpratt/CuPL and
github.com/BIT-DA/ABS (the files the references themselves read): what a dataset record names for
each description source. Fetching and matching them is :mod:`zsbench.datasets.descriptions`.

Importing this module is cheap (no torch): the dataset records are built from it.
"""
from __future__ import annotations

from dataclasses import dataclass

from zsbench.harness.core.downloads import PinnedFile

CUPL_COMMIT = "719619c829792ff8f37298266e941b7f077c7f5c"
ABS_COMMIT = "5ba77c652af789590c0e863517c2291514093d6e"
CUPL_RAW = f"https://raw.githubusercontent.com/sarahpratt/CuPL/{CUPL_COMMIT}"
ABS_RAW = f"https://raw.githubusercontent.com/BIT-DA/ABS/{ABS_COMMIT}"

#: The named description sources (a record's ``description_files`` keys), in the order messages
#: list them: ``cupl`` (CuPL's sentences as ABS uses them), ``cupl-base`` / ``cupl-full`` (CuPL's
#: base / full prompt sets), ``dclip`` (DCLIP's descriptors, as ABS ships them).
NAMED_SOURCES = ("cupl", "cupl-base", "cupl-full", "dclip")


@dataclass(frozen=True)
class RemoteFile(PinnedFile):
    """A public description file (URL, checksum, cache name, as every pinned download) and how its
    keys relate to our class names."""

    aliases: tuple[tuple[str, str], ...] = ()  # (our class name, the file's key)
    qualified_names: bool = False  # our names carry leading qualifiers the file drops ("hockey arena" -> "arena")


def cupl_file(path: str, checksum: str, **kw) -> RemoteFile:
    """CuPL's file at ``path`` in its pinned tree."""
    return RemoteFile(f"{CUPL_RAW}/{path}", checksum, f"CuPL-{CUPL_COMMIT[:7]}/{path}", **kw)


def cupl_base(key: str, sha256: str, **kw) -> RemoteFile:
    """CuPL's ``all_prompts/base_prompts/<key>_prompts_base.json``."""
    return cupl_file(f"all_prompts/base_prompts/{key}_prompts_base.json", f"sha256:{sha256}", **kw)


def cupl_full(key: str, checksum: str, **kw) -> RemoteFile:
    """CuPL's ``all_prompts/full_prompts/<key>_prompts_full.json``."""
    return cupl_file(f"all_prompts/full_prompts/{key}_prompts_full.json", checksum, **kw)


def abs_file(folder: str, name: str, sha256: str, **kw) -> RemoteFile:
    """ABS's ``prompts/<folder>/<name>``."""
    path = f"prompts/{folder}/{name}"
    return RemoteFile(f"{ABS_RAW}/{path}", f"sha256:{sha256}", f"ABS-{ABS_COMMIT[:7]}/{folder}/{name}", **kw)
