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
import atexit
import importlib
import os
import sys
import threading
from collections.abc import Sequence
from typing import NoReturn

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

# Commands that leave no file open for writing when they return (their output is stdout
# and stderr, their writes to the Swarm are answered calls): `entry` ends them without
# the interpreter's teardown.
NO_TEARDOWN = frozenset({"validate", "plan", "apply"})


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The whole parser; with ``command`` (a command's name: each module is named after
    its command) only that command's, which parses that command's arguments the same way
    without importing the other command modules (``validate`` in CI starts faster)."""
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
        if command is None or name.rpartition(".")[2] == command:
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
    args_list = list(sys.argv[1:] if argv is None else argv)
    first = args_list[0] if args_list else None
    known = {name.rpartition(".")[2] for name in COMMANDS}
    # `swarm-operator COMMAND ...`: only COMMAND's parser; anything else (--help,
    # --version, an unknown command, none) gets the whole one and its messages.
    parser = build_parser(first if first in known else None)
    args = parser.parse_args(args_list)
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


def entry() -> NoReturn:
    """The `swarm-operator` command (and ``python -m swarm_operator``): `main`, then exit.

    After `validate`, `plan` and `apply` (`NO_TEARDOWN`) the process ends without
    Python's teardown of every module and object: that teardown was 0.12 s of CPU after
    an `apply` of 100 services (a fifth of the command's own), and up to 0.9 s of the
    wait at the prompt on a loaded machine, for nothing a user can see. What an exit
    does that can be seen is kept: the exit code, the `atexit` callbacks (logging's
    flush among them) and the flush of stdout and stderr. Any other command, a command
    that left a thread running, or a flush that fails exits the ordinary way."""
    code = main()
    args = sys.argv[1:2]
    if args and args[0] in NO_TEARDOWN and threading.active_count() == 1:
        atexit._run_exitfuncs()  # what the interpreter runs first at exit
        try:
            for stream in (sys.stdout, sys.stderr):
                stream.flush()
        except (OSError, ValueError):
            raise SystemExit(code) from None  # Python's own exit reports it, as before
        os._exit(code)
    raise SystemExit(code)
