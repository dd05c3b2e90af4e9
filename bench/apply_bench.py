"""Parts (a) and (b): cold apply of N services, then a no-op re-apply, three contenders.

Owns the procedure, identical for each contender and each N:

1. clean up (nothing named ``bench*`` left, no task, no container);
2. cold apply, timed from process start to exit: ``swarm-operator apply DIR``,
   ``docker stack deploy -c compose.yml bench``, or the floor: one ``POST
   /networks/create`` and N ``POST /services/create`` on one keep-alive connection;
3. wait until the N tasks run (``converged``: same clock, same start);
4. no-op re-apply of the same objects, timed straight on the manager socket
   (median of a few runs), then once more through the counting proxy to count its
   Engine API calls. The floor's no-op is the least a tool must do to know that
   nothing changed: list services and list networks (2 calls).

The contenders' order is rotated on each repeat, so a slow spell of the shared machine
does not always fall on the same one.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import benchlab
import stats
import workload
from countproxy import CountingProxy
from enginehttp import Engine
from swarm_operator.lab import Lab

TOOLS = ("floor", "operator", "stack")
TOOL_LABELS = {
    "floor": "floor (raw API)",
    "operator": "swarm-operator apply",
    "stack": "docker stack deploy",
}


@dataclass
class Context:
    lab: Lab
    engine: Engine
    workdir: Path
    docker: str
    progress: benchlab.Progress
    proxy_socket: str = ""

    @property
    def manager_socket(self) -> str:
        return self.lab.manager.socket


@dataclass
class SizeResult:
    n: int
    cold: dict[str, list[float]] = field(default_factory=lambda: {t: [] for t in TOOLS})
    converged: dict[str, list[float]] = field(default_factory=lambda: {t: [] for t in TOOLS})
    noop: dict[str, list[float]] = field(default_factory=lambda: {t: [] for t in TOOLS})
    startup: dict[str, list[float]] = field(default_factory=lambda: {t: [] for t in TOOLS})
    noop_calls: dict[str, int] = field(default_factory=dict)
    noop_breakdown: dict[str, dict[str, int]] = field(default_factory=dict)
    load: list[float] = field(default_factory=list)
    """The machine's 1-minute load average, sampled before each timed run of this N."""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"n": self.n, "load": list(self.load)}
        for name in ("cold", "converged", "noop", "startup"):
            samples: dict[str, list[float]] = getattr(self, name)
            out[name] = {t: {"samples": v, **stats.summarise(v)} for t, v in samples.items()}
        out["noop_calls"] = dict(self.noop_calls)
        out["noop_breakdown"] = self.noop_breakdown
        return out


def _env(docker_host: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
    env["DOCKER_HOST"] = docker_host
    return env


def _run(cmd: list[str], docker_host: str, what: str) -> float:
    start = time.monotonic()
    proc = subprocess.run(
        cmd, env=_env(docker_host), capture_output=True, text=True, timeout=900, check=False
    )
    elapsed = time.monotonic() - start
    if proc.returncode != 0:
        raise RuntimeError(
            f"{what} failed (exit {proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
        )
    return elapsed


def operator_cmd(directory: Path) -> list[str]:
    return [sys.executable, "-m", "swarm_operator", "apply", str(directory)]


def stack_cmd(ctx: Context, compose: Path) -> list[str]:
    return [ctx.docker, "stack", "deploy", "-c", str(compose), workload.STACK]


def _prepare(ctx: Context, n: int) -> tuple[Path, Path]:
    image = ctx.lab.image
    mdir = ctx.workdir / f"manifests-{n}"
    if mdir.exists():
        for f in mdir.iterdir():
            f.unlink()
    mdir.mkdir(parents=True, exist_ok=True)
    for name, text in workload.operator_manifests(n, image).items():
        (mdir / name).write_text(text)
    compose = ctx.workdir / f"compose-{n}.yml"
    compose.write_text(workload.compose_file(n, image))
    return mdir, compose


def _floor_cold(ctx: Context, n: int) -> float:
    engine = Engine(ctx.manager_socket)
    image = ctx.lab.image
    try:
        start = time.monotonic()
        net = engine.post("/networks/create", workload.floor_network())
        for i in range(1, n + 1):
            engine.post("/services/create", workload.floor_service(i, image, net["Id"]))
        return time.monotonic() - start
    finally:
        engine.close()


def _floor_noop(ctx: Context) -> float:
    engine = Engine(ctx.manager_socket)
    try:
        start = time.monotonic()
        engine.get("/services")
        engine.get("/networks")
        return time.monotonic() - start
    finally:
        engine.close()


def run_size(ctx: Context, n: int, repeats: int, noop_repeats: int) -> SizeResult:
    result = SizeResult(n)
    mdir, compose = _prepare(ctx, n)
    say = ctx.progress
    for _ in range(3):
        result.startup["floor"].append(0.0)
        result.startup["operator"].append(
            _startup([sys.executable, "-m", "swarm_operator", "--help"])
        )
        result.startup["stack"].append(_startup([ctx.docker, "stack", "deploy", "--help"]))
    for rep in range(repeats):
        order = TOOLS[rep % len(TOOLS) :] + TOOLS[: rep % len(TOOLS)]
        for tool in order:
            took = benchlab.cleanup(ctx.lab, ctx.engine)
            result.load.append(os.getloadavg()[0])
            say(f"[N={n} rep {rep + 1}/{repeats}] {tool}: clean-up {took:.1f}s")
            start = time.monotonic()
            if tool == "floor":
                cold = _floor_cold(ctx, n)
            elif tool == "operator":
                cold = _run(operator_cmd(mdir), f"unix://{ctx.manager_socket}", "operator apply")
            else:
                cold = _run(stack_cmd(ctx, compose), f"unix://{ctx.manager_socket}", "stack deploy")
            converged = benchlab.wait_running(ctx.engine, n) - start
            result.cold[tool].append(cold)
            result.converged[tool].append(converged)
            say(
                f"[N={n}] {tool}: cold apply {cold:.2f}s, all {n} tasks running at {converged:.1f}s"
            )
            noops = [_noop(ctx, tool, mdir, compose) for _ in range(noop_repeats)]
            result.noop[tool].extend(noops)
            if rep == 0:
                calls, breakdown = _count_noop(ctx, tool, mdir, compose)
                result.noop_calls[tool] = calls
                result.noop_breakdown[tool] = breakdown
            say(
                f"[N={n}] {tool}: no-op {stats.median(noops):.2f}s (median of {len(noops)}), "
                f"{result.noop_calls.get(tool, '?')} API calls"
            )
    took = benchlab.cleanup(ctx.lab, ctx.engine)
    say(f"[N={n}] clean-up {took:.1f}s")
    return result


def _startup(cmd: list[str]) -> float:
    """Seconds a command that talks to no engine takes: the process start-up baseline."""
    start = time.monotonic()
    subprocess.run(cmd, capture_output=True, check=True, timeout=120)
    return time.monotonic() - start


def _noop(ctx: Context, tool: str, mdir: Path, compose: Path) -> float:
    host = f"unix://{ctx.manager_socket}"
    if tool == "floor":
        return _floor_noop(ctx)
    if tool == "operator":
        return _run(operator_cmd(mdir), host, "operator no-op apply")
    return _run(stack_cmd(ctx, compose), host, "stack no-op deploy")


def _count_noop(ctx: Context, tool: str, mdir: Path, compose: Path) -> tuple[int, dict[str, int]]:
    if tool == "floor":
        return 2, {"GET /services": 1, "GET /networks": 1}
    with CountingProxy(ctx.proxy_socket, ctx.manager_socket) as proxy:
        if tool == "operator":
            _run(operator_cmd(mdir), proxy.docker_host, "operator no-op apply (counted)")
        else:
            _run(stack_cmd(ctx, compose), proxy.docker_host, "stack no-op deploy (counted)")
        time.sleep(0.05)  # let the proxy threads finish reading the last request
        counts = proxy.counts
    return sum(counts.values()), dict(sorted(counts.items()))


def make_context(lab: Lab, docker: str, progress: benchlab.Progress) -> Context:
    workdir = Path(tempfile.mkdtemp(prefix="swarm-operator-bench-"))
    return Context(
        lab=lab,
        engine=Engine(lab.manager.socket),
        workdir=workdir,
        docker=docker,
        progress=progress,
        proxy_socket=str(workdir / "proxy.sock"),
    )
