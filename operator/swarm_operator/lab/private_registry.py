"""The lab's private registry: a second registry on the bridge address, with basic
authentication (htpasswd), for the tests of private images.

Owns its start (`start_private_registry`: replacing one still running, waiting until it
answers 401) and its stop (`stop_private_registry`, and `stop_running` for one a crashed
test left). It is started and stopped by the test that needs it, its pid kept in its
directory, so `lab down` (or the next start) also ends one a crashed test left.
Neighbours: `engine` runs the registry process; `teardown` stops it with the lab.
"""

from __future__ import annotations

import shutil
import time

from swarm_operator.lab import engine, system
from swarm_operator.lab.layout import Layout
from swarm_operator.lab.state import Lab
from swarm_operator.lab.steps import locked
from swarm_operator.lab.system import LabError, ProcId


def start_private_registry(lab: Lab, htpasswd: str, timeout: float = 20.0) -> str:
    """Run lab ``lab``'s private registry with these htpasswd lines (``user:$2b$...``,
    bcrypt: the only hash the registry takes), replacing one still running; its HOST:PORT.
    Every lab daemon lists it as insecure (plain HTTP), as it does the lab's registry."""
    layout = lab.layout
    directory = layout.private_registry_dir
    with locked(lab.index):
        stop_running(layout)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "htpasswd").write_text(htpasswd.rstrip("\n") + "\n")
        pid = engine.start_registry(directory, layout.private_registry, directory / "htpasswd")
        proc = ProcId(pid, system.start_time(pid) or 0)
        (directory / "pid").write_text(f"{proc.pid} {proc.start}\n")
    deadline = time.monotonic() + timeout
    # It answers 401 (authentication required) once it serves.
    while engine.registry_get(f"http://{layout.private_registry}/v2/", timeout=1.0) != 401:
        system.reap(pid)
        if not proc.alive() or time.monotonic() > deadline:
            log = engine.log_tail(directory / "registry.log")
            raise LabError(
                f"the private registry on {layout.private_registry} did not come up:\n{log}"
            )
        time.sleep(0.05)
    return layout.private_registry


def stop_private_registry(lab: Lab) -> None:
    """End lab ``lab``'s private registry, if it runs; its images go with its directory."""
    with locked(lab.index):
        stop_running(lab.layout)
        shutil.rmtree(lab.layout.private_registry_dir, ignore_errors=True)


def stop_running(layout: Layout) -> None:
    try:
        pid, start = map(int, (layout.private_registry_dir / "pid").read_text().split())
    except (OSError, ValueError):
        return
    if ProcId(pid, start).alive():
        system.kill_all([pid])
        system.reap(pid)
    (layout.private_registry_dir / "pid").unlink(missing_ok=True)
