"""`swarm-operator validate DIR`: check a manifest directory without touching any Swarm.

Owns the command's arguments, output formats and exit codes; the checking itself is
`manifests.loader.load_directory`. Exit 0 when every manifest is valid, 1 when any is not
(every error listed, one per line as ``file:line:column: message``), 2 on a usage
error (argparse's, or a path that does not exist).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from swarm_operator.cli.common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, add_output, positive_int
from swarm_operator.manifests import DEFAULT_MAX_FILE_BYTES, KIND_NAMES

if TYPE_CHECKING:
    from swarm_operator.manifests.loader import LoadResult

# The loader (PyYAML, pydantic and the models) is imported in run(): `--help` stays light.

EPILOG = """\
examples:
  swarm-operator validate manifests/
  swarm-operator validate manifests/cross-host-demo --output json

Reads every *.yaml / *.yml file under DIR (recursively; hidden files and editor
temporaries are skipped) and checks each document against the manifest language.
Every problem is printed as FILE:LINE:COLUMN: MESSAGE, so editors and CI logs link
straight to it. Nothing is sent to Docker.

exit status: 0 all valid, 1 some manifest is invalid, 2 usage error
"""


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "validate",
        help="check a directory of manifests (no Swarm needed)",
        description="Check a directory of manifests and report every error with its place.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("path", metavar="DIR", type=Path, help="manifest directory (or one file)")
    add_output(parser, "text (default): one error per line; json: one JSON object on stdout")
    parser.add_argument(
        "--max-file-bytes",
        type=positive_int,
        default=DEFAULT_MAX_FILE_BYTES,
        metavar="N",
        help=f"refuse files larger than N bytes (default {DEFAULT_MAX_FILE_BYTES})",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from swarm_operator.manifests.loader import load_directory, load_file

    path: Path = args.path
    if not path.exists():
        print(f"swarm-operator validate: error: {path}: no such file or directory", file=sys.stderr)
        return EXIT_USAGE
    if path.is_dir():
        result = load_directory(path, max_file_bytes=args.max_file_bytes)
    else:
        result = load_file(path, max_file_bytes=args.max_file_bytes)
    if args.output == "json":
        json.dump(as_json(result), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        for error in result.errors:
            print(error)
        print(summary(result), file=sys.stdout if result.ok else sys.stderr)
    return EXIT_OK if result.ok else EXIT_FAILED


def _kinds(result: LoadResult) -> dict[str, int]:
    counts: Counter[str] = Counter(obj.manifest.kind for obj in result.objects)
    return {kind: counts[kind] for kind in KIND_NAMES if counts[kind]}


def summary(result: LoadResult) -> str:
    """One line: ``valid: 8 objects in 3 files (3 Node, 1 Network, 4 Service)``."""
    kinds = ", ".join(f"{n} {kind}" for kind, n in _kinds(result).items())
    objects = f"{len(result.objects)} object{'s' if len(result.objects) != 1 else ''}"
    files = f"{len(result.files)} file{'s' if len(result.files) != 1 else ''}"
    counted = f"{objects} in {files}" + (f" ({kinds})" if kinds else "")
    if result.ok:
        return f"valid: {counted}"
    count = result.error_count
    errors = f"{count} error{'s' if count != 1 else ''}"
    valid = f"{len(result.objects)} valid object{'s' if len(result.objects) != 1 else ''}"
    # paths that failed before they could be read as files (a broken symlink, an
    # unreadable directory) count among the places looked at
    looked = len(set(result.files) | result.failed_files)
    places = f"{looked} file{'s' if looked != 1 else ''}"
    return f"invalid: {errors} in {len(result.failed_files)} of {places} ({valid})"


def as_json(result: LoadResult) -> dict[str, Any]:
    """The ``--output json`` document: counts, and every error with its place."""
    return {
        "valid": result.ok,
        "files": len(result.files),
        "objects": len(result.objects),
        "kinds": _kinds(result),
        "errors": [
            {
                "file": str(e.source.file),
                "line": e.source.line,
                "column": e.source.column,
                "message": e.message,
            }
            for e in result.errors
        ],
    }
