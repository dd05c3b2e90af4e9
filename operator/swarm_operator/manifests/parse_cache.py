"""The daemon's parse cache: each manifest file's last parse, kept between reloads.

Owns when a file's earlier parse may be taken again instead of parsing and validating
its bytes anew (`ParseCache`): the same bytes, or a stat that shows the file unchanged
since it was read and old enough to be trusted. Neighbours: `manifests.loader` asks it
for each file of a `load_directory` and gives it each new parse; the daemon
(`daemon.controller`) keeps one across reloads; `manifests.content` says which objects
read a file of their own (never kept).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from swarm_operator.manifests import content
from swarm_operator.manifests.results import LoadedObject, ManifestError

_Signature = tuple[int, int, int, int, int]


def _signature(st: os.stat_result) -> _Signature:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


class ParseCache:
    """Each file's last parse, keyed by its path and its exact bytes (for `load_directory`).

    The daemon keeps one between reloads: an edit among 2,000 files then re-parses and
    re-validates one file, not 2,000. Only the parse is kept; finding the files, the
    per-file error cap and the cross-file checks (duplicates) run on every load, so a
    cached load gives what a fresh one would. Not thread-safe: one load at a time.

    A file with errors, or one holding a Secret or Config that reads a file of its own, is
    never kept: its meaning depends on more than its bytes.

    A file is read again unless its stat (device, inode, size, mtime, ctime) is the one
    recorded with its bytes and its ctime was at least ``racy_ns`` older than the load
    that read them: the kernel sets ctime on every change (no tool can set it back), so
    a later change shows, except within one timestamp tick of the read, which the margin
    covers (git's "racy" entries, the same way). Otherwise the bytes decide.
    """

    def __init__(self, racy_ns: int = 2_000_000_000, clock: Callable[[], int] = time.time_ns):
        self._files: dict[Path, _Cached] = {}
        self._racy_ns = racy_ns
        self._clock = clock
        self._started = 0
        self.parsed = 0
        """Files parsed (not found in the cache) by the last load."""
        self.unread = 0
        """Files taken from the cache on their stat alone (not read) by the last load."""

    def __len__(self) -> int:
        return len(self._files)

    def start(self) -> None:
        """A load begins (before any file is looked at)."""
        self._started = self._clock()
        self.parsed = self.unread = 0

    def unchanged(
        self, path: Path, st: os.stat_result
    ) -> tuple[list[LoadedObject], list[ManifestError]] | None:
        """The cached parse if ``st`` shows the file unchanged since it was read."""
        known = self._files.get(path)
        if known is None or not known.trusted or known.signature != _signature(st):
            return None
        self.unread += 1
        return list(known.objects), list(known.errors)

    def get(
        self, path: Path, data: bytes, st: os.stat_result | None = None
    ) -> tuple[list[LoadedObject], list[ManifestError]] | None:
        """The cached parse if ``data`` are the bytes it was made from."""
        known = self._files.get(path)
        if known is None or known.data != data:
            return None
        self._files[path] = self._entry(data, st, known.objects, known.errors)
        return list(known.objects), list(known.errors)

    def put(
        self,
        path: Path,
        data: bytes,
        st: os.stat_result | None,
        objects: list[LoadedObject],
        errors: list[ManifestError],
    ) -> None:
        self.parsed += 1
        if errors or any(content.reads_file(o.manifest) for o in objects):
            # Not kept: what such a file means depends on more than its bytes (a secret's
            # file, which may change or appear later; an error may be about one).
            self._files.pop(path, None)
            return
        self._files[path] = self._entry(data, st, tuple(objects), tuple(errors))

    def _entry(
        self,
        data: bytes,
        st: os.stat_result | None,
        objects: tuple[LoadedObject, ...],
        errors: tuple[ManifestError, ...],
    ) -> _Cached:
        # ``st`` was taken before the bytes were read: a change after it shows in it.
        trusted = st is not None and st.st_ctime_ns + self._racy_ns < self._started
        signature = _signature(st) if st is not None else None
        return _Cached(data, signature, trusted, objects, errors)

    def keep_only(self, files: list[Path]) -> None:
        """Forget the files a load no longer found (removed, renamed, now ignored)."""
        found = set(files)
        for path in [p for p in self._files if p not in found]:
            del self._files[path]


@dataclass(frozen=True)
class _Cached:
    data: bytes
    signature: _Signature | None
    trusted: bool
    objects: tuple[LoadedObject, ...]
    errors: tuple[ManifestError, ...]
