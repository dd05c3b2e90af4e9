"""`swarm-operator apply --wait` as a user sees it, on a real terminal and in a CI log.

The command runs as a subprocess with its standard output on a pseudo-terminal: the wait
is one line rewritten in place (``\\r``, erase to the end of the line, ``.. converged
k/N``) ending at N/N, and no per-service progress line; with the output on a pipe, the
same apply prints one plain line per service and no carriage return.
"""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
from engine_lab import Engine, engine

pytestmark = pytest.mark.lab
__all__ = ["engine"]

N = 4
BINARY = Path(sys.executable).with_name("swarm-operator")


def _write(engine: Engine, prefix: str) -> None:
    docs = [
        "apiVersion: swarm-operator/v1alpha1\nkind: Service\n"
        f"metadata: {{name: {prefix}-{i}}}\n"
        "spec:\n  image: {image}\n  command: [sleep, '3600']\n  replicas: 1\n"
        for i in range(N)
    ]
    engine.write("all.yaml", "---\n".join(docs))


def _on_a_terminal(argv: list[str], env: dict[str, str], timeout: float = 300.0) -> str:
    master, slave = pty.openpty()
    proc = subprocess.Popen(argv, stdout=slave, stderr=slave, stdin=slave, env=env)
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 1.0)
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child closed its side
                break
            if not data:
                break
            chunks.append(data)
        elif proc.poll() is not None:
            break
    os.close(master)
    assert proc.wait(30) == 0, b"".join(chunks).decode(errors="replace")
    return b"".join(chunks).decode(errors="replace")


def test_wait_on_a_terminal_is_one_line_rewritten_in_place(engine: Engine) -> None:
    env = dict(os.environ, DOCKER_HOST=engine.lab.manager.docker_host, TERM="xterm")
    env.pop("NO_COLOR", None)
    _write(engine, "tty")
    shown = _on_a_terminal([str(BINARY), "apply", str(engine.dir), "--wait"], env)
    ticks = re.findall(r"\r\x1b\[K  \.\. converged (\d+)/(\d+)", shown)
    assert ticks, shown
    assert all(int(total) == N for _, total in ticks), ticks
    assert ticks[-1] == (str(N), str(N)), ticks
    counts = [int(done) for done, _ in ticks]
    assert counts == sorted(counts), counts  # never goes back
    assert not re.search(r"Service tty-\d: \d+/\d+ running", shown), shown

    # The same on a pipe (a CI log): a plain line per service, no carriage return.
    _write(engine, "log")
    piped = subprocess.run(
        [str(BINARY), "apply", str(engine.dir), "--wait"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert piped.returncode == 0, piped.stdout + piped.stderr
    assert "\r" not in piped.stdout
    for i in range(N):
        assert re.search(rf"Service log-{i}: \d+/\d+ running", piped.stdout), piped.stdout
