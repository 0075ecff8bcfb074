"""Public class-description files at pinned commits of github.com/sarahpratt/CuPL and
github.com/BIT-DA/ABS (the files the references themselves read): what a dataset record names for
each description source. Fetching and matching them is :mod:`zsbench.datasets.descriptions`.

Importing this module imports no torch (the dataset records are built from it), which is why
:class:`RemoteFile` restates :class:`zsbench.harness.core.downloads.PinnedFile`'s fields and
checksum rule instead of subclassing it: ``harness.core.downloads`` imports the feature cache,
and so torch. The shared downloader takes a :class:`RemoteFile` all the same (it reads only
``url``, ``checksum`` and ``cache_name``).
"""
from __future__ import annotations

from dataclasses import dataclass

CUPL_COMMIT = "719619c829792ff8f37298266e941b7f077c7f5c"
ABS_COMMIT = "5ba77c652af789590c0e863517c2291514093d6e"
CUPL_RAW = f"https://raw.githubusercontent.com/sarahpratt/CuPL/{CUPL_COMMIT}"
ABS_RAW = f"https://raw.githubusercontent.com/BIT-DA/ABS/{ABS_COMMIT}"
CHECKSUM_KINDS = ("sha256", "git-blob")  # as harness.core.downloads.CHECKSUM_KINDS

#: The named description sources (a record's ``description_files`` keys), in the order messages
#: list them: ``cupl`` (CuPL's sentences as ABS uses them), ``cupl-base`` / ``cupl-full`` (CuPL's
#: base / full prompt sets), ``dclip`` (DCLIP's descriptors, as ABS ships them).
NAMED_SOURCES = ("cupl", "cupl-base", "cupl-full", "dclip")


@dataclass(frozen=True)
class RemoteFile:
    """A public description file: URL, checksum (``sha256:<hex>``, or ``git-blob:<sha1>``, the id
    the pinned tree lists, for files we could not hash) and cache name (under
    ``<cache>/downloads/``), plus how its keys relate to our class names."""

    url: str
    checksum: str
    cache_name: str
    aliases: tuple[tuple[str, str], ...] = ()  # (our class name, the file's key)
    qualified_names: bool = False  # our names carry leading qualifiers the file drops ("hockey arena" -> "arena")

    def __post_init__(self):
        kind, _, digest = self.checksum.partition(":")
        if kind not in CHECKSUM_KINDS or not digest:
            raise ValueError(f"PinnedFile {self.url}: checksum {self.checksum!r} is not sha256:<hex> or git-blob:<sha1>")


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
