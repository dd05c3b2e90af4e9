"""`swarm-operator run DIR`: the long-running operator (see `daemon.controller`).

Owns the command's arguments, logging set-up and signal handling; everything else is
`daemon.controller.Daemon`. SIGTERM and SIGINT finish the reconciles in progress, release the lease
and exit 0; exit 2 on a usage error (bad address, address in use).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from swarm_operator.cli.common import (
    EXIT_USAGE,
    add_host,
    add_prune,
    add_registry_auth,
    address,
    duration,
    positive_int,
)
from swarm_operator.observe import DEFAULT_ADDR
from swarm_operator.probing import DEFAULT_PROBE_IMAGE, PROBE_IMAGE_ENV

if TYPE_CHECKING:
    from swarm_operator.daemon.gitsource import GitOptions

EPILOG = f"""\
examples:
  swarm-operator run manifests/
  swarm-operator run /srv/swarm --metrics-addr 0.0.0.0:9786 --prune
  DOCKER_HOST=unix:///run/docker.sock swarm-operator run manifests/ --no-self-heal
  swarm-operator run --git https://git.example.com/ops/swarm.git --git-path prod \
      --git-token-file /run/secrets/git-token

With --git URL the daemon fetches the repository every --git-interval and reconciles
from --git-path of the fetched revision; a revision that fails to load is not applied
(the last good one stays in force; /status "source" names its errors).

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


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "run",
        help="run as a daemon: watch DIR and the Swarm, self-heal, serve metrics",
        description="Keep the Swarm equal to a manifest directory, continuously.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "directory",
        metavar="DIR",
        type=Path,
        nargs="?",
        help="manifest directory (or --git URL)",
    )
    git = parser.add_argument_group(
        "git source", "reconcile from a git repository instead of DIR (fetched by the daemon)"
    )
    git.add_argument("--git", metavar="URL", help="https://, ssh://, git:// URL or a local path")
    git.add_argument(
        "--git-ref", metavar="REF", help="branch, tag or commit (default: the remote's HEAD)"
    )
    git.add_argument(
        "--git-path", metavar="DIR", default=".", help="manifest directory in the repository"
    )
    git.add_argument(
        "--git-interval",
        type=duration,
        default=60.0,
        metavar="DURATION",
        help="poll period (default 1m)",
    )
    git.add_argument(
        "--git-token-file",
        type=Path,
        metavar="FILE",
        help="HTTPS token (sent as HTTP basic auth; read from the file, never logged)",
    )
    git.add_argument(
        "--git-ssh-key-file", type=Path, metavar="FILE", help="SSH private key for ssh:// URLs"
    )
    git.add_argument(
        "--git-known-hosts",
        type=Path,
        metavar="FILE",
        help="known_hosts for SSH (StrictHostKeyChecking=yes; without it: trust on first "
        "use, remembered in the cache)",
    )
    git.add_argument(
        "--webhook-addr",
        type=address,
        metavar="HOST:PORT",
        help="listen for push webhooks (POST /hooks/github, /hooks/gitea, /hooks/gitlab, "
        "/hooks/generic); off by default",
    )
    git.add_argument(
        "--webhook-secret-file",
        type=Path,
        metavar="FILE",
        help="the webhooks' shared secret (HMAC key; GitLab's token)",
    )
    parser.add_argument(
        "--notify",
        action="append",
        default=[],
        metavar="URL",
        help="send notifications to this Apprise URL (repeatable; json://HOST:PORT/PATH, "
        "slack://..., mailto://..., ntfys://...). URLs carry tokens: prefer --notify-file",
    )
    parser.add_argument(
        "--notify-file",
        type=Path,
        metavar="FILE",
        help="Apprise URLs, one a line (# comments)",
    )
    parser.add_argument(
        "--notify-cooldown",
        type=duration,
        default=600.0,
        metavar="DURATION",
        help="a flapping problem is sent at most once per this (default 10m)",
    )
    git.add_argument(
        "--git-cache",
        type=Path,
        metavar="DIR",
        help="clone and checkouts (default $XDG_CACHE_HOME/swarm-operator/git-HASH)",
    )
    parser.add_argument(
        "--metrics-addr",
        type=address,
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
    add_registry_auth(parser)
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


def _git_options(args: argparse.Namespace) -> GitOptions | None:
    """The git source's options, or None; ValueError on a usage error."""
    from swarm_operator.daemon.gitsource import GitOptions, check_path, default_cache, read_secret

    if args.git is None:
        if args.directory is None:
            raise ValueError("give a manifest directory DIR or --git URL")
        for flag in ("git_token_file", "git_ssh_key_file", "git_known_hosts", "git_cache"):
            if getattr(args, flag) is not None:
                raise ValueError(f"--{flag.replace('_', '-')} needs --git URL")
        return None
    if args.directory is not None:
        raise ValueError("give either DIR or --git URL, not both")
    for flag in ("git_token_file", "git_ssh_key_file", "git_known_hosts"):
        path = getattr(args, flag)
        if path is not None:
            try:
                read_secret(path) if flag == "git_token_file" else path.read_bytes()
            except (OSError, ValueError) as exc:
                raise ValueError(f"--{flag.replace('_', '-')}: cannot read {path}: {exc}") from None
    return GitOptions(
        url=args.git,
        ref=args.git_ref,
        path=check_path(args.git_path),
        interval=args.git_interval,
        cache=(args.git_cache or default_cache(args.git, args.git_ref)).absolute(),
        token_file=args.git_token_file.absolute() if args.git_token_file else None,
        ssh_key_file=args.git_ssh_key_file.absolute() if args.git_ssh_key_file else None,
        known_hosts=args.git_known_hosts.absolute() if args.git_known_hosts else None,
    )


def _webhook_secret(args: argparse.Namespace) -> bytes:
    from swarm_operator.daemon.gitsource import read_secret

    if args.webhook_addr is None:
        if args.webhook_secret_file is not None:
            raise ValueError("--webhook-secret-file needs --webhook-addr")
        return b""
    if args.git is None:
        raise ValueError("--webhook-addr needs --git URL")
    if args.webhook_secret_file is None:
        raise ValueError("--webhook-addr needs --webhook-secret-file")
    try:
        return read_secret(args.webhook_secret_file).encode()
    except (OSError, ValueError) as exc:
        raise ValueError(
            f"--webhook-secret-file: cannot read {args.webhook_secret_file}: {exc}"
        ) from None


def _notify_urls(args: argparse.Namespace) -> tuple[str, ...]:
    urls = list(args.notify)
    if args.notify_file is not None:
        try:
            text = args.notify_file.read_text(encoding="utf-8")
        except OSError as exc:
            raise ValueError(f"--notify-file: cannot read {args.notify_file}: {exc}") from None
        for line in text.splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                urls.append(line)
    return tuple(urls)


def run(args: argparse.Namespace) -> int:
    from swarm_operator.daemon.controller import Daemon, DaemonOptions
    from swarm_operator.observe import logs

    try:
        git = _git_options(args)
        secret = _webhook_secret(args)
        notify = _notify_urls(args)
    except ValueError as exc:
        print(f"swarm-operator run: {exc}", file=sys.stderr)
        return EXIT_USAGE

    logs.configure(
        json={"auto": None, "json": True, "console": False}[args.log_format],
        level=args.log_level,
    )
    options = DaemonOptions(
        directory=git.directory if git is not None else args.directory,
        git=git,
        webhook_addr=args.webhook_addr,
        webhook_secret=secret,
        notify_urls=notify,
        notify_cooldown=args.notify_cooldown,
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
        registry_auth=args.registry_auth,
    )
    try:
        daemon = Daemon(options)
    except ValueError as exc:  # a notification URL Apprise does not know
        print(f"swarm-operator run: {exc}", file=sys.stderr)
        return EXIT_USAGE

    restore = stop_on_signals(daemon.stop)
    try:
        return daemon.run()
    except OSError as exc:  # the metrics or webhook address is taken or not ours
        where = args.metrics_addr + (f" or {args.webhook_addr}" if args.webhook_addr else "")
        print(f"swarm-operator run: cannot serve on {where}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        restore()


def stop_on_signals(stop: Callable[[], None]) -> Callable[[], None]:
    """SIGTERM and SIGINT call ``stop`` (logged first); returns what puts the previous
    handlers back.

    Nothing is done in the handler itself: a Python handler runs in the main thread
    between two of its bytecodes, possibly while that thread holds the log's write lock
    or an event's lock, and logging or setting an event from there deadlocked the daemon
    (seen in CI: a SIGTERM that landed as the resync wrote its log line; the daemon never
    exited). The handler does nothing; `signal.set_wakeup_fd` writes the signal's number
    to a pipe at C level, and a thread of its own reads it, logs and stops.
    """
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)
    previous_fd = signal.set_wakeup_fd(write_end, warn_on_full_buffer=False)
    wanted = (signal.SIGTERM, signal.SIGINT)
    previous = {s: signal.signal(s, _ignore) for s in wanted}

    def watch() -> None:
        from swarm_operator.observe import logs

        log = logs.get_logger("swarm_operator")
        while True:
            try:
                data = os.read(read_end, 64)
            except OSError:  # closed by restore
                return
            if not data:
                return
            for number in data:
                if number in wanted:
                    log.info("signal received", signal=signal.Signals(number).name)
                    stop()

    threading.Thread(target=watch, name="swarm-operator-signals", daemon=True).start()

    def restore() -> None:
        signal.set_wakeup_fd(previous_fd)
        for s, handler in previous.items():
            signal.signal(s, handler)
        os.close(write_end)  # the watcher's read returns b"": it ends
        os.close(read_end)

    return restore


def _ignore(_signum: int, _frame: FrameType | None) -> None:
    """The Python-level handler: nothing (see `stop_on_signals`)."""
