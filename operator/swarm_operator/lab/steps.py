"""What every lab command shares: one command per lab index at a time, and its progress.

Owns the lock that keeps two commands off one lab (`locked`: a lock file next to the
data directory) and the progress lines a command prints, each with the seconds since
it started (`StepClock`). Neighbours: `lifecycle` (up), `teardown` (down) and
`private_registry` take the lock and say what they do; `faults` takes the lock.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable

from swarm_operator.lab.layout import DATA_ROOT
from swarm_operator.lab.system import file_lock

Progress = Callable[[str], None]


def stderr_progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class StepClock:
    """Progress lines with the seconds since the command started."""

    def __init__(self, progress: Progress) -> None:
        self.t0 = time.monotonic()
        self.progress = progress

    def say(self, message: str) -> None:
        self.progress(f"[{time.monotonic() - self.t0:5.1f}s] {message}")


def locked(index: int) -> contextlib.AbstractContextManager[None]:
    """One lab command per index at a time (a 0-byte lock file next to the data dir)."""
    return file_lock(DATA_ROOT / f"lab-{index}.lock")
