"""Reading manifests: a directory of YAML files in, typed objects and located errors out.

Owns the way from bytes on disk to `manifests.models.Manifest` objects, and every error on that
way, each with ``file:line:column`` and a message a person can act on. Its callers
(`cli.validate`, `cli.plan`, the daemon) never see YAML or pydantic errors.

How a file is read:

1. Size and content are checked first: more than ``max_file_bytes``, a NUL byte or
   text that is not UTF-8 is refused with one error for the file.
2. ``yaml.compose_all`` (the C parser when available, safe tags only) builds the node
   tree once. It keeps each node's position and does not expand aliases.
3. `Builder` walks that tree into plain Python values and, alongside, a tree of
   positions (`Pos`). It counts nodes reached through aliases and stops an alias bomb,
   refuses duplicate keys, unknown tags and recursive aliases.
4. Each document is checked for ``apiVersion`` and ``kind`` and validated by its model;
   each pydantic error's ``loc`` is walked through the position tree to the exact key or
   value it is about, and rewritten as a message (unknown fields get "did you mean"):
   `manifests.locate`.
5. Across all files, a second object with the same kind and name is an error naming both
   places.

Nothing here raises for bad input: every problem becomes a `ManifestError` in the
`LoadResult`, and loading goes on with the next document and the next file.
"""

from __future__ import annotations

import gc
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import ValidationError

from swarm_operator.manifests import DEFAULT_MAX_FILE_BYTES
from swarm_operator.manifests.locate import did_you_mean, locate
from swarm_operator.manifests.models import API_VERSION, Manifest, models_by_kind
from swarm_operator.manifests.yaml_tree import (
    Builder,
    BuildError,
    ComposeLoader,
)

"""Files larger than this are refused (manifests are small; this stops accidents)."""
MANIFEST_SUFFIXES = (".yaml", ".yml")


# --------------------------------------------------------------------------- public types


@dataclass(frozen=True)
class SourceRef:
    """A place in a file; line and column are 1-based (0 when the file itself is meant)."""

    file: Path
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True)
class ManifestError:
    """One problem with the manifests, where it is and what to do about it."""

    source: SourceRef
    message: str

    def __str__(self) -> str:
        return f"{self.source}: {self.message}"


@dataclass(frozen=True)
class LoadedObject:
    """A valid manifest and where its document starts."""

    manifest: Manifest
    source: SourceRef


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

    @property
    def ok(self) -> bool:
        return not self.errors

    def by_key(self) -> dict[tuple[str, str], LoadedObject]:
        """Objects by (kind, name); duplicates are errors and only the first is kept."""
        return {obj.manifest.key: obj for obj in self.objects}

    @property
    def failed_files(self) -> set[Path]:
        return {error.source.file for error in self.errors}


# --------------------------------------------------------------------------- entry points


def load_directory(path: Path, *, max_file_bytes: int = DEFAULT_MAX_FILE_BYTES) -> LoadResult:
    """Load every manifest file under ``path`` (recursively, in sorted order)."""
    path = Path(path)
    errors: list[ManifestError] = []
    if not path.exists():
        return _fail(path, f"{path}: no such directory")
    if not path.is_dir():
        return _fail(path, f"{path}: not a directory")
    files: list[Path] = []
    for found in _walk(path, errors):
        files.append(found)
    objects: list[LoadedObject] = []
    # Composing builds many short-lived node objects; the cyclic GC would walk the growing
    # heap again and again (about a fifth of the time). Nothing here makes cycles to free.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for file in files:
            file_objects, file_errors = _load_one(file, max_file_bytes)
            objects.extend(file_objects)
            errors.extend(file_errors)
    finally:
        if gc_was_enabled:
            gc.enable()
    return _finish(objects, errors, files)


def load_file(path: Path, *, max_file_bytes: int = DEFAULT_MAX_FILE_BYTES) -> LoadResult:
    """Load one file, whatever its name."""
    path = Path(path)
    if not path.exists():
        return _fail(path, f"{path}: no such file")
    if path.is_dir():
        return _fail(path, f"{path}: is a directory")
    objects, errors = _load_one(path, max_file_bytes)
    return _finish(objects, errors, [path])


def _fail(path: Path, message: str) -> LoadResult:
    return LoadResult((), (ManifestError(SourceRef(path, 0, 0), message),), ())


def _finish(
    objects: list[LoadedObject], errors: list[ManifestError], files: list[Path]
) -> LoadResult:
    first: dict[tuple[str, str], LoadedObject] = {}
    kept: list[LoadedObject] = []
    for obj in objects:
        key = obj.manifest.key
        if key in first:
            errors.append(
                ManifestError(
                    obj.source,
                    f"duplicate {key[0]} {key[1]!r}: also defined at {first[key].source}",
                )
            )
            continue
        first[key] = obj
        kept.append(obj)
    return LoadResult(tuple(kept), tuple(errors), tuple(files))


# --------------------------------------------------------------------------- finding files


def is_ignored(name: str) -> bool:
    """Hidden files and editor temporaries (``x~``, ``.#x``, ``x.swp``, vim's ``4913``)."""
    return (
        name.startswith((".", "#"))
        or name.endswith(("~", ".swp", ".swo", ".swx", ".tmp", ".bak"))
        or name == "4913"
    )


def _walk(root: Path, errors: list[ManifestError]) -> Iterator[Path]:
    """Manifest files under root, sorted; symlinked directories followed once, no loops."""
    seen_dirs: set[tuple[int, int]] = set()
    seen_files: set[tuple[int, int]] = set()

    def visit(directory: Path) -> Iterator[Path]:
        try:
            st = directory.stat()
        except OSError as exc:
            errors.append(ManifestError(SourceRef(directory, 0, 0), _os_message(exc)))
            return
        if (st.st_dev, st.st_ino) in seen_dirs:
            return
        seen_dirs.add((st.st_dev, st.st_ino))
        try:
            with os.scandir(directory) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            errors.append(ManifestError(SourceRef(directory, 0, 0), _os_message(exc)))
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
            if is_dir:
                subdirs.append(entry_path)
                continue
            if not entry.name.endswith(MANIFEST_SUFFIXES):
                continue
            try:
                fst = entry.stat()
            except OSError as exc:
                errors.append(ManifestError(SourceRef(entry_path, 0, 0), _os_message(exc)))
                continue
            if (fst.st_dev, fst.st_ino) in seen_files:
                continue  # the same file reached twice through a symlink
            seen_files.add((fst.st_dev, fst.st_ino))
            yield entry_path
        for sub in subdirs:
            yield from visit(sub)

    yield from visit(root)


def _os_message(exc: OSError) -> str:
    return f"cannot read: {exc.strerror or exc}"


# --------------------------------------------------------------------------- one file


def _load_one(path: Path, max_file_bytes: int) -> tuple[list[LoadedObject], list[ManifestError]]:
    errors: list[ManifestError] = []
    objects: list[LoadedObject] = []

    def err(line: int, column: int, message: str) -> None:
        errors.append(ManifestError(SourceRef(path, line, column), message))

    try:
        st = path.stat()
        if not stat.S_ISREG(st.st_mode):  # a FIFO or device would block or never end
            err(0, 0, "not a regular file: refused")
            return objects, errors
        size = st.st_size
        if size > max_file_bytes:
            err(1, 1, f"file is {size} bytes, more than the limit of {max_file_bytes}: refused")
            return objects, errors
        with path.open("rb") as fh:
            data = fh.read(max_file_bytes + 1)
    except OSError as exc:
        err(0, 0, _os_message(exc))
        return objects, errors
    if len(data) > max_file_bytes:  # grew while we looked
        err(1, 1, f"file is more than the limit of {max_file_bytes} bytes: refused")
        return objects, errors
    nul = data.find(b"\0")
    if nul >= 0:
        line, column = _line_col(data, nul)
        err(line, column, "binary file (NUL byte): not a YAML manifest")
        return objects, errors
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line, column = _line_col(data, exc.start)
        err(line, column, f"not UTF-8 text (byte 0x{data[exc.start]:02x}): save the file as UTF-8")
        return objects, errors

    try:
        for node in yaml.compose_all(text, Loader=ComposeLoader):
            if node is None:
                continue  # an empty document
            _load_document(path, node, objects, errors)
            errors.sort(key=lambda e: (e.source.line, e.source.column))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        message = _syntax_message(exc)
        lines = text.splitlines()
        if (
            mark
            and mark.line < len(lines)
            and lines[mark.line][mark.column : mark.column + 1] == "\t"
        ):
            message += "; tabs cannot indent YAML: use spaces"
        err(line, column, message)
    except yaml.reader.ReaderError as exc:
        line, column = _text_line_col(text, exc.position)
        char = exc.character if isinstance(exc.character, int) else ord(exc.character)
        err(line, column, f"YAML cannot contain the character U+{char:04X}")
    except yaml.YAMLError as exc:  # pragma: no cover - other parser failures
        err(1, 1, f"YAML error: {exc}")
    except RecursionError:
        err(1, 1, "YAML nesting is too deep")
    return objects, errors


def _line_col(data: bytes, offset: int) -> tuple[int, int]:
    line_start = data.rfind(b"\n", 0, offset) + 1
    return data.count(b"\n", 0, offset) + 1, offset - line_start + 1


def _text_line_col(text: str, offset: int) -> tuple[int, int]:
    line_start = text.rfind("\n", 0, offset) + 1
    return text.count("\n", 0, offset) + 1, offset - line_start + 1


def _syntax_message(exc: yaml.MarkedYAMLError) -> str:
    problem = exc.problem or "invalid YAML"
    message = f"YAML syntax error: {problem}"
    if exc.context:
        where = ""
        context, problem_mark = exc.context_mark, exc.problem_mark
        if context is not None and problem_mark is not None and context.line != problem_mark.line:
            where = f" at line {context.line + 1}"
        message += f" ({exc.context}{where})"
    return message


# --------------------------------------------------------------------------- documents


def _load_document(
    path: Path, node: yaml.Node, objects: list[LoadedObject], errors: list[ManifestError]
) -> None:
    def err(line: int, column: int, message: str) -> None:
        errors.append(ManifestError(SourceRef(path, line, column), message))

    try:
        data, pos = Builder().build(node)
    except BuildError as exc:
        err(exc.line, exc.column, exc.message)
        return
    if data is None:
        return  # an empty document (`---` with nothing after it, or only comments)
    if not isinstance(data, dict):
        what = "a list" if isinstance(data, list) else f"the value {data!r}"
        err(
            pos.line,
            pos.column,
            f"a manifest must be a mapping (apiVersion, kind, ...), got {what}",
        )
        return
    children = pos.children
    assert isinstance(children, dict)

    def at(key: str) -> tuple[int, int]:
        return children[key].key_line, children[key].key_column

    version = data.get("apiVersion")
    if "apiVersion" not in data:
        err(pos.line, pos.column, f"missing apiVersion: add 'apiVersion: {API_VERSION}'")
    elif version != API_VERSION:
        err(*at("apiVersion"), f"apiVersion {version!r} is not supported: use {API_VERSION!r}")
        return
    kind = data.get("kind")
    models = models_by_kind()
    kinds = tuple(models)
    if "kind" not in data:
        err(pos.line, pos.column, f"missing kind: one of {', '.join(kinds)}")
        return
    model = models.get(kind) if isinstance(kind, str) else None
    if model is None:
        hint = did_you_mean(str(kind), kinds)
        err(*at("kind"), f"unknown kind {kind!r} (known: {', '.join(kinds)}){hint}")
        return
    try:
        manifest = model.model_validate(data)
    except ValidationError as exc:
        for item in exc.errors(include_url=False):
            line, column, message = locate(pos, item, model)
            err(line, column, message)
        return
    if "apiVersion" in data:
        objects.append(LoadedObject(manifest, SourceRef(path, pos.line, pos.column)))
