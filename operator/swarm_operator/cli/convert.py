"""`swarm-operator convert -f compose.yml ... -o DIR`: compose files to manifests.

Owns the command's arguments, its messages and exit codes; the conversion itself is
`manifests.compose.convert`. Every error and warning is printed as
``file:line:column: [warning: ]message``. Exit 0 when the files were written (warnings
may have been printed), 1 when any error was found (nothing is written), 2 on a usage
error (argparse's, a compose file that does not exist, an output file that exists
without ``--force``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from swarm_operator.cli.common import EXIT_FAILED, EXIT_OK, EXIT_USAGE

# PyYAML, pydantic and the converter are imported in run(): `--help` stays light.

EPILOG = """\
examples:
  swarm-operator convert -f docker-compose.yml -o manifests/shop
  swarm-operator convert -f stack.yml -f stack.prod.yml --namespace shop -o manifests/shop
  swarm-operator convert -f stack.yml --env-file prod.env --layout per-service -o out/

Reads the compose files (version 3.x or unversioned; several -f are merged as compose
merges them), substitutes ${VAR} from the environment and the .env file (beside the
first file unless --env-file is given), and writes one manifest file per kind (or per
service) into DIR, each object under a comment naming the compose file and line it came
from. Keys Swarm ignores are warnings; keys with no manifest equivalent are errors.

--namespace NAME names every object as `docker stack deploy NAME` does (NAME_web,
NAME_default, the com.docker.stack.* labels, the short name as a network alias) and
adds the adopt annotation, so `apply` takes the running stack over in place.

exit status: 0 written, 1 an error in the compose files (nothing written), 2 usage error
"""


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "convert",
        help="convert compose files (docker stack deploy) to manifests",
        description="Convert compose files to a directory of manifests.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "-f",
        "--file",
        dest="files",
        action="append",
        required=True,
        type=Path,
        metavar="FILE",
        help="compose file; repeat to merge several, later ones override",
    )
    parser.add_argument(
        "-o", "--out", dest="out", required=True, type=Path, metavar="DIR", help="output directory"
    )
    parser.add_argument(
        "--env-file", type=Path, metavar="FILE", help="variables file (default: .env beside FILE)"
    )
    parser.add_argument(
        "--namespace", metavar="NAME", help="name objects as `docker stack deploy NAME` does"
    )
    parser.add_argument(
        "--layout",
        choices=("per-kind", "per-service"),
        default="per-kind",
        help="one file per kind (default) or one file per service",
    )
    parser.add_argument(
        "--force", action="store_true", help="overwrite output files that already exist"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    files: list[Path] = args.files
    for path in files:
        if not path.is_file():
            print(f"swarm-operator convert: error: {path}: no such file", file=sys.stderr)
            return EXIT_USAGE
    from swarm_operator.manifests.compose.convert import convert_files, render

    result = convert_files(files, namespace=args.namespace, env_file=args.env_file, output=args.out)
    for problem in result.problems:
        print(problem, file=sys.stderr)
    if not result.ok:
        count = len(result.errors)
        print(
            f"convert: {count} error{'s' if count != 1 else ''}; nothing written",
            file=sys.stderr,
        )
        return EXIT_FAILED
    rendered = render(result.objects, args.layout)
    out: Path = args.out
    existing = [name for name in rendered if (out / name).exists()]
    if existing and not args.force:
        names = ", ".join(str(out / n) for n in existing)
        print(
            f"swarm-operator convert: error: {names} exists (--force overwrites)", file=sys.stderr
        )
        return EXIT_USAGE
    out.mkdir(parents=True, exist_ok=True)
    for name, text in rendered.items():
        (out / name).write_text(text, encoding="utf-8")
    kinds: dict[str, int] = {}
    for obj in result.objects:
        kinds[obj.kind] = kinds.get(obj.kind, 0) + 1
    counted = ", ".join(f"{n} {kind}" for kind, n in kinds.items())
    warned = len(result.warnings)
    print(
        f"converted: {len(result.objects)} objects ({counted}) into {len(rendered)} files in "
        f"{out}" + (f"; {warned} warning{'s' if warned != 1 else ''}" if warned else "")
    )
    return EXIT_OK
