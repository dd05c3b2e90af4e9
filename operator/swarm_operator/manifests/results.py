"""What loading manifests gives: places, errors, the objects that loaded, the load result.

Owns `SourceRef` (``file:line:column``), `ManifestError` (one problem, on one line),
`LoadedObject` and `LoadResult` (every valid object, every error, the files looked at),
and how a path or a message is shown on one line. Neighbours: `manifests.loader` builds
them; the CLI, the daemon's desired state (`daemon.watch`) and the tests read them.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from swarm_operator.manifests.models import Manifest


@dataclass(frozen=True)
class SourceRef:
    """A place in a file; line and column are 1-based (0 when the file itself is meant)."""

    file: Path
    line: int
    column: int

    def __str__(self) -> str:
        return f"{display_path(self.file)}:{self.line}:{self.column}"


@dataclass(frozen=True)
class ManifestError:
    """One problem with the manifests, where it is and what to do about it."""

    source: SourceRef
    message: str

    def __str__(self) -> str:
        return f"{self.source}: {one_line(self.message)}"


_BREAKS = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]")


def one_line(text: str) -> str:
    """``text`` with line breaks and control characters escaped: one error, one line."""
    return _BREAKS.sub(lambda m: repr(m.group())[1:-1], text)


def display_path(path: Path | str) -> str:
    """A path as printable one-line text (undecodable bytes as \\xNN, breaks escaped)."""
    raw = os.fsencode(path)
    return one_line(raw.decode("utf-8", "backslashreplace"))


@dataclass(frozen=True)
class LoadedObject:
    """A valid manifest and where its document starts."""

    manifest: Manifest
    source: SourceRef
    references: tuple[tuple[str, str, SourceRef], ...] = ()
    """(kind, name, where) of each object of another kind it names (a service's secrets):
    the loader checks that each is declared."""


@dataclass(frozen=True)
class LoadResult:
    """Everything that was read: the valid objects, all errors, the files looked at.

    ``objects`` holds every document that validated, also from files that had errors
    in other documents; a consumer that deletes what is not declared must not do so
    while ``ok`` is false (a broken file may declare objects that are not listed).
    """

    objects: tuple[LoadedObject, ...]
    errors: tuple[ManifestError, ...]
    files: tuple[Path, ...]
    suppressed: int = 0
    """Errors not listed (beyond `MAX_ERRORS_PER_FILE` in a file): one line says so."""
    capped_files: int = 0
    """Files whose errors were capped (each has one "... more errors" line in ``errors``)."""

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def error_count(self) -> int:
        """Every error found, listed or not (the "more errors" lines are not counted)."""
        return len(self.errors) - self.capped_files + self.suppressed

    def by_key(self) -> dict[tuple[str, str], LoadedObject]:
        """Objects by (kind, name); duplicates are errors and only the first is kept."""
        return {obj.manifest.key: obj for obj in self.objects}

    @property
    def failed_files(self) -> set[Path]:
        return {error.source.file for error in self.errors}
