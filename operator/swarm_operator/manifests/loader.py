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
   places, and a service mount of a declared Volume gets that Volume's driver
   (`manifests.links`).

Finding the files is `manifests.files`' (the walk, which names count). The daemon
reloads with a `ParseCache` (`manifests.parse_cache`): steps 2 to 4 are skipped for a
file whose bytes are those of its last parse (its objects and errors are taken again),
and step 1 too for a file whose stat shows it unchanged since it was read (`ParseCache`
says when that can be trusted); finding the files and step 5 always run, so the result
is the one a fresh load gives.

Nothing here raises for bad input: every problem becomes a `ManifestError` in the
`LoadResult`, and loading goes on with the next document and the next file.
"""

from __future__ import annotations

import errno
import gc
import os
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import ValidationError

from swarm_operator.manifests import DEFAULT_MAX_FILE_BYTES, content, links
from swarm_operator.manifests.files import Refused, is_kernel_file, os_message, read_bounded, walk
from swarm_operator.manifests.locate import child_of, did_you_mean, locate
from swarm_operator.manifests.models import API_VERSION, models_by_kind
from swarm_operator.manifests.parse_cache import ParseCache
from swarm_operator.manifests.results import (
    LoadedObject,
    LoadResult,
    ManifestError,
    SourceRef,
    display_path,
    one_line,
)
from swarm_operator.manifests.yaml_tree import (
    C_PARSER,
    Budget,
    Builder,
    BuildError,
    ComposeLoader,
    Lines,
    Pos,
    TooManyNodes,
)

__all__ = [  # the results are re-exported: callers import them from here
    "LoadResult",
    "LoadedObject",
    "ManifestError",
    "SourceRef",
    "display_path",
    "load_directory",
    "load_file",
    "one_line",
]

"""Files larger than this are refused (manifests are small; this stops accidents)."""
MAX_ERRORS_PER_FILE = 100


# --------------------------------------------------------------------------- entry points


def load_directory(
    path: Path,
    *,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    cache: ParseCache | None = None,
) -> LoadResult:
    """Load every manifest file under ``path`` (recursively, in sorted order).

    With a ``cache`` (`ParseCache`, kept between calls by the daemon), every file is still
    found and read, but a file whose bytes are those of its last parse is not parsed
    again: the result is the same as without it, errors included.
    """
    path = Path(path)
    errors: list[ManifestError] = []
    if not path.exists():
        return _fail(path, f"{path}: no such directory")
    if not path.is_dir():
        return _fail(path, f"{path}: not a directory")
    stats: dict[Path, os.stat_result] | None = None
    if cache is not None:
        cache.start()
        stats = {}
    files: list[Path] = []
    for found in walk(path, errors, stats):
        files.append(found)
    objects: list[LoadedObject] = []
    counts = [0, 0]  # suppressed errors, capped files
    # Composing builds many short-lived node objects; the cyclic GC would walk the growing
    # heap again and again (about a fifth of the time). Nothing here makes cycles to free.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for file in files:
            st = stats.get(file) if stats is not None else None
            file_objects, file_errors = _load_guarded(file, max_file_bytes, path, cache, st)
            objects.extend(file_objects)
            errors.extend(_cap(file, file_errors, counts))
    finally:
        if gc_was_enabled:
            gc.enable()
    if cache is not None:
        cache.keep_only(files)
    return _finish(objects, errors, files, counts)


def load_file(path: Path, *, max_file_bytes: int = DEFAULT_MAX_FILE_BYTES) -> LoadResult:
    """Load one file, whatever its name."""
    path = Path(path)
    if not path.exists():
        return _fail(path, f"{path}: no such file")
    if path.is_dir():
        return _fail(path, f"{path}: is a directory")
    real = Path(os.path.realpath(path))
    if is_kernel_file(real):
        return _fail(path, f"{display_path(real)} is a kernel file, not a manifest: not read")
    objects, errors = _load_guarded(path, max_file_bytes, None)
    counts = [0, 0]
    return _finish(objects, _cap(path, errors, counts), [path], counts)


def _load_guarded(
    path: Path,
    max_file_bytes: int,
    root: Path | None,
    cache: ParseCache | None = None,
    st: os.stat_result | None = None,
) -> tuple[list[LoadedObject], list[ManifestError]]:
    """`_load_one`, and whatever goes wrong inside it is this file's error, never a
    traceback that loses the other files' errors."""
    try:
        return _load_one(path, max_file_bytes, cache, st)
    except RecursionError:
        return [], [ManifestError(SourceRef(path, 1, 1), "YAML nesting is too deep")]
    except MemoryError:
        return [], [ManifestError(SourceRef(path, 1, 1), "file needs too much memory: refused")]
    except Exception as exc:  # a bug of ours; the file is reported, the rest goes on
        message = f"internal error while reading this file ({type(exc).__name__}: {exc})"
        return [], [ManifestError(SourceRef(path, 1, 1), message)]


@dataclass(frozen=True)
class _Hidden(ManifestError):
    """How many of a file's errors `_trim` dropped while the file was read (never shown)."""

    count: int = 0


_TRIM_AT = 10 * MAX_ERRORS_PER_FILE


def _trim(errors: list[ManifestError]) -> None:
    """Keep a file's first errors (one more than listed) and count the rest: what a file
    of many documents with many errors each holds stays small while it is read."""
    hidden = sum(e.count for e in errors if isinstance(e, _Hidden))
    real = sorted((e for e in errors if not isinstance(e, _Hidden)), key=_place_key)
    keep = real[: MAX_ERRORS_PER_FILE + 1]
    hidden += len(real) - len(keep)
    errors[:] = [*keep, _Hidden(keep[-1].source, "", hidden)]


def _place_key(error: ManifestError) -> tuple[int, int]:
    return error.source.line, error.source.column


def _cap(path: Path, errors: list[ManifestError], counts: list[int]) -> list[ManifestError]:
    """One file's errors in file order, at most `MAX_ERRORS_PER_FILE`, then one line more."""
    hidden = sum(e.count for e in errors if isinstance(e, _Hidden))
    if hidden:
        errors = [e for e in errors if not isinstance(e, _Hidden)]
    errors.sort(key=_place_key)
    if len(errors) + hidden <= MAX_ERRORS_PER_FILE:
        return errors
    rest = len(errors) - MAX_ERRORS_PER_FILE + hidden
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
    for obj in kept:
        for kind, name, where in obj.references:
            if (kind, name) not in first:
                errors.append(
                    ManifestError(
                        where,
                        f"{kind} {name!r} is declared nowhere: add a {kind} manifest "
                        f"(with external: true if it is made outside swarm-operator)",
                    )
                )
    # e.g. mounts of declared Volumes; with a file failed, a Volume may be missing
    kept, link_errors = links.resolve(kept, incomplete=bool(errors))
    errors.extend(link_errors)
    suppressed, capped = counts or (0, 0)
    return LoadResult(tuple(kept), tuple(errors), tuple(files), suppressed, capped)


# --------------------------------------------------------------------------- one file


def _load_one(
    path: Path,
    max_file_bytes: int,
    cache: ParseCache | None = None,
    st: os.stat_result | None = None,
) -> tuple[list[LoadedObject], list[ManifestError]]:
    if cache is not None and st is not None:
        unchanged = cache.unchanged(path, st)
        if unchanged is not None:
            return unchanged
    try:
        data = read_bounded(path, max_file_bytes)
    except Refused as exc:
        return [], [ManifestError(SourceRef(path, exc.line, exc.line), str(exc))]
    except OSError as exc:
        if exc.errno in (errno.EAGAIN, errno.EWOULDBLOCK):
            message = "reading would block (not a plain file?): refused"
        else:
            message = os_message(exc)
        return [], [ManifestError(SourceRef(path, 0, 0), message)]
    if cache is not None:
        known = cache.get(path, data, st)
        if known is not None:
            return known
    objects, errors = _parse(path, data)
    if cache is not None:
        cache.put(path, data, st, objects, errors)
    return objects, errors


def _parse(path: Path, data: bytes) -> tuple[list[LoadedObject], list[ManifestError]]:
    """One file's objects and errors from its bytes (nothing else: what a cache keys on)."""
    errors: list[ManifestError] = []
    objects: list[LoadedObject] = []

    def err(line: int, column: int, message: str) -> None:
        errors.append(ManifestError(SourceRef(path, line, column), message))

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

    lines = Lines(text)
    budget = Budget()
    try:
        for node in yaml.compose_all(text, Loader=ComposeLoader):
            if node is None:
                continue  # an empty document
            _load_document(path, node, objects, errors, lines, budget)
            if len(errors) > _TRIM_AT:
                _trim(errors)
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
        if C_PARSER:
            index = len(text.encode("utf-8")[: exc.position].decode("utf-8", "ignore"))
        line, column = lines.position(index)
        char = exc.character if isinstance(exc.character, int) else ord(exc.character)
        err(line, column, f"YAML cannot contain the character U+{char:04X}")
    except yaml.YAMLError as exc:  # pragma: no cover - other parser failures
        err(1, 1, f"YAML error: {exc}")
    except RecursionError:
        err(1, 1, "YAML nesting is too deep")
    return objects, errors


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


def _syntax_message(exc: yaml.MarkedYAMLError, lines: Lines) -> str:
    if isinstance(exc, TooManyNodes):
        return str(exc.problem)
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


# --------------------------------------------------------------------------- documents

COMPOSE_TOP_LEVEL = frozenset(
    ("version", "services", "networks", "volumes", "secrets", "configs", "name", "include")
)


def is_compose_document(data: dict[object, object]) -> bool:
    """A compose file rather than a manifest: no apiVersion or kind, a ``services`` (or a
    ``version``) key, and only compose's top-level keys (and ``x-`` extensions)."""
    if "apiVersion" in data or "kind" in data:
        return False
    if "services" not in data and "version" not in data:
        return False
    return all(
        isinstance(key, str) and (key in COMPOSE_TOP_LEVEL or key.startswith("x-")) for key in data
    )


def _load_document(
    path: Path,
    node: yaml.Node,
    objects: list[LoadedObject],
    errors: list[ManifestError],
    lines: Lines,
    budget: Budget,
) -> None:
    def err(line: int, column: int, message: str) -> None:
        errors.append(ManifestError(SourceRef(path, line, column), message))

    try:
        data, pos = Builder(lines, budget).build(node)
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

    if is_compose_document(data):
        err(
            pos.line,
            pos.column,
            "this is a compose file; convert it with "
            f"`swarm-operator convert -f {display_path(path)}`",
        )
        return
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
    problems = content.attach(manifest, path)
    for where, message in problems:
        err(*_place(pos, where), message)
    if problems:
        return
    references = tuple(
        (kind, name, SourceRef(path, *_place(pos, where)))
        for where, kind, name in manifest.references()
    )
    if "apiVersion" in data:
        objects.append(LoadedObject(manifest, SourceRef(path, pos.line, pos.column), references))


def _place(root: Pos, where: tuple[str | int, ...]) -> tuple[int, int]:
    """Line and column of the key (or item) at ``where``, or of the deepest part found."""
    pos = root
    for part in where:
        child = child_of(pos, part)
        if child is None:
            break
        pos = child
    if pos.key_line:
        return pos.key_line, pos.key_column
    return pos.line, pos.column
