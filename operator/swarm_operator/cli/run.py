"""`swarm-operator run DIR`: the long-running operator (see `daemon.controller`).

Owns the command's arguments, logging set-up and signal handling; everything else is
`daemon.controller.Daemon`. SIGTERM and SIGINT finish the reconciles in progress, release the lease
and exit 0; exit 2 on a usage error (bad address, address in use).
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import Any

from swarm_operator.cli.common import EXIT_USAGE, add_host, add_prune, duration, positive_int
from swarm_operator.observe import DEFAULT_ADDR, parse_addr
from swarm_operator.probing import DEFAULT_PROBE_IMAGE, PROBE_IMAGE_ENV

EPILOG = f"""\
examples:
  swarm-operator run manifests/
  swarm-operator run /srv/swarm --metrics-addr 0.0.0.0:9786 --prune
  DOCKER_HOST=unix:///run/docker.sock swarm-operator run manifests/ --no-self-heal

Keeps the Swarm equal to DIR: reacts to edits of DIR (debounced), to Docker events of
the manager (services, networks, nodes), and resyncs everything every --resync-interval
(jittered). Drift made by hand is reverted unless --no-self-heal or the manifest says
metadata.annotations["swarm-operator/reconcile"]: "disabled" (drift is still reported).
A manifest that fails to load leaves its objects alone. Only one instance per Swarm
writes (a lease in the Swarm's own labels); others stand by.

Each managed overlay network is probed continuously (a global probe service
so-probe-NETWORK; spec.probe to tune or turn off, --no-probe for all): metric
swarm_operator_overlay_reachable{{network,source_node,target_node}}, /status "probes".

HTTP on --metrics-addr (default {DEFAULT_ADDR}): /metrics /healthz /readyz /status
"""


def _addr(text: str) -> str:
    try:
        parse_addr(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "run",
        help="run as a daemon: watch DIR and the Swarm, self-heal, serve metrics",
        description="Keep the Swarm equal to a manifest directory, continuously.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("directory", metavar="DIR", type=Path, help="manifest directory")
    parser.add_argument(
        "--metrics-addr",
        type=_addr,
        default=DEFAULT_ADDR,
        help=f"HOST:PORT (default {DEFAULT_ADDR})",
    )
    parser.add_argument(
        "--resync-interval",
        type=duration,
        default=180.0,
        metavar="DURATION",
        help="full resync period, jittered ±10%% (default 3m)",
    )
    parser.add_argument(
        "--workers", type=positive_int, default=2, help="reconcile workers (default 2)"
    )
    parser.add_argument(
        "--no-self-heal",
        dest="self_heal",
        action="store_false",
        help="report drift, never correct it",
    )
    add_prune(parser)
    add_host(parser)
    parser.add_argument(
        "--lease-duration",
        type=duration,
        default=15.0,
        metavar="DURATION",
        help="leader lease duration (default 15s)",
    )
    parser.add_argument(
        "--log-format",
        choices=("auto", "json", "console"),
        default="auto",
        help="auto: JSON unless stderr is a terminal",
    )
    parser.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING, ERROR")
    parser.add_argument(
        "--no-probe",
        dest="probe",
        action="store_false",
        help="never probe overlay networks (default: each managed overlay, unless its "
        "spec.probe.enabled is false)",
    )
    parser.add_argument(
        "--probe-image",
        default=None,
        metavar="IMAGE",
        help=f"default probe image (else ${PROBE_IMAGE_ENV}, else {DEFAULT_PROBE_IMAGE})",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from swarm_operator.daemon.controller import Daemon, DaemonOptions
    from swarm_operator.observe import logs

    logs.configure(
        json={"auto": None, "json": True, "console": False}[args.log_format],
        level=args.log_level,
    )
    options = DaemonOptions(
        directory=args.directory,
        metrics_addr=args.metrics_addr,
        resync_interval=args.resync_interval,
        workers=max(1, args.workers),
        self_heal=args.self_heal,
        prune=args.prune,
        max_prune=args.max_prune,
        host=args.host,
        lease_duration=args.lease_duration,
        probe=args.probe,
        probe_image=args.probe_image,
    )
    daemon = Daemon(options)

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        logs.get_logger("swarm_operator").info(
            "signal received", signal=signal.Signals(signum).name
        )
        daemon.stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        return daemon.run()
    except OSError as exc:  # the metrics address is taken or not ours
        print(f"swarm-operator run: cannot serve on {args.metrics_addr}: {exc}", file=sys.stderr)
        return EXIT_USAGE
