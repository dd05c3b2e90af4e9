"""`swarm-operator plan DIR`: show what `apply` would do, field by field. Changes nothing.

Owns the plan command and the pieces `cmd_apply.py` shares with it: loading the
directory into desired manifests plus the reasons pruning would be unsafe
(`load_desired`), options from flags (`options_from_args`), the engine connection
(`connect`). Exit codes: 0 nothing to change, 2 changes pending, 1 error (a manifest
failed to load, the engine is unreachable, a guard refused).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from swarm_operator.engine.plan import DEFAULT_MAX_PRUNE, PlanOptions
from swarm_operator.swarm.errors import SwarmOperatorError

if TYPE_CHECKING:
    from swarm_operator.manifests.models import Manifest
    from swarm_operator.swarm.client import SwarmClient

# docker (through docker_api), the live reader and the output module are imported where
# they are used, so that `swarm-operator --help` and `validate` stay fast.

EXIT_CLEAN = 0
EXIT_ERROR = 1
EXIT_PENDING = 2


@dataclass(frozen=True)
class Desired:
    manifests: tuple[Manifest, ...]
    errors: tuple[str, ...]
    """Load errors, each naming its file (and line): shown, and they block prune."""


def load_desired(directory: str) -> Desired:
    from swarm_operator.manifests.loader import load_directory

    try:
        result = load_directory(Path(directory))
    except OSError as exc:
        return Desired((), (f"{directory}: cannot read: {exc}",))
    return Desired(tuple(o.manifest for o in result.objects), tuple(map(str, result.errors)))


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("directory", metavar="DIR", help="directory of manifests")
    parser.add_argument(
        "--output", "-o", choices=("text", "json"), default="text", help="output format"
    )
    parser.add_argument(
        "--host", help="Docker engine (a Swarm manager); default: $DOCKER_HOST or the local socket"
    )
    parser.add_argument(
        "--prune", action="store_true", help="delete managed objects no longer declared"
    )
    parser.add_argument(
        "--max-prune",
        type=int,
        default=DEFAULT_MAX_PRUNE,
        metavar="N",
        help=f"refuse to prune more than N objects (default {DEFAULT_MAX_PRUNE})",
    )
    parser.add_argument(
        "--adopt", action="store_true", help="take over unlabelled objects with declared names"
    )
    parser.add_argument(
        "--allow-replace",
        action="store_true",
        help="recreate networks whose immutable fields changed (disrupts their services)",
    )


def options_from_args(args: argparse.Namespace, desired: Desired) -> PlanOptions:
    blockers = tuple(f"a manifest failed to load ({e})" for e in desired.errors)
    return PlanOptions(
        prune=bool(args.prune),
        max_prune=int(args.max_prune),
        adopt=bool(args.adopt),
        allow_replace=bool(args.allow_replace),
        prune_blockers=blockers,
    )


def connect(args: argparse.Namespace) -> SwarmClient:
    from swarm_operator.swarm.client import SwarmClient

    client = SwarmClient(args.host)
    client.require_manager()
    return client


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "plan",
        help="show what apply would change (exit 0: nothing, 2: changes pending, 1: error)",
        description="Compare the manifests in DIR with the live Swarm and show every action "
        "with its field-level differences. Changes nothing.",
    )
    add_common_arguments(parser)
    parser.add_argument("--verbose", "-v", action="store_true", help="also list unchanged objects")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from swarm_operator.cli import output
    from swarm_operator.engine.live import read_live
    from swarm_operator.engine.plan import plan

    desired = load_desired(args.directory)
    options = options_from_args(args, desired)
    try:
        client = connect(args)
        try:
            the_plan = plan(desired.manifests, read_live(client), options)
        finally:
            client.close()
    except SwarmOperatorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    if args.output == "json":
        print(output.as_json({**the_plan.to_dict(), "errors": list(desired.errors)}))
    else:
        colour = output.use_colour(sys.stdout)
        print(output.plan_text(the_plan, desired.errors, colour, verbose=args.verbose))
    if desired.errors or the_plan.refusals:
        return EXIT_ERROR
    return EXIT_PENDING if the_plan.pending else EXIT_CLEAN
