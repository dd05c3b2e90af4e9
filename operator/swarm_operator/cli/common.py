"""What the commands share: argument types and options declared once, loading, connecting.

Owns the argparse types every command uses (`duration`: one parser for every duration
option, a bad value is a usage error, exit 2, in every command; `positive_int`;
`address`), the options several commands take (``--host``, ``--prune``,
``--max-prune``, ``--output``), loading a manifest directory into what a command plans
from (`load_desired`), the plan options from the flags (`options_from_args`) and the
connection to a manager (`connect`). Neighbours: the command modules of this package.
Nothing heavy is imported at module level, so ``--help`` and ``validate`` stay fast.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from swarm_operator.kinds import DEFAULT_MAX_PRUNE
from swarm_operator.manifests.units import parse_duration
from swarm_operator.observe import parse_addr

if TYPE_CHECKING:
    from swarm_operator.kinds.base import PlanOptions
    from swarm_operator.manifests.models import Manifest
    from swarm_operator.swarm.client import SwarmClient

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


# --------------------------------------------------------------------------- argument types


def duration(text: str) -> float:
    """A duration option (``90s``, ``5m``, ``1h30m``; a plain number: seconds) in seconds."""
    try:
        return parse_duration(text) / 1e9
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def address(text: str) -> str:
    """A ``HOST:PORT`` option (``[v6]:port`` too), checked but kept as text."""
    try:
        parse_addr(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a positive number")
    return value


def non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative")
    return value


# --------------------------------------------------------------------------- shared options


def add_host(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-H",
        "--host",
        default=None,
        metavar="DOCKER_HOST",
        help="Docker engine of a Swarm manager (default: $DOCKER_HOST or the local socket)",
    )


def add_registry_auth(parser: argparse.ArgumentParser) -> None:
    """``--no-registry-auth``, for every command that writes services."""
    parser.add_argument(
        "--no-registry-auth",
        dest="registry_auth",
        action="store_false",
        help="never send registry credentials with a service (default: those the Docker "
        "client configuration, $DOCKER_CONFIG or ~/.docker/config.json, has for the image's "
        "registry, as docker stack deploy --with-registry-auth, so that workers can pull "
        "private images)",
    )


def add_output(parser: argparse.ArgumentParser, help_text: str = "output format") -> None:
    parser.add_argument("-o", "--output", choices=("text", "json"), default="text", help=help_text)


def add_prune(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--prune", action="store_true", help="delete managed objects no longer declared"
    )
    parser.add_argument(
        "--max-prune",
        type=non_negative_int,
        default=DEFAULT_MAX_PRUNE,
        metavar="N",
        help=f"refuse to prune while more than N objects would go (default {DEFAULT_MAX_PRUNE})",
    )


def add_plan_arguments(parser: argparse.ArgumentParser) -> None:
    """What `plan` and `apply` both take."""
    parser.add_argument("directory", metavar="DIR", help="directory of manifests")
    add_output(parser)
    add_host(parser)
    add_prune(parser)
    parser.add_argument(
        "--adopt", action="store_true", help="take over unlabelled objects with declared names"
    )
    parser.add_argument(
        "--allow-replace",
        action="store_true",
        help="recreate networks whose immutable fields changed (disrupts their services)",
    )


# --------------------------------------------------------------------------- loading


@dataclass(frozen=True)
class Desired:
    manifests: tuple[Manifest, ...]
    """Every object that loaded (from files with errors too: they are declared)."""
    errors: tuple[str, ...]
    """Load errors, each naming its file (and line): shown, and they block prune."""
    held: frozenset[tuple[str, str]] = frozenset()
    """Keys declared in a file that failed to load: never changed (`apply --partial`)."""


def load_desired(directory: str) -> Desired:
    from swarm_operator.manifests.loader import load_directory

    try:
        result = load_directory(Path(directory))
    except OSError as exc:
        return Desired((), (f"{directory}: cannot read: {exc}",))
    failed = result.failed_files
    return Desired(
        tuple(o.manifest for o in result.objects),
        tuple(map(str, result.errors)),
        frozenset(o.manifest.key for o in result.objects if o.source.file in failed),
    )


def options_from_args(args: argparse.Namespace, desired: Desired) -> PlanOptions:
    from swarm_operator.kinds.base import PlanOptions

    blockers = tuple(f"a manifest failed to load ({e})" for e in desired.errors)
    return PlanOptions(
        prune=bool(args.prune),
        max_prune=int(args.max_prune),
        adopt=bool(args.adopt),
        allow_replace=bool(args.allow_replace),
        prune_blockers=blockers,
    )


def connect(host: str | None, registry_auth: bool = True) -> SwarmClient:
    """A client of the manager at ``host`` (sending registry credentials with service
    writes unless ``registry_auth`` is False). No call is made here: the first read of the
    command negotiates the API version, and a worker or an engine outside any Swarm
    answers it with `NotAManager` (Docker's "not a swarm manager")."""
    from swarm_operator.swarm.client import SwarmClient

    return SwarmClient(host, registry_auth=registry_auth)
