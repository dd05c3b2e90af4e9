"""Reading manifests: a directory of YAML files in, typed objects and located errors out.

Owns the way from bytes on disk to `models.Manifest` objects, and every error on that
way, each with ``file:line:column`` and a message a person can act on. Its callers
(`cmd_validate`, the planner, the daemon) never see YAML or pydantic errors.

How a file is read:

1. Size and content are checked first: more than ``max_file_bytes``, a NUL byte or
   text that is not UTF-8 is refused with one error for the file.
2. ``yaml.compose_all`` (the C parser when available, safe tags only) builds the node
   tree once. It keeps each node's position and does not expand aliases.
3. `_Builder` walks that tree into plain Python values and, alongside, a tree of
   positions (`_Pos`). It counts nodes reached through aliases and stops an alias bomb,
   refuses duplicate keys, unknown tags and recursive aliases.
4. Each document is checked for ``apiVersion`` and ``kind`` and validated by its model;
   each pydantic error's ``loc`` is walked through the position tree to the exact key or
   value it is about, and rewritten as a message (unknown fields get "did you mean").
5. Across all files, a second object with the same kind and name is an error naming both
   places.

Nothing here raises for bad input: every problem becomes a `ManifestError` in the
`LoadResult`, and loading goes on with the next document and the next file.
"""

from __future__ import annotations

import bisect
import difflib
import errno
import gc
import os
import re
import stat
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from swarm_operator.models import API_VERSION, KINDS, MODEL_BY_KIND, Manifest

try:  # the C parser is ~10x faster; both are safe loaders
    _Loader: type[yaml.SafeLoader] | type[yaml.CSafeLoader] = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - PyYAML built without libyaml
    _Loader = yaml.SafeLoader

DEFAULT_MAX_FILE_BYTES = 1024 * 1024
"""Files larger than this are refused (manifests are small; this stops accidents)."""


_TAG = "tag:yaml.org,2002:"
_STR_TAG = _TAG + "str"
_BOOL_TAG = _TAG + "bool"
_INT_TAG = _TAG + "int"
_FLOAT_TAG = _TAG + "float"
_MERGE_TAG = _TAG + "merge"


class _ComposeLoader(_Loader):  # type: ignore[valid-type,misc]
    """The safe loader, with YAML 1.2 booleans and the tag resolution of scalars cached.

    YAML 1.1 reads ``yes``, ``no``, ``on``, ``off`` as booleans and ``22:22`` as the
    base-60 number 1342: a label ``country: NO`` would silently become ``"false"``. Here,
    as in YAML 1.2 (and compose), only ``true``/``false`` are booleans and base-60 numbers
    are text; boolean fields still take ``yes`` and ``on`` (pydantic reads them).

    Resolving a scalar's implicit tag is pure Python even in the C parser, and the same
    keys and values recur in every manifest. The safe loader has no path resolvers, so the
    tag depends only on the text (cached); both path hooks are no-ops.
    """

    _cache: typing.ClassVar[dict[tuple[str, tuple[bool, bool]], str]] = {}

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        if kind is not yaml.ScalarNode:
            return super().resolve(kind, value, implicit)
        key = (value, implicit)
        tag = self._cache.get(key)
        if tag is None:
            tag = super().resolve(kind, value, implicit)
            yaml11_bool = tag == _BOOL_TAG and value.lower() not in ("true", "false")
            base60 = tag in (_INT_TAG, _FLOAT_TAG) and ":" in value
            # YAML 1.1's "value key" (a plain `=`) has no meaning here: it is the text "="
            if yaml11_bool or base60 or tag == _TAG + "value":
                tag = _STR_TAG
            if len(self._cache) > 20_000:
                self._cache.clear()
            self._cache[key] = tag
        return tag

    def descend_resolver(self, current_node: Any, current_index: Any) -> None:
        pass

    def ascend_resolver(self) -> None:
        pass


MAX_ALIAS_EXPANSION = 50_000
"""At most this many nodes may be reached through aliases in one file (alias bombs)."""
MAX_DEPTH = 100
"""Deeper nesting is refused (per document; no manifest nests more than ~10 levels)."""
MAX_ERRORS_PER_FILE = 100
"""At most this many errors are reported per file, then one line says how many more."""
READ_CHUNK = 64 * 1024
FORBIDDEN_ROOTS = (Path("/proc"), Path("/sys"), Path("/dev"))
"""A symlink never leads here, wherever the manifest directory is."""

MANIFEST_SUFFIXES = (".yaml", ".yml")

_constructor = yaml.SafeLoader("")  # only its scalar constructors are used


# --------------------------------------------------------------------------- public types


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
    counts = [0, 0]  # suppressed errors, capped files
    # Composing builds many short-lived node objects; the cyclic GC would walk the growing
    # heap again and again (about a fifth of the time). Nothing here makes cycles to free.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for file in files:
            file_objects, file_errors = _load_guarded(file, max_file_bytes, path)
            objects.extend(file_objects)
            errors.extend(_cap(file, file_errors, counts))
    finally:
        if gc_was_enabled:
            gc.enable()
    return _finish(objects, errors, files, counts)


def load_file(path: Path, *, max_file_bytes: int = DEFAULT_MAX_FILE_BYTES) -> LoadResult:
    """Load one file, whatever its name."""
    path = Path(path)
    if not path.exists():
        return _fail(path, f"{path}: no such file")
    if path.is_dir():
        return _fail(path, f"{path}: is a directory")
    objects, errors = _load_guarded(path, max_file_bytes, None)
    counts = [0, 0]
    return _finish(objects, _cap(path, errors, counts), [path], counts)


def _load_guarded(
    path: Path, max_file_bytes: int, root: Path | None
) -> tuple[list[LoadedObject], list[ManifestError]]:
    """`_load_one`, and whatever goes wrong inside it is this file's error, never a
    traceback that loses the other files' errors."""
    try:
        return _load_one(path, max_file_bytes)
    except RecursionError:
        return [], [ManifestError(SourceRef(path, 1, 1), "YAML nesting is too deep")]
    except MemoryError:
        return [], [ManifestError(SourceRef(path, 1, 1), "file needs too much memory: refused")]
    except Exception as exc:  # a bug of ours; the file is reported, the rest goes on
        message = f"internal error while reading this file ({type(exc).__name__}: {exc})"
        return [], [ManifestError(SourceRef(path, 1, 1), message)]


def _cap(path: Path, errors: list[ManifestError], counts: list[int]) -> list[ManifestError]:
    """One file's errors in file order, at most `MAX_ERRORS_PER_FILE`, then one line more."""
    errors.sort(key=lambda e: (e.source.line, e.source.column))
    if len(errors) <= MAX_ERRORS_PER_FILE:
        return errors
    rest = len(errors) - MAX_ERRORS_PER_FILE
    first_hidden = errors[MAX_ERRORS_PER_FILE].source
    counts[0] += rest
    counts[1] += 1
    more = ManifestError(
        first_hidden,
        f"... and {rest} more error{'s' if rest != 1 else ''} in this file "
        f"(only the first {MAX_ERRORS_PER_FILE} are listed)",
    )
    return [*errors[:MAX_ERRORS_PER_FILE], more]


def _fail(path: Path, message: str) -> LoadResult:
    return LoadResult((), (ManifestError(SourceRef(path, 0, 0), message),), ())


def _finish(
    objects: list[LoadedObject],
    errors: list[ManifestError],
    files: list[Path],
    counts: list[int] | None = None,
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
    suppressed, capped = counts or (0, 0)
    return LoadResult(tuple(kept), tuple(errors), tuple(files), suppressed, capped)


# --------------------------------------------------------------------------- finding files


def is_ignored(name: str) -> bool:
    """Hidden files and editor temporaries (``x~``, ``.#x``, ``x.swp``, vim's ``4913``)."""
    return (
        name.startswith((".", "#"))
        or name.endswith(("~", ".swp", ".swo", ".swx", ".tmp", ".bak"))
        or name == "4913"
    )


def is_manifest_file(name: str) -> bool:
    return not is_ignored(name) and name.endswith(MANIFEST_SUFFIXES)


def _inside(real: Path, root_real: Path) -> bool:
    if any(real == f or f in real.parents for f in FORBIDDEN_ROOTS):
        return False
    return real == root_real or root_real in real.parents


def _walk(root: Path, errors: list[ManifestError]) -> Iterator[Path]:
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
        data = _read_bounded(path, max_file_bytes)
    except _Refused as exc:
        err(exc.line, exc.line, str(exc))
        return objects, errors
    except OSError as exc:
        if exc.errno in (errno.EAGAIN, errno.EWOULDBLOCK):
            err(0, 0, "reading would block (not a plain file?): refused")
        else:
            err(0, 0, _os_message(exc))
        return objects, errors
    utf16 = _utf16(data)
    if utf16:
        err(1, 1, f"not UTF-8 text (looks like {utf16}): save the file as UTF-8")
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

    lines = _Lines(text)
    budget = _Budget()
    try:
        for node in yaml.compose_all(text, Loader=_ComposeLoader):
            if node is None:
                continue  # an empty document
            _load_document(path, node, objects, errors, lines, budget)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = lines.at(mark) if mark else (1, 1)
        message = _syntax_message(exc, lines)
        if mark and text[mark.index : mark.index + 1] == "\t":
            message += "; tabs cannot indent YAML: use spaces"
        err(line, column, message)
    except yaml.reader.ReaderError as exc:
        # the C reader reports a byte offset into the UTF-8 text, not a character index
        index = exc.position
        if isinstance(_Loader, type) and issubclass(_ComposeLoader, yaml.CSafeLoader):
            index = len(text.encode("utf-8")[: exc.position].decode("utf-8", "ignore"))
        line, column = lines.position(index)
        char = exc.character if isinstance(exc.character, int) else ord(exc.character)
        err(line, column, f"YAML cannot contain the character U+{char:04X}")
    except yaml.YAMLError as exc:  # pragma: no cover - other parser failures
        err(1, 1, f"YAML error: {exc}")
    except RecursionError:
        err(1, 1, "YAML nesting is too deep")
    return objects, errors


class _Refused(Exception):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line


def _read_bounded(path: Path, limit: int) -> bytes:
    """The file's bytes, at most ``limit``; never blocks, never allocates beyond the file.

    Opened without blocking (a FIFO or a device would wait forever), checked to be a
    regular file on the open descriptor, read in chunks up to its size (plus one byte,
    to see a file that grew).
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise _Refused(0, "not a regular file: refused")
        if st.st_size > limit:
            raise _Refused(
                1, f"file is {st.st_size} bytes, more than the limit of {limit}: refused"
            )
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
            raise _Refused(1, f"file is more than the limit of {limit} bytes: refused")
        return b"".join(chunks)
    finally:
        os.close(fd)


def _utf16(data: bytes) -> str | None:
    """'UTF-16'/'UTF-32' for text in those encodings (by BOM, or NULs in every other byte)."""
    if data.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")):
        return "UTF-32"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "UTF-16"
    head = data[:64]
    if len(head) >= 4 and (not any(head[1::2]) or not any(head[0::2])) and any(head):
        return "UTF-16"
    return None


def _line_col(data: bytes, offset: int) -> tuple[int, int]:
    line_start = data.rfind(b"\n", 0, offset) + 1
    return data.count(b"\n", 0, offset) + 1, offset - line_start + 1


class _Lines:
    """Line and column of a character index, as an editor counts them: only ``\\n``
    ends a line (not a lone CR, NEL or U+2028, which YAML also calls line breaks);
    columns count characters. One table per file, a binary search per look-up."""

    def __init__(self, text: str) -> None:
        self.breaks = [m.start() for m in re.finditer("\n", text)]

    def position(self, index: int) -> tuple[int, int]:
        line = bisect.bisect_left(self.breaks, index)
        start = self.breaks[line - 1] + 1 if line else 0
        return line + 1, index - start + 1

    def at(self, mark: Any) -> tuple[int, int]:
        return self.position(int(mark.index))


def _syntax_message(exc: yaml.MarkedYAMLError, lines: _Lines) -> str:
    problem = exc.problem or "invalid YAML"
    message = f"YAML syntax error: {problem}"
    if exc.context:
        where = ""
        context, problem_mark = exc.context_mark, exc.problem_mark
        if context is not None and problem_mark is not None:
            context_line = lines.at(context)[0]
            if context_line != lines.at(problem_mark)[0]:
                where = f" at line {context_line}"
        message += f" ({exc.context}{where})"
    return message


# --------------------------------------------------------------------------- YAML nodes


class _Pos:
    """Where a value (and, inside a mapping, its key) is: 1-based line and column."""

    __slots__ = ("children", "column", "key_column", "key_line", "line")

    def __init__(self, where: tuple[int, int]) -> None:
        self.line, self.column = where
        self.key_line = 0
        self.key_column = 0
        self.children: dict[Any, _Pos] | list[_Pos] | None = None


class _BuildError(Exception):
    def __init__(self, where: tuple[int, int], message: str) -> None:
        super().__init__(message)
        self.line, self.column = where
        self.message = message


class _Budget:
    """What one file may still cost: nodes reached through aliases, over all documents."""

    def __init__(self) -> None:
        self.expanded = 0


class _Builder:
    """Turns a composed node tree into Python values and a parallel tree of positions."""

    def __init__(self, lines: _Lines, budget: _Budget) -> None:
        self.visited: set[int] = set()
        self.active: set[int] = set()
        self.lines = lines
        self.budget = budget
        self.depth = 0

    def where(self, node: yaml.Node) -> tuple[int, int]:
        return self.lines.at(node.start_mark)

    def build(self, node: yaml.Node) -> tuple[Any, _Pos]:
        ident = id(node)
        if ident in self.visited:
            self.budget.expanded += 1
            if self.budget.expanded > MAX_ALIAS_EXPANSION:
                raise _BuildError(
                    self.where(node),
                    f"YAML aliases expand to more than {MAX_ALIAS_EXPANSION} nodes in this "
                    "file (an alias bomb?): refused",
                )
        else:
            self.visited.add(ident)
        pos = _Pos(self.where(node))
        if isinstance(node, yaml.ScalarNode):
            return self._scalar(node), pos
        if ident in self.active:
            raise _BuildError(pos_of(pos), "recursive YAML alias: a node contains itself")
        if self.depth >= MAX_DEPTH:
            raise _BuildError(
                pos_of(pos), f"YAML nesting is deeper than {MAX_DEPTH} levels: refused"
            )
        self.active.add(ident)
        self.depth += 1
        try:
            if isinstance(node, yaml.SequenceNode):
                if node.tag not in (_TAG + "seq",):
                    raise _BuildError(pos_of(pos), f"unsupported YAML tag {node.tag!r}")
                values: list[Any] = []
                positions: list[_Pos] = []
                for item in node.value:
                    value, item_pos = self.build(item)
                    values.append(value)
                    positions.append(item_pos)
                pos.children = positions
                return values, pos
            if node.tag not in (_TAG + "map",):
                raise _BuildError(pos_of(pos), f"unsupported YAML tag {node.tag!r}")
            return self._mapping(node, pos)
        finally:
            self.depth -= 1
            self.active.discard(ident)

    def _mapping(self, node: yaml.Node, pos: _Pos) -> tuple[dict[Any, Any], _Pos]:
        result: dict[Any, Any] = {}
        children: dict[Any, _Pos] = {}
        merges: list[tuple[dict[Any, Any], dict[Any, _Pos]]] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                merged, merged_pos = self.build(value_node)
                sources = [(merged, merged_pos)]
                if isinstance(merged, list):
                    sources = list(zip(merged, merged_pos.children or [], strict=True))
                for source, source_pos in sources:
                    if not isinstance(source, dict):
                        raise _BuildError(self.where(value_node), "a merge (<<) needs a mapping")
                    assert isinstance(source_pos.children, dict)
                    merges.append((source, source_pos.children))
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                raise _BuildError(self.where(key_node), "a mapping key must be a plain value")
            key = self._scalar(key_node)
            try:
                hash(key)
            except TypeError:
                raise _BuildError(
                    self.where(key_node), "a mapping key must be a plain value"
                ) from None
            if key in children:
                first = children[key]
                first_key = next(k for k in result if k == key)
                if type(first_key) is not type(key):  # 1 and true: one key in Python
                    raise _BuildError(
                        self.where(key_node),
                        f"keys {_show(first_key)} (line {first.key_line}) and {_show(key)} "
                        "are different in YAML but one key here: quote them ('1', 'true')",
                    )
                raise _BuildError(
                    self.where(key_node),
                    f"duplicate key {_show(key)} (first at line {first.key_line}): "
                    "YAML would silently keep only the last one",
                )
            value, value_pos = self.build(value_node)
            value_pos.key_line, value_pos.key_column = self.where(key_node)
            result[key] = value
            children[key] = value_pos
        for source, source_children in merges:  # explicit keys win, then earlier merges
            for key, value in source.items():
                if key not in result:
                    result[key] = value
                    children[key] = source_children[key]
        pos.children = children
        return result, pos

    def _scalar(self, node: yaml.Node) -> Any:
        if node.tag == _STR_TAG:
            return node.value
        constructor = _constructor.yaml_constructors.get(node.tag)
        if constructor is None or not node.tag.startswith(_TAG):
            raise _BuildError(self.where(node), f"unsupported YAML tag {node.tag!r}")
        try:
            return constructor(_constructor, node)
        except (yaml.YAMLError, ArithmeticError, LookupError, AttributeError) as exc:
            # PyYAML's constructors fail in many ways on impossible values (!!bool maybe,
            # !!int "", !!timestamp x): all of them are this value's error
            raise _BuildError(
                self.where(node), f"invalid {node.tag[len(_TAG) :]} value {_show(node.value)}"
            ) from exc
        except (ValueError, TypeError) as exc:
            raise _BuildError(
                self.where(node), f"invalid {node.tag[len(_TAG) :]} value: {exc}"
            ) from None


def pos_of(pos: _Pos) -> tuple[int, int]:
    return pos.line, pos.column


# --------------------------------------------------------------------------- documents


def _load_document(
    path: Path,
    node: yaml.Node,
    objects: list[LoadedObject],
    errors: list[ManifestError],
    lines: _Lines,
    budget: _Budget,
) -> None:
    def err(line: int, column: int, message: str) -> None:
        errors.append(ManifestError(SourceRef(path, line, column), message))

    try:
        data, pos = _Builder(lines, budget).build(node)
    except _BuildError as exc:
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
    if "kind" not in data:
        err(pos.line, pos.column, f"missing kind: one of {', '.join(KINDS)}")
        return
    model = MODEL_BY_KIND.get(kind) if isinstance(kind, str) else None
    if model is None:
        hint = _did_you_mean(str(kind), KINDS)
        err(*at("kind"), f"unknown kind {kind!r} (known: {', '.join(KINDS)}){hint}")
        return
    try:
        manifest = model.model_validate(data)
    except ValidationError as exc:
        for item in exc.errors(include_url=False):
            line, column, message = _locate(pos, item, model)
            err(line, column, message)
        return
    if "apiVersion" in data:
        objects.append(LoadedObject(manifest, SourceRef(path, pos.line, pos.column)))


# --------------------------------------------------------------------------- pydantic errors


def _locate(root: _Pos, item: Any, model: type[BaseModel]) -> tuple[int, int, str]:
    """Line, column and message for one pydantic error."""
    loc: tuple[Any, ...] = tuple(item["loc"])
    kind: str = item["type"]
    # Walk the positions as far as the loc goes.
    pos, parent, depth = root, root, 0
    for part in loc:
        child = _child(pos, part)
        if child is None:
            break
        parent, pos = pos, child
        depth += 1
    found = depth == len(loc)

    if kind == "missing":
        where = pos if not found else parent
        line, column = _key_or_value(where)
        field = loc[-1] if loc else "?"
        owner = _path(loc[:-1])
        inside = f" in {owner}" if owner else ""
        return line, column, f"missing required field {field!r}{inside}"
    if kind == "extra_forbidden" and found:
        field = loc[-1]
        owner = _path(loc[:-1])
        choices = _field_names(model, loc[:-1])
        hint = _did_you_mean(str(field), choices)
        if not hint and choices:
            hint = f" (valid: {', '.join(choices)})"
        inside = f" in {owner}" if owner else ""
        return pos.key_line, pos.key_column, f"unknown field {field!r}{inside}{hint}"
    if pos.children is not None and pos.key_line:
        line, column = pos.key_line, pos.key_column  # a whole mapping/list: point at its key
    else:
        line, column = pos.line, pos.column
    path = _path(loc)
    message = _message(item)
    return line, column, f"{path}: {message}" if path else message


def _child(pos: _Pos, part: Any) -> _Pos | None:
    children = pos.children
    if isinstance(children, dict):
        return children.get(part) if isinstance(part, str | int | float | bool) else None
    if isinstance(children, list) and isinstance(part, int) and 0 <= part < len(children):
        return children[part]
    return None


def _key_or_value(pos: _Pos) -> tuple[int, int]:
    if pos.key_line:
        return pos.key_line, pos.key_column
    return pos.line, pos.column


def _message(item: Any) -> str:
    kind: str = item["type"]
    msg: str = item["msg"]
    value = item.get("input")
    if kind == "value_error":
        return msg.removeprefix("Value error, ")
    if kind == "assertion_error":
        return msg.removeprefix("Assertion failed, ")
    if kind == "literal_error":
        expected = item.get("ctx", {}).get("expected", "")
        choices = re.findall(r"'([^']*)'", expected)
        hint = _did_you_mean(str(value), choices) if choices else ""
        allowed = ", ".join(choices) or expected
        return f"{_show(value)} is not allowed (use one of: {allowed}){hint}"
    if kind == "string_pattern_mismatch" and tuple(item["loc"])[-1:] == ("name",):
        return (
            f"{_show(value)} is not a valid name: use letters, digits, '_', '.', '-' "
            "(starting with a letter or digit, at most 63 characters)"
        )
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        msg = "must be a mapping (key: value)"
    else:
        msg = re.sub(r"^Input should be", "must be", msg)
    if isinstance(value, dict | list):
        return msg
    return f"{msg}, got {_show(value)}"


def _show(value: Any) -> str:
    if value is None:
        return "null (empty)"
    if isinstance(value, bool):
        return "true" if value else "false"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _path(loc: tuple[Any, ...]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def _did_you_mean(word: str, choices: typing.Iterable[str]) -> str:
    choices = list(choices)
    squash = {re.sub(r"[-_]", "", c).lower(): c for c in choices}
    exact = squash.get(re.sub(r"[-_]", "", word).lower())
    if exact is not None and exact != word:
        return f"; did you mean {exact!r}?"
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _field_names(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The manifest names (aliases) of the fields of the model that ``loc`` leads to."""
    target: Any = model
    for part in loc:
        target = _unwrap(target)
        if isinstance(target, type) and issubclass(target, BaseModel):
            field = None
            for name, info in target.model_fields.items():
                if part in (name, info.alias):
                    field = info
                    break
            if field is None:
                return []
            target = field.annotation
        else:
            args = typing.get_args(target)
            origin = typing.get_origin(target)
            if origin is list and args:
                target = args[0]
            elif origin is dict and len(args) == 2:
                target = args[1]
            else:
                return []
    target = _unwrap(target)
    if isinstance(target, type) and issubclass(target, BaseModel):
        return [info.alias or name for name, info in target.model_fields.items()]
    return []


def _unwrap(annotation: Any) -> Any:
    """``X | None`` -> ``X``; ``Annotated[X, ...]`` -> ``X``."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
            continue
        if origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(args) == 1:
                annotation = args[0]
                continue
        return annotation
