"""The bench's hold on the lab: bring it up, find the manager, wait, and clean up.

Owns everything the bench does to the lab outside the measurements themselves: getting
a `Lab` (``swarm_operator.lab.lab_up``, which also repairs a half-running lab), waiting
for N tasks to run, and removing every object whose name starts with ``bench`` and
waiting until its tasks and containers are gone on every host, so that one measurement
never pays for the previous one's clean-up.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from enginehttp import Engine, EngineError
from swarm_operator.lab import Lab, lab_up, load_lab
from swarm_operator.probing.probe import overlay_probe_name
from workload import PREFIX

Progress = Callable[[str], None]


def ensure_lab(index: int, progress: Progress, engine: str) -> Lab:
    """Lab ``index`` running Docker ``engine``: reused if healthy, else brought up (a lab of
    another engine is recreated by `lab_up`)."""
    lab = load_lab(index)
    if lab is not None and lab.engine == engine:
        try:
            info = Engine(lab.manager.socket, timeout=5).get("/info")
            if (info.get("Swarm") or {}).get("ControlAvailable"):
                nodes = Engine(lab.manager.socket, timeout=5).get("/nodes")
                if nodes and all((n.get("Status") or {}).get("State") == "ready" for n in nodes):
                    progress(f"lab {index} is up: {len(nodes)} nodes, manager {lab.manager.socket}")
                    return lab
        except (OSError, EngineError):
            pass
    progress(f"bringing lab {index} up (swarm-operator lab up --index {index} --engine {engine})")
    try:
        return lab_up(index, progress=progress, engine=engine)
    except KeyError as exc:
        # lab_up reads node descriptions right after the joins; a node that has not yet
        # reported its description has no Hostname. `lab up` repairs: once more is enough.
        progress(f"lab up stumbled on a node without {exc} yet; once more")
        return lab_up(index, progress=progress, engine=engine)


def bench_services(engine: Engine) -> list[dict[str, object]]:
    """The bench's services, and the daemon's overlay probes on bench networks (the daemon
    leaves those behind on SIGTERM, by design, and they keep a network from being removed)."""
    return [
        s
        for s in engine.get("/services")
        if str((s.get("Spec") or {}).get("Name", "")).startswith(
            (PREFIX, overlay_probe_name(PREFIX))
        )
    ]


def running_tasks(engine: Engine, service_ids: set[str]) -> int:
    tasks = engine.get("/tasks", filters={"desired-state": ["running"]})
    return sum(
        1
        for t in tasks
        if t.get("ServiceID") in service_ids and (t.get("Status") or {}).get("State") == "running"
    )


def wait_running(
    engine: Engine, want: int, timeout: float = 600.0, interval: float = 0.25
) -> float:
    """Wait until ``want`` tasks of bench services run; return the monotonic time it happened."""
    deadline = time.monotonic() + timeout
    while True:
        ids = {str(s["ID"]) for s in bench_services(engine)}
        if running_tasks(engine, ids) >= want:
            return time.monotonic()
        if time.monotonic() > deadline:
            raise TimeoutError(f"fewer than {want} bench tasks running after {timeout:.0f}s")
        time.sleep(interval)


def cleanup(lab: Lab, engine: Engine, timeout: float = 300.0) -> float:
    """Remove every bench service and network; wait until their tasks and containers are gone.

    Returns the seconds it took.
    """
    start = time.monotonic()
    deadline = start + timeout
    services = bench_services(engine)
    ids = {str(s["ID"]) for s in services}
    for s in services:
        try:
            engine.delete(f"/services/{s['ID']}")
        except EngineError as exc:
            if exc.status != 404:
                raise
    hosts = [Engine(h.socket, timeout=10) for h in lab.hosts]
    try:
        while True:
            tasks = [t for t in engine.get("/tasks") if t.get("ServiceID") in ids]
            containers = sum(
                1
                for h in hosts
                for c in h.get("/containers/json", all=1)
                if str((c.get("Labels") or {}).get("com.docker.swarm.service.name", "")).startswith(
                    PREFIX
                )
            )
            if not tasks and not containers:
                break
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"clean-up: {len(tasks)} tasks, {containers} containers left after "
                    f"{timeout:.0f}s"
                )
            time.sleep(0.25)
    finally:
        for h in hosts:
            h.close()
    while True:
        nets = [n for n in engine.get("/networks") if str(n.get("Name", "")).startswith(PREFIX)]
        if not nets:
            break
        for n in nets:
            try:
                engine.delete(f"/networks/{n['Id']}")
            except EngineError as exc:
                if exc.status != 404 and time.monotonic() > deadline:
                    raise
        time.sleep(0.1)
    return time.monotonic() - start
