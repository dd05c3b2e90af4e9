"""The `swarm-operator` command line: argument parsing and dispatch, nothing more.

Each subcommand lives in its own module of this package with two functions:
``register(subparsers)`` adds its parser and sets ``func`` to ``run(args) -> int``.
Exit codes are the subcommand's; argparse's usage errors exit 2.

Building the parser imports no third-party package: every command module imports what
its ``run`` uses inside it (pydantic and PyYAML for the manifests, docker-py for the
Swarm, structlog, prometheus-client and watchdog for the daemon), so ``--help`` of any
command stays at Python's own start-up (operator/tests/test_cli_imports.py).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from swarm_operator import __version__
from swarm_operator.cli.common import EXIT_FAILED
from swarm_operator.manifests import KIND_NAMES

# Subcommand modules, in the order `--help` lists them.
COMMANDS: tuple[str, ...] = (
    "swarm_operator.cli.validate",
    "swarm_operator.cli.convert",
    # one line per command module
    "swarm_operator.cli.plan",
    "swarm_operator.cli.apply",
    "swarm_operator.cli.run",
    "swarm_operator.cli.sync",
    "swarm_operator.cli.export",
    "swarm_operator.cli.doctor",
    "swarm_operator.cli.lab",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="swarm-operator",
        description=(
            "Keep a Docker Swarm equal to a directory of YAML manifests "
            "(kinds " + ", ".join(KIND_NAMES) + "): validate, plan, apply, run as a daemon."
        ),
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # pydantic looks up its plugins (every installed distribution's entry points) when it
    # builds the first model: about 50 ms of every command that reads manifests, for
    # plugins a command line has no use for. An explicit setting is kept.
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
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
