"""`swarm-operator apply DIR`: make the Swarm equal to the manifests, then say what was done.

Owns the apply command: load, read the live state, plan (`plan.py`), carry the plan
out (`executor.py`), optionally wait for services to converge. Exit 0 only when every
action succeeded, nothing was blocked, no manifest failed to load and (with ``--wait``)
every touched service converged; otherwise 1, naming each object and Docker's error.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import TYPE_CHECKING, Any

from swarm_operator.cli.plan import add_common_arguments, connect, load_desired, options_from_args
from swarm_operator.manifests import units
from swarm_operator.swarm.errors import SwarmOperatorError

if TYPE_CHECKING:
    from swarm_operator.engine.executor import Progress, Result
    from swarm_operator.engine.plan import Plan
    from swarm_operator.swarm.client import SwarmClient

# The executor (and through it docker) is imported in run(): `--help` stays fast.

EXIT_OK = 0
EXIT_FAILED = 1
DEFAULT_TIMEOUT = "5m"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "apply",
        help="carry the plan out (exit 0: all done, 1: something failed or was refused)",
        description="Plan as `plan` does, then create, update, replace and (with --prune) "
        "delete objects in dependency order.",
    )
    add_common_arguments(parser)
    parser.add_argument(
        "--wait",
        action="store_true",
        help="wait until the services touched have converged (tasks running, update done)",
    )
    parser.add_argument(
        "--timeout",
        default=DEFAULT_TIMEOUT,
        metavar="D",
        help=f"how long --wait waits, e.g. 90s or 5m (default {DEFAULT_TIMEOUT})",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from swarm_operator.cli import output
    from swarm_operator.engine.executor import Executor
    from swarm_operator.engine.live import read_live
    from swarm_operator.engine.plan import plan

    try:
        timeout = units.parse_duration(args.timeout) / 1e9
    except ValueError as exc:
        print(f"error: --timeout: {exc}", file=sys.stderr)
        return EXIT_FAILED
    as_json = args.output == "json"
    colour = output.use_colour(sys.stdout)
    progress_stream = sys.stderr if as_json else sys.stdout

    def progress(line: str) -> None:
        print(f"  .. {line}", file=progress_stream, flush=True)

    desired = load_desired(args.directory)
    options = options_from_args(args, desired)
    try:
        client = connect(args)
    except SwarmOperatorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    try:
        the_plan = plan(desired.manifests, read_live(client), options)
        if not as_json:
            print(output.plan_text(the_plan, desired.errors, colour), flush=True)
        started = time.time()
        report = Executor(client, desired.manifests, options, progress).run(the_plan)
        if args.wait:
            touched = [
                r.action.name
                for r in report.results
                if r.ok and r.action.kind == "Service" and r.action.verb != "delete"
            ]
            report.waited.extend(_wait(client, the_plan, touched, started, timeout, progress))
    except SwarmOperatorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        client.close()
    if as_json:
        print(
            output.as_json(
                {"plan": the_plan.to_dict(), **report.to_dict(), "errors": list(desired.errors)}
            )
        )
    else:
        print(output.report_text(report, colour))
    failed = not report.ok or bool(desired.errors) or bool(the_plan.refusals)
    return EXIT_FAILED if failed else EXIT_OK


def _wait(
    client: SwarmClient,
    the_plan: Plan,
    names: list[str],
    started: float,
    timeout: float,
    progress: Progress,
) -> list[Result]:
    from swarm_operator.engine.executor import Result, wait_for_services

    if not names:
        return []
    by_name = {a.name: a for a in the_plan.actions if a.kind == "Service"}
    results = wait_for_services(client, names, started - 1.0, timeout, progress)
    return [Result(by_name[name], ok, f"wait: {message}") for name, ok, message in results]


__all__ = ["register", "run"]
