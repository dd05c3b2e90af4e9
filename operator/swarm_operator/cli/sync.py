"""`swarm-operator sync`: ask a running daemon to fetch and reconcile everything now.

Owns the command's arguments, the POST to the daemon's loopback server (``/sync``, see
`observe.server`) and the printing of the pass's result. Exit 0 when the pass is done and
everything is synced, 1 when the pass failed, an object is not synced, the fetch failed
or the fetched revision was rejected, 2 when the daemon cannot be reached.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from swarm_operator.cli.common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, address, duration
from swarm_operator.observe import DEFAULT_ADDR, parse_addr

EPILOG = f"""\
examples:
  swarm-operator sync --wait                 # fetch, reconcile, print the result
  swarm-operator sync --addr 127.0.0.1:9786  # ask and return at once

The daemon (`swarm-operator run`, its --metrics-addr, default {DEFAULT_ADDR}) fetches
its git source (run --git) and runs a full pass now, as `flux reconcile` and `argocd
app sync` do. POST /sync is accepted from loopback only.
"""


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "sync",
        help="ask a running daemon to fetch and reconcile everything now",
        description="Ask a running daemon to fetch and reconcile everything now.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--addr",
        type=address,
        default=DEFAULT_ADDR,
        help=f"the daemon's --metrics-addr (default {DEFAULT_ADDR})",
    )
    parser.add_argument(
        "--wait", action="store_true", help="wait for the pass and print its result"
    )
    parser.add_argument(
        "--timeout",
        type=duration,
        default=300.0,
        metavar="DURATION",
        help="how long to wait with --wait (default 5m)",
    )
    parser.set_defaults(func=run)


def _failed(result: dict[str, Any]) -> list[str]:
    """Why the pass is not a success (empty: it is)."""
    why = []
    if result.get("error"):
        why.append(str(result["error"]))
    if result.get("failed"):
        why.append("a reconcile of the pass failed")
    source = result.get("source") or {}
    if source.get("lastFetchError"):
        why.append(f"fetch failed: {source['lastFetchError']}")
    if source.get("rejectedRevision"):
        why.append(f"revision {source['rejectedRevision']} rejected: it does not load")
    for obj in result.get("objects") or []:
        if obj.get("syncStatus") != "synced":
            why.append(f"{obj['kind']}/{obj['name']} is {obj.get('syncStatus')}")
    return why


def _print(result: dict[str, Any]) -> None:
    source = result.get("source") or {}
    revision = source.get("revision") or result.get("sourceRevision")
    print(f"revision: {revision or '-'}   role: {result.get('role')}")
    for err in source.get("rejectedErrors") or []:
        print(f"  rejected {source.get('rejectedRevision')}: {err['source']}: {err['message']}")
    for err in result.get("loadErrors") or []:
        print(f"  {err['source']}: {err['message']}")
    for obj in result.get("objects") or []:
        line = f"{obj['kind']:<8} {obj['name']:<32} {obj.get('syncStatus') or '-':<12} "
        line += f"{obj.get('healthStatus') or '-'}"
        if obj.get("lastError"):
            line += f"  ({obj['lastError']})"
        print(line)
    summary = result.get("summary") or {}
    print(
        f"{summary.get('objects', 0)} objects, {summary.get('outOfSync', 0)} out of sync, "
        f"{summary.get('unknown', 0)} unknown"
    )


def run(args: argparse.Namespace) -> int:
    import urllib.error  # here, not at the top: `--help` stays at Python's own start-up
    import urllib.request

    host, port = parse_addr(args.addr)
    if host in ("0.0.0.0", "::"):
        host = "127.0.0.1"
    url = f"http://{host if ':' not in host else f'[{host}]'}:{port}/sync"
    if args.wait:
        url += f"?wait=1&timeout={args.timeout:g}"
    request = urllib.request.Request(url, data=b"", method="POST")
    try:
        with urllib.request.urlopen(request, timeout=args.timeout + 30) as resp:
            code, body = resp.status, resp.read()
    except urllib.error.HTTPError as err:
        code, body = err.code, err.read()
    except (OSError, TimeoutError) as exc:
        print(f"swarm-operator sync: cannot reach the daemon at {url}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        result: dict[str, Any] = json.loads(body)
    except ValueError:
        print(f"swarm-operator sync: {url} answered {code}: {body[:200]!r}", file=sys.stderr)
        return EXIT_USAGE
    if not args.wait:
        print("sync requested" if code == 202 else f"the daemon answered {code}")
        return EXIT_OK if code == 202 else EXIT_FAILED
    _print(result)
    why = _failed(result)
    for reason in why:
        print(f"not synced: {reason}", file=sys.stderr)
    return EXIT_FAILED if why else EXIT_OK
