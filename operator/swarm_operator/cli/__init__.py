"""The `swarm-operator` command line: argument parsing and dispatch, nothing more.

Each subcommand lives in its own module of this package with two functions:
``register(subparsers)`` adds its parser and sets ``func`` to ``run(args) -> int``.
Exit codes are the subcommand's; argparse's usage errors exit 2.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from swarm_operator import __version__
from swarm_operator.cli.common import EXIT_FAILED
from swarm_operator.manifests.models import models_by_kind

# Subcommand modules, in the order `--help` lists them.
COMMANDS: tuple[str, ...] = (
    "swarm_operator.cli.validate",
    # one line per command module
    "swarm_operator.cli.plan",
    "swarm_operator.cli.apply",
    "swarm_operator.cli.run",
    "swarm_operator.cli.sync",
    "swarm_operator.cli.doctor",
    "swarm_operator.cli.lab",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="swarm-operator",
        description=(
            "Keep a Docker Swarm equal to a directory of YAML manifests "
            "(kinds " + ", ".join(models_by_kind()) + "): validate, plan, apply, run as a daemon."
        ),
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    for stream in (sys.stdout, sys.stderr):
        # a file name that is not UTF-8 (or any text the terminal cannot show) is printed
        # escaped, never a UnicodeEncodeError
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code = int(args.func(args))
        sys.stdout.flush()
        return code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `swarm-operator validate DIR | head -1`: the reader has gone; stop quietly, and
        # keep Python from complaining again when it flushes stdout at exit
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return EXIT_FAILED
