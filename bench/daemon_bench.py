"""Parts (c), (d), (e): the daemon (`swarm-operator run`) measured on the lab.

Owns the daemon's set-up and its three measurements:

(c) drift correction: a hand-made change of one managed service (replicas 1 -> 2, a
    label added, an env var added), made with the request ``docker service update``
    sends (inspect, then ``POST /services/{id}/update?version=V``) so that the clock
    starts at that request and not at a CLI's start-up; it stops when a poll of the
    service (raw ``GET /services/{name}`` every few ms) shows the declared values again,
    at a version newer than the hand-made one.
(d) manifest edit: one service's manifest is rewritten (temp file + rename, as editors
    and ``git checkout`` do) with a new label value; the clock stops when the service's
    spec carries it.
(e) at rest with N managed services (replicas 0, no network: the lab stays light):
    resident memory (VmRSS of /proc/PID/status) and CPU (utime+stime of /proc/PID/stat
    over a window), and the duration of a full resync pass: from the daemon's ``resync``
    log line to its ``full sync done`` line (JSON logs, ``--log-format json``). The first
    pass runs at start-up against objects already applied; the daemon is started with a
    resync interval just longer than the window, so a second pass follows it.

The daemon is started as a child process (its pid is ours) and stopped with SIGTERM.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import benchlab
import stats
import workload
from apply_bench import Context, operator_cmd
from enginehttp import Engine

DRIFT_SERVICES = 10  # managed while drift and edits are measured; one of them is the target
TARGET = 1
DECLARED_ENV = {"BENCH": "declared"}
DECLARED_LABELS = {"bench.role": "target"}


def _more_replicas(spec: dict[str, Any]) -> None:
    spec.setdefault("Mode", {}).setdefault("Replicated", {})["Replicas"] = 2


def _label_added(spec: dict[str, Any]) -> None:
    spec.setdefault("Labels", {})["bench.drift"] = "by-hand"


def _env_added(spec: dict[str, Any]) -> None:
    container = spec.setdefault("TaskTemplate", {}).setdefault("ContainerSpec", {})
    container["Env"] = [*(container.get("Env") or []), "DRIFT=by-hand"]


# What `docker service update --replicas 2 / --label-add / --env-add` changes in the spec.
CHANGES: dict[str, Callable[[dict[str, Any]], None]] = {
    "replicas 1 -> 2": _more_replicas,
    "label added": _label_added,
    "env var added": _env_added,
}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RunningDaemon:
    """``swarm-operator run DIR`` as our child, JSON logs to a file."""

    def __init__(
        self, ctx: Context, directory: Path, resync_interval: float, log_path: Path
    ) -> None:
        self.port = free_port()
        self.log_path = log_path
        self._log = log_path.open("w")
        env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
        env["DOCKER_HOST"] = f"unix://{ctx.manager_socket}"
        env["SWARM_OPERATOR_PROBE_IMAGE"] = ctx.lab.image  # probes on, as users run it
        cmd = [
            sys.executable,
            "-m",
            "swarm_operator",
            "run",
            str(directory),
            "--metrics-addr",
            f"127.0.0.1:{self.port}",
            "--log-format",
            "json",
            "--resync-interval",
            f"{resync_interval:.0f}s",
        ]
        self.started = time.monotonic()
        self.proc = subprocess.Popen(cmd, env=env, stdout=self._log, stderr=subprocess.STDOUT)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def wait_ready(self, timeout: float = 300.0) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"the daemon exited ({self.proc.returncode}); see {self.log_path}"
                )
            if _http_ok(self.url("/readyz")):
                return time.monotonic() - self.started
            time.sleep(0.2)
        raise TimeoutError(f"the daemon was not ready after {timeout:.0f}s; see {self.log_path}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()

    def log_events(self) -> list[dict[str, Any]]:
        out = []
        for line in self.log_path.read_text().splitlines():
            with contextlib.suppress(ValueError):
                item = json.loads(line)
                if isinstance(item, dict):
                    out.append(item)
        return out

    def resync_passes(self) -> list[float]:
        """Seconds of each completed full resync pass, from the daemon's own log lines."""
        return resync_passes(self.log_events())


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return bool(resp.status == 200)
    except (OSError, urllib.error.URLError):
        return False


def _stamp(item: dict[str, Any]) -> float | None:
    text = item.get("timestamp")
    if not isinstance(text, str):
        return None
    with contextlib.suppress(ValueError):
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    return None


def resync_passes(events: list[dict[str, Any]]) -> list[float]:
    """Pair each ``resync`` log line with the next ``full sync done``; their gaps in seconds."""
    out: list[float] = []
    start: float | None = None
    for item in events:
        message = item.get("event")
        when = _stamp(item)
        if when is None:
            continue
        if message == "resync":
            start = when
        elif message == "full sync done" and start is not None:
            out.append(when - start)
            start = None
    return out


def proc_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    raise RuntimeError(f"no VmRSS for pid {pid}")


def proc_cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` in seconds (fields 14 and 15 of /proc/PID/stat)."""
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rindex(")") + 2 :].split()
    ticks = int(fields[11]) + int(fields[12])  # fields 14, 15 counted from 1, after "pid (comm)"
    return ticks / os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------------------- helpers


def _write_dir(directory: Path, files: dict[str, str]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.iterdir():
        if old.name not in files:
            old.unlink()
    for name, text in files.items():
        _atomic_write(directory / name, text)


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _apply(ctx: Context, directory: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
    env["DOCKER_HOST"] = f"unix://{ctx.manager_socket}"
    proc = subprocess.run(
        operator_cmd(directory), env=env, capture_output=True, text=True, check=False, timeout=900
    )
    if proc.returncode != 0:
        raise RuntimeError(f"apply failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")


def _drift_files(image: str, edit_value: str | None = None) -> dict[str, str]:
    files = workload.operator_manifests(DRIFT_SERVICES, image)
    labels = dict(DECLARED_LABELS)
    if edit_value is not None:
        labels["bench.edit"] = edit_value
    files[f"{TARGET:03d}-service.yaml"] = workload.service_manifest(
        TARGET, image, env=DECLARED_ENV, labels=labels
    )
    return files


def _fingerprint(service: dict[str, Any]) -> tuple[Any, ...]:
    spec = service.get("Spec") or {}
    replicas = ((spec.get("Mode") or {}).get("Replicated") or {}).get("Replicas")
    labels = {k: v for k, v in (spec.get("Labels") or {}).items() if k.startswith("bench.")}
    env = sorted(((spec.get("TaskTemplate") or {}).get("ContainerSpec") or {}).get("Env") or [])
    return replicas, tuple(sorted(labels.items())), tuple(env)


def _poll_until(
    engine: Engine,
    name: str,
    done: Callable[[dict[str, Any]], bool],
    interval: float,
    timeout: float,
) -> float:
    deadline = time.monotonic() + timeout
    while True:
        service = engine.get(f"/services/{name}")
        now = time.monotonic()
        if done(service):
            return now
        if now > deadline:
            raise TimeoutError(f"{name}: not as expected after {timeout:.0f}s")
        time.sleep(interval)


def _update_by_hand(
    engine: Engine, name: str, change: Callable[[dict[str, Any]], None]
) -> tuple[float, int]:
    """Change the service as `docker service update` does: inspect, then update at that
    version. Returns the clock just before the update request and the version it replaced."""
    service = engine.get(f"/services/{name}")
    spec = service["Spec"]
    change(spec)
    version = int(service["Version"]["Index"])
    t0 = time.monotonic()
    engine.post(f"/services/{service['ID']}/update", spec, version=version)
    return t0, version


def _restored(declared: tuple[Any, ...], version: int) -> Callable[[dict[str, Any]], bool]:
    """The declared values are back at a version newer than ``version``: our update at
    ``version`` succeeded, so any newer version includes it, and declared values there
    were written after it (not merely not yet overwritten)."""

    def check(service: dict[str, Any]) -> bool:
        newer = int((service.get("Version") or {}).get("Index", 0)) > version
        return newer and _fingerprint(service) == declared

    return check


def _has_label(key: str, value: str) -> Callable[[dict[str, Any]], bool]:
    def check(service: dict[str, Any]) -> bool:
        return bool(((service.get("Spec") or {}).get("Labels") or {}).get(key) == value)

    return check


def _wait_quiet(engine: Engine, name: str, timeout: float = 120.0) -> None:
    """Until the service has no rolling update in progress."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = (engine.get(f"/services/{name}").get("UpdateStatus") or {}).get("State")
        if state in (None, "completed", "rollback_completed", "paused", "rollback_paused"):
            return
        time.sleep(0.2)


@contextlib.contextmanager
def _daemon(
    ctx: Context, directory: Path, resync_interval: float, tag: str
) -> Iterator[RunningDaemon]:
    daemon = RunningDaemon(ctx, directory, resync_interval, ctx.workdir / f"daemon-{tag}.log")
    try:
        yield daemon
    finally:
        daemon.stop()


# ---------------------------------------------------------------------------- (c), (d)


def drift_and_edit(
    ctx: Context, args: argparse.Namespace, results: dict[str, Any], save: Callable[[], object]
) -> None:
    say = ctx.progress
    image = ctx.lab.image
    directory = ctx.workdir / "daemon-drift"
    name = workload.service_name(TARGET)
    interval = args.poll_ms / 1000.0
    benchlab.cleanup(ctx.lab, ctx.engine)
    _write_dir(directory, _drift_files(image))
    _apply(ctx, directory)
    benchlab.wait_running(ctx.engine, DRIFT_SERVICES)
    declared = _fingerprint(ctx.engine.get(f"/services/{name}"))
    with _daemon(ctx, directory, 180.0, "drift") as daemon:
        ready = daemon.wait_ready()
        say(f"daemon up (pid {daemon.pid}), ready after {ready:.1f}s; {DRIFT_SERVICES} services")
        if "c" in args.parts:
            samples: dict[str, list[float]] = {k: [] for k in CHANGES}
            for trial in range(args.trials):
                for change, make_change in CHANGES.items():
                    _wait_quiet(ctx.engine, name)
                    time.sleep(0.3)
                    t0, version = _update_by_hand(ctx.engine, name, make_change)
                    t1 = _poll_until(ctx.engine, name, _restored(declared, version), interval, 120)
                    samples[change].append(t1 - t0)
                say(
                    f"(c) trial {trial + 1}/{args.trials}: "
                    + ", ".join(f"{k} {v[-1]:.2f}s" for k, v in samples.items())
                )
            results["drift"] = {
                "managed": DRIFT_SERVICES,
                "poll_ms": args.poll_ms,
                "samples": samples,
                "summary": {k: stats.summarise(v) for k, v in samples.items()},
            }
            save()
        if "d" in args.parts:
            edits: list[float] = []
            target = directory / f"{TARGET:03d}-service.yaml"
            for trial in range(args.trials):
                _wait_quiet(ctx.engine, name)
                time.sleep(0.3)
                value = f"e{trial}-{time.time_ns()}"
                text = _drift_files(image, edit_value=value)[target.name]
                _atomic_write(target, text)
                t0 = time.monotonic()
                t1 = _poll_until(ctx.engine, name, _has_label("bench.edit", value), interval, 120)
                edits.append(t1 - t0)
                say(f"(d) trial {trial + 1}/{args.trials}: {edits[-1]:.2f}s")
            results["edit"] = {
                "managed": DRIFT_SERVICES,
                "poll_ms": args.poll_ms,
                "samples": {"label value changed in the manifest": edits},
                "summary": {"label value changed in the manifest": stats.summarise(edits)},
            }
            save()
    benchlab.cleanup(ctx.lab, ctx.engine)


# ---------------------------------------------------------------------------- (e)


def at_rest(
    ctx: Context, args: argparse.Namespace, results: dict[str, Any], save: Callable[[], object]
) -> None:
    say = ctx.progress
    image = ctx.lab.image
    rows: list[dict[str, Any]] = []
    results["rest"] = {
        "rows": rows,
        "note": (
            "Services of (e) have replicas 0 and no network, to keep the shared lab light: "
            "the daemon reads, plans and tracks each one as any other. CPU is the daemon's "
            f"utime+stime over a {args.rest_window:.0f} s window after its first full sync, "
            "as a percentage of one core. Full resync pass: from the daemon's `resync` log "
            "line to its `full sync done` line, median of the passes seen. One manifest "
            "edit live: median of the edits timed (--rest-edits), each one service's file "
            "rewritten (temp file + rename) with a new label, until its spec carries it."
        ),
    }
    for n in args.rest_sizes:
        benchlab.cleanup(ctx.lab, ctx.engine)
        directory = ctx.workdir / f"daemon-rest-{n}"
        _write_dir(directory, workload.operator_manifests(n, image, replicas=0, network=False))
        loads = [os.getloadavg()[0]]
        started = time.monotonic()
        _apply(ctx, directory)
        apply_s = time.monotonic() - started
        say(f"(e) N={n}: applied {n} services (replicas 0) in {apply_s:.1f}s")
        plan_s = _plan_noop(ctx, directory)
        say(f"(e) N={n}: plan (no-op) of {n} services: {plan_s:.2f}s")
        resync_interval = args.rest_window + 30.0
        with _daemon(ctx, directory, resync_interval, f"rest-{n}") as daemon:
            ready = daemon.wait_ready(timeout=600)
            say(f"(e) N={n}: daemon ready after {ready:.1f}s (first full sync included)")
            time.sleep(2.0)
            cpu0, t0 = proc_cpu_seconds(daemon.pid), time.monotonic()
            time.sleep(args.rest_window)
            cpu1, t1 = proc_cpu_seconds(daemon.pid), time.monotonic()
            rss = proc_rss_mib(daemon.pid)
            # Wait for the second pass (the resync interval is jittered by +-10 %).
            deadline = time.monotonic() + resync_interval * 1.2 + 120
            while len(daemon.resync_passes()) < 2 and time.monotonic() < deadline:
                time.sleep(1.0)
            passes = daemon.resync_passes()
            loads.append(os.getloadavg()[0])
            edits: list[float] = []
            for _ in range(args.rest_edits):
                edits.append(_one_edit(ctx, directory, image, interval=args.poll_ms / 1000.0))
                say(f"(e) N={n}: one manifest edit among {n} live after {edits[-1]:.2f}s")
                time.sleep(1.0)  # the next edit is a burst of its own
            edit_s = stats.median(edits)
        row = {
            "n": n,
            "replicas": 0,
            "rss_mib": rss,
            "cpu_percent": 100.0 * (cpu1 - cpu0) / (t1 - t0),
            "window_s": t1 - t0,
            "first_sync_s": passes[0] if passes else None,
            "resync_passes_s": passes,
            "resync_s": stats.median(passes[1:]) if len(passes) > 1 else None,
            "ready_s": ready,
            "apply_s": apply_s,
            "plan_s": plan_s,
            "edit_s": edit_s,
            "edit_samples_s": edits,
            "load": loads,
        }
        rows.append(row)
        say(
            f"(e) N={n}: RSS {rss:.1f} MiB, CPU {row['cpu_percent']:.2f}% of a core, "
            f"resync passes {', '.join(f'{p:.2f}s' for p in passes) or 'none seen'}"
        )
        save()
    benchlab.cleanup(ctx.lab, ctx.engine)


def _plan_noop(ctx: Context, directory: Path) -> float:
    """Seconds of `swarm-operator plan DIR` (process start to exit) on what was applied."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
    env["DOCKER_HOST"] = f"unix://{ctx.manager_socket}"
    cmd = [sys.executable, "-m", "swarm_operator", "plan", str(directory)]
    start = time.monotonic()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False, timeout=900)
    took = time.monotonic() - start
    if proc.returncode != 0:  # 2 would mean changes pending: not a no-op
        raise RuntimeError(f"plan was not a no-op ({proc.returncode}):\n{proc.stdout[-2000:]}")
    return took


def _one_edit(ctx: Context, directory: Path, image: str, interval: float) -> float:
    """Seconds from one service's manifest rewritten (a label added) to its spec carrying
    it, with the daemon running over every service of ``directory``."""
    value = f"e-{time.time_ns()}"
    text = workload.service_manifest(
        TARGET, image, replicas=0, network=False, labels={"bench.edit": value}
    )
    _atomic_write(directory / f"{TARGET:03d}-service.yaml", text)
    t0 = time.monotonic()
    name = workload.service_name(TARGET)
    return _poll_until(ctx.engine, name, _has_label("bench.edit", value), interval, 120) - t0


def run(
    ctx: Context, args: argparse.Namespace, results: dict[str, Any], save: Callable[[], object]
) -> None:
    if "c" in args.parts or "d" in args.parts:
        drift_and_edit(ctx, args, results, save)
    if "e" in args.parts:
        at_rest(ctx, args, results, save)
