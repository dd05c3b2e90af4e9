"""`swarm-operator export -o DIR`: the live Swarm as manifests, for users who arrive with
services made by hand or by `docker stack deploy`.

Owns the command: read the live Swarm, choose (`--stack`, `--selector`, `--all`), write
one file per kind into DIR (`engine.export`), say what was written. Objects the operator
does not own carry the adopt annotation, so `apply DIR` takes them over; `plan DIR`
against the same Swarm shows no field to change. Existing files are not overwritten
without ``--force``. Exit codes: 0 written, 1 error (nothing selected, the engine
unreachable, a file in the way).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from swarm_operator.cli.common import EXIT_FAILED, EXIT_OK, add_host, connect
from swarm_operator.swarm.errors import SwarmOperatorError


def _selector(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"{text!r} is not LABEL=VALUE")
    return key, value


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "export",
        help="write the live Swarm (or a stack of it) as manifests into a directory",
        description="Read the live Swarm and write its services, networks, secrets and "
        "configs (as external references: their content cannot be read back) and, with "
        "--all, nodes as manifests, one file per kind, defaults left out. Objects the operator "
        "does not own get the adopt annotation, so that `apply DIR` takes them over; "
        "`plan DIR` right after shows no field to change.",
    )
    parser.add_argument(
        "-o", "--output-dir", required=True, metavar="DIR", help="directory to write into"
    )
    parser.add_argument(
        "--stack",
        metavar="NAME",
        help="objects of the stack NAME (label com.docker.stack.namespace=NAME)",
    )
    parser.add_argument(
        "--selector",
        "-l",
        type=_selector,
        action="append",
        default=[],
        metavar="LABEL=VALUE",
        help="objects whose labels include LABEL=VALUE (repeat: all must match)",
    )
    parser.add_argument(
        "--all",
        action="store_true",
        help="every service, network, secret, config and node of the Swarm",
    )
    parser.add_argument("--force", action="store_true", help="overwrite files that exist")
    add_host(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from swarm_operator.engine.export import Selection, file_name, render_files, select
    from swarm_operator.engine.live import read_live
    from swarm_operator.kinds import registry

    if not (args.all or args.stack or args.selector):
        print(
            "error: say what to export: --stack NAME, --selector LABEL=VALUE or --all",
            file=sys.stderr,
        )
        return EXIT_FAILED
    selection = Selection(args.stack, dict(args.selector), bool(args.all))
    target = Path(args.output_dir)
    if target.exists() and not target.is_dir():
        print(f"error: {target}: exists and is not a directory", file=sys.stderr)
        return EXIT_FAILED
    try:
        client = connect(args.host)
        try:
            live = read_live(client)
        finally:
            client.close()
    except SwarmOperatorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    exported = select(live, selection)
    for kind, name, why in exported.skipped:
        print(f"warning: {kind} {name}: not exported: {why}", file=sys.stderr)
    for warning in exported.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if not exported.documents:
        print("error: nothing to export: no live object matches", file=sys.stderr)
        return EXIT_FAILED
    what = (
        "the whole Swarm"
        if args.all
        else " ".join(
            ([f"stack {args.stack}"] if args.stack else []) + [f"{k}={v}" for k, v in args.selector]
        )
    )
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    header = [f"exported by swarm-operator export ({what}) at {stamp}"]
    files = render_files(exported, header)
    in_the_way = [n for n in files if (target / n).exists()]
    if in_the_way and not args.force:
        print(
            f"error: {target}: {', '.join(in_the_way)} exist; pass --force to overwrite",
            file=sys.stderr,
        )
        return EXIT_FAILED
    target.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (target / name).write_text(text)
    added = {key for key in exported.added}
    for kind in registry.NAMES:
        names = [n for k, n, _ in exported.documents if k == kind]
        if not names:
            continue
        adopt = sum(
            1
            for k, _n, d in exported.documents
            if k == kind and (d["metadata"].get("annotations") or {})
        )
        extra = sum(1 for k, _n in added if k == kind)
        notes = [f"{adopt} to adopt"] if adopt else []
        if extra:
            notes.append(f"{extra} used by the exported services")
        suffix = f" ({', '.join(notes)})" if notes else ""
        print(f"{target / file_name(kind)}: {len(names)} {kind}{suffix}")
    return EXIT_OK
