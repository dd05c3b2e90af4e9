"""Finding the manifest files of a directory and reading one: which names count, the
walk, and the bounded read.

Owns which files of a manifest directory are manifests (``.yaml``/``.yml``, not hidden,
not an editor's temporary: `is_ignored`) and the walk that finds them (`walk`: sorted,
recursive, a symlink followed once and only to a place inside the directory, never to
/proc, /sys or /dev) and how one is read (`read_bounded`: never blocks, never allocates
beyond the file or the size limit). Neighbours: `manifests.loader` loads what the walk finds; the
daemon's file watcher (`daemon.watch`) uses the same rule for the events it reacts to.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

from swarm_operator.manifests.results import ManifestError, SourceRef, display_path

FORBIDDEN_ROOTS = (Path("/proc"), Path("/sys"), Path("/dev"))
MANIFEST_SUFFIXES = (".yaml", ".yml")
READ_CHUNK = 64 * 1024


def is_ignored(name: str) -> bool:
    """Hidden files and editor temporaries (``x~``, ``.#x``, ``x.swp``, vim's ``4913``)."""
    return (
        name.startswith((".", "#"))
        or name.endswith(("~", ".swp", ".swo", ".swx", ".tmp", ".bak"))
        or name == "4913"
    )


def is_kernel_file(real: Path) -> bool:
    """A resolved path under /proc, /sys or /dev: their files claim size 0 and some are
    drained by reading (/proc/kmsg), so none is ever read as a manifest."""
    return any(real == f or f in real.parents for f in FORBIDDEN_ROOTS)


def _inside(real: Path, root_real: Path) -> bool:
    if is_kernel_file(real):
        return False
    return real == root_real or root_real in real.parents


def walk(
    root: Path, errors: list[ManifestError], stats: dict[Path, os.stat_result] | None = None
) -> Iterator[Path]:
    """Manifest files under root, sorted; symlinked directories followed once, no loops.

    A symlink is followed only to a place inside the manifest directory (never to
    /proc, /sys or /dev): one that leads outside is an error, not read.
    """
    seen_dirs: set[tuple[int, int]] = set()
    seen_files: set[tuple[int, int]] = set()
    root_real = Path(os.path.realpath(root))

    def visit(directory: Path) -> Iterator[Path]:
        try:
            st = directory.stat()
        except OSError as exc:
            errors.append(ManifestError(SourceRef(directory, 0, 0), os_message(exc)))
            return
        if (st.st_dev, st.st_ino) in seen_dirs:
            return
        seen_dirs.add((st.st_dev, st.st_ino))
        try:
            with os.scandir(directory) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            errors.append(ManifestError(SourceRef(directory, 0, 0), os_message(exc)))
            return
        subdirs: list[Path] = []
        for entry in entries:
            if is_ignored(entry.name):
                continue
            entry_path = directory / entry.name
            try:
                is_dir = entry.is_dir()  # follows symlinks
            except OSError:
                is_dir = False
            if entry.is_symlink() and (is_dir or entry.name.endswith(MANIFEST_SUFFIXES)):
                real = Path(os.path.realpath(entry_path))
                if not _inside(real, root_real):
                    errors.append(
                        ManifestError(
                            SourceRef(entry_path, 0, 0),
                            f"symlink to {display_path(real)} leaves the manifest directory: "
                            "not followed",
                        )
                    )
                    continue
            if is_dir:
                subdirs.append(entry_path)
                continue
            if not entry.name.endswith(MANIFEST_SUFFIXES):
                continue
            try:
                fst = entry.stat()
            except OSError as exc:
                errors.append(ManifestError(SourceRef(entry_path, 0, 0), os_message(exc)))
                continue
            if (fst.st_dev, fst.st_ino) in seen_files:
                continue  # the same file reached twice through a symlink
            seen_files.add((fst.st_dev, fst.st_ino))
            if stats is not None:
                stats[entry_path] = fst
            yield entry_path
        for sub in subdirs:
            yield from visit(sub)

    yield from visit(root)


def os_message(exc: OSError) -> str:
    return f"cannot read: {exc.strerror or exc}"


class Refused(Exception):
    """A file that is not read: at ``line`` (0 for the file as a whole), why."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line


def read_bounded(path: Path, limit: int) -> bytes:
    """The file's bytes, at most ``limit``; never blocks, never allocates beyond the file.

    Opened without blocking (a FIFO or a device would wait forever), checked to be a
    regular file on the open descriptor, read in chunks up to its size (plus one byte,
    to see a file that grew).
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise Refused(0, "not a regular file: refused")
        if st.st_size > limit:
            raise Refused(1, f"file is {st.st_size} bytes, more than the limit of {limit}: refused")
        chunks: list[bytes] = []
        total = 0
        want = min(st.st_size, limit) + 1
        while total < want:
            chunk = os.read(fd, min(READ_CHUNK, want - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        if total > limit:  # grew while we looked
            raise Refused(1, f"file is more than the limit of {limit} bytes: refused")
        return b"".join(chunks)
    finally:
        os.close(fd)
