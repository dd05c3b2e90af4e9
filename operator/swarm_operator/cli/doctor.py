"""`swarm-operator doctor`: cross-host connectivity and Swarm health, from a manager.

Argument parsing only; the run is `probing.doctor.run_doctor`, the reasoning
`probing.diagnose`, the text and JSON `cli.output`. Exit codes: 0 healthy (notes only),
1 problems found (or doctor could not run), 2 usage (unknown network, bad duration).

Text output: the reachability matrix of each probed network (rows: source node,
columns: target node; round-trip time in ms or the failure), the Swarm port checks, then
the findings with what to do. ``--output json`` prints the same as one JSON document.
Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from types import FrameType
from typing import Any

from swarm_operator.cli.common import (
    EXIT_OK,
    EXIT_USAGE,
    add_host,
    add_output,
    add_registry_auth,
    duration,
)
from swarm_operator.probing import DEFAULT_PROBE_IMAGE, PROBE_IMAGE_ENV

# The doctor itself (the models, the probe, docker) is imported in run(): `--help` stays light.

EXIT_PROBLEMS = 1


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "doctor",
        help="check that every node reaches every other over each overlay network",
        description=(
            "Deploy short-lived global probe services (one on each overlay network, one in "
            "host network mode), read their measurements through the manager, print the node x "
            "node reachability matrix and name what breaks it: a node, a port (4789/udp, "
            "7946, 2377), an MTU, an overlapping subnet, address exhaustion, manager quorum. "
            "Everything created is removed at the end; user services are never touched."
        ),
    )
    parser.add_argument("--network", metavar="NAME", help="probe only this overlay network")
    add_output(parser, "text (default) or json")
    parser.add_argument(
        "--timeout",
        type=duration,
        default=duration("60s"),
        metavar="DURATION",
        help="how long to wait for the probes (default 60s)",
    )
    parser.add_argument(
        "--probe-image",
        metavar="IMAGE",
        default=None,
        help=f"probe image (default ${PROBE_IMAGE_ENV} or {DEFAULT_PROBE_IMAGE}); "
        "needs busybox-like sh, nslookup, ping, nc, httpd, ip, timeout",
    )
    add_host(parser)
    add_registry_auth(parser)
    parser.set_defaults(func=run)


def _terminate(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def run(args: argparse.Namespace) -> int:
    from swarm_operator.cli import output
    from swarm_operator.probing import probe
    from swarm_operator.probing.doctor import DoctorOptions, UsageError, run_doctor
    from swarm_operator.swarm.errors import SwarmOperatorError

    options = DoctorOptions(
        network=args.network,
        timeout_s=args.timeout,
        image=probe.probe_image(args.probe_image),
    )
    from swarm_operator.swarm.client import SwarmClient

    def progress(message: str) -> None:
        print(f"doctor: {message}", file=sys.stderr, flush=True)

    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        client = SwarmClient(args.host, registry_auth=args.registry_auth)
        report = run_doctor(client, options, progress)
    except UsageError as exc:
        print(f"doctor: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except SwarmOperatorError as exc:
        print(f"doctor: {exc}", file=sys.stderr)
        return EXIT_PROBLEMS
    finally:
        signal.signal(signal.SIGTERM, previous)
    if args.output == "json":
        print(json.dumps(output.doctor_json(report), indent=2, sort_keys=True))
    else:
        print(output.doctor_text(report), end="")
    return EXIT_OK if report.healthy else EXIT_PROBLEMS
