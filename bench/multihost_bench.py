"""Part (g): a lab of 7 hosts, for the doctor's matrix and the daemon's overlay probe.

Owns growing the bench's lab to ``--matrix-hosts`` hosts (default 7; `lab_up` adds the
hosts to the running Swarm) and two measurements on it:

- ``swarm-operator doctor -o json``: wall time from start to exit, and the node x node
  matrix it printed (hosts squared pairs, 49 at 7 hosts; how many of them ok);
- the daemon (`swarm-operator run`) keeping one overlay network with its probe at the
  default interval (5 s): the time until ``/metrics`` shows every ordered pair of distinct
  hosts reachable, then, with 4789/udp dropped in one host's own firewall (``lab block``),
  the time from the block until exactly the pairs involving that host read 0 and every
  other pair still 1, and from the unblock until all read 1 again.

Waits are bounded polls (a timeout is recorded, not raised); the figures are printed, never
asserted. The lab is left at its larger size: `make bench` brings it back to its own size.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import workload
from apply_bench import Context
from daemon_bench import RunningDaemon
from swarm_operator.lab import Lab, block, lab_up, unblock

NETWORK = f"{workload.PREFIX}-probe-net"
BLOCKED_PORT = "4789/udp"
SERIES = re.compile(
    r'^swarm_operator_overlay_reachable\{network="(?P<net>[^"]*)",source_node="(?P<src>[^"]*)",'
    r'target_node="(?P<dst>[^"]*)"\} (?P<value>[0-9.e+-]+)$',
    re.MULTILINE,
)


def _matrix(daemon: RunningDaemon) -> dict[tuple[str, str], float]:
    try:
        with urllib.request.urlopen(daemon.url("/metrics"), timeout=5) as resp:
            text = resp.read().decode()
    except OSError:
        return {}
    return {
        (m["src"], m["dst"]): float(m["value"])
        for m in SERIES.finditer(text)
        if m["net"] == NETWORK
    }


def _poll(check: Callable[[], bool], timeout: float, every: float = 0.2) -> float | None:
    """Seconds until ``check()`` held, or None after ``timeout``."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if check():
            return time.monotonic() - t0
        time.sleep(every)
    return None


def _doctor(ctx: Context, lab: Lab) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "swarm_operator", "doctor", "-o", "json"]
    cmd += ["--probe-image", lab.image, "-H", f"unix://{ctx.manager_socket}"]
    load = list(os.getloadavg())
    t0 = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    elapsed = time.monotonic() - t0
    out: dict[str, Any] = {"seconds": elapsed, "exit": proc.returncode, "load": load}
    try:
        report = json.loads(proc.stdout)
    except ValueError:
        out["error"] = (proc.stderr or proc.stdout)[-500:]
        return out
    nets = report.get("networks") or []
    out["nodes"] = len(report.get("nodes") or [])
    out["matrices"] = [
        {
            "network": n.get("name"),
            "pairs": len(n.get("pairs") or []),
            "ok": sum(1 for p in n.get("pairs") or [] if p.get("ok")),
        }
        for n in nets
    ]
    out["healthy"] = report.get("healthy")
    return out


def _network_manifest(directory: Path, lab: Lab) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "network.yaml").write_text(
        "apiVersion: swarm-operator/v1alpha1\nkind: Network\n"
        f"metadata:\n  name: {NETWORK}\nspec:\n  driver: overlay\n  attachable: true\n"
        f"  subnet: 10.12.{lab.index}.0/24\n"
    )


def _probe(ctx: Context, lab: Lab, target: str) -> dict[str, Any]:
    hosts = [h.name for h in lab.hosts]
    distinct = [(s, t) for s in hosts for t in hosts if s != t]
    directory = ctx.workdir / "probe-7"
    _network_manifest(directory, lab)
    out: dict[str, Any] = {"hosts": len(hosts), "pairs": len(distinct), "blocked": target}
    daemon = RunningDaemon(ctx, directory, 3600, ctx.workdir / "daemon-probe.log")
    try:
        out["ready_s"] = daemon.wait_ready()

        def reading(want: Callable[[tuple[str, str]], float]) -> Callable[[], bool]:
            def check() -> bool:
                m = _matrix(daemon)
                return all(m.get(p) == want(p) for p in distinct)

            return check

        out["load_before"] = list(os.getloadavg())
        out["all_up_s"] = _poll(reading(lambda p: 1.0), 300)
        if out["all_up_s"] is None:
            out["error"] = "not every pair read 1 within 300 s"
            return out
        block(lab, target, BLOCKED_PORT)
        try:
            out["detect_s"] = _poll(reading(lambda p: 0.0 if target in p else 1.0), 90)
        finally:
            unblock(lab, target, BLOCKED_PORT)
        out["recover_s"] = _poll(reading(lambda p: 1.0), 90)
        out["load_after"] = list(os.getloadavg())
    finally:
        daemon.stop()
    return out


def run(
    ctx: Context, args: argparse.Namespace, results: dict[str, Any], save: Callable[[], object]
) -> None:
    say = ctx.progress
    size = args.matrix_hosts
    say(f"(g) growing lab {ctx.lab.index} to {size} hosts")
    t0 = time.monotonic()
    lab = lab_up(ctx.lab.index, hosts=size, progress=say, engine=ctx.lab.engine)
    block_: dict[str, Any] = {"hosts": len(lab.hosts), "lab_up_s": time.monotonic() - t0}
    results["multihost"] = block_
    save()
    say(f"(g) doctor on {len(lab.hosts)} hosts")
    block_["doctor"] = _doctor(ctx, lab)
    say(f"(g) doctor: {json.dumps(block_['doctor'])}")
    save()
    target = lab.hosts[len(lab.hosts) // 2].name
    say(f"(g) daemon probe on {len(lab.hosts)} hosts, then {BLOCKED_PORT} dropped on {target}")
    block_["probe"] = _probe(ctx, lab, target)
    say(f"(g) probe: {json.dumps(block_['probe'])}")
    save()
