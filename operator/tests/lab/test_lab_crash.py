"""A lab host whose dockerd died keeps the evidence: `lab status` says it exited and shows
the start of the Go crash report its log ends with, and `lab up` repairing the host keeps
the old log as dockerd.log.1 instead of starting it afresh."""

from __future__ import annotations

import os
import signal

import pytest

from swarm_operator.cli import main
from swarm_operator.lab import Lab, lab_status, lab_up
from swarm_operator.lab.system import ProcId, reap, wait_gone

pytestmark = pytest.mark.lab


def test_a_crashed_daemon_keeps_its_log_and_status_says_so(
    lab: Lab, swarm_cleanup: None, capsys: pytest.CaptureFixture[str]
) -> None:
    host = lab.hosts[-1]  # a worker: the Swarm keeps its manager
    host_dir = lab.layout.host_dir(host.number)
    # The daemon's own pidfile (its /run is the host directory's run/).
    pid = int((host_dir / "run" / "docker.pid").read_text().strip())
    assert pid == host.pid
    # dockerd does not handle SIGABRT: the Go runtime writes its crash report and exits.
    os.kill(pid, signal.SIGABRT)
    proc = ProcId(pid, host.start)
    for _ in range(300):
        reap(pid)
        if wait_gone([proc], 0.1):
            break
    assert not proc.alive()

    statuses = lab_status(lab.index)
    assert statuses is not None
    status = {s.name: s for s in statuses}[host.name]
    assert status.daemon == "exited"
    assert status.pid == 0
    assert status.crash and status.crash[0] == "SIGABRT: abort", status.crash

    capsys.readouterr()
    assert main(["lab", "status", "--index", str(lab.index)]) == 1
    out = capsys.readouterr().out
    assert f"{host.name}: dockerd exited (not stopped by `lab stop`)" in out
    assert "SIGABRT: abort" in out

    crashed_log = (host_dir / "dockerd.log").read_text()
    messages: list[str] = []
    fresh = lab_up(
        lab.index, len(lab.hosts), lab.managers, progress=messages.append, engine=lab.engine
    )
    lab.update_from(fresh)
    assert any("log is kept as dockerd.log.1" in m for m in messages), messages
    assert (host_dir / "dockerd.log.1").read_text() == crashed_log
    assert "SIGABRT: abort" not in (host_dir / "dockerd.log").read_text()
    after = {s.name: s for s in lab_status(lab.index) or []}[host.name]
    assert (after.daemon, after.crash) == ("running", ())
