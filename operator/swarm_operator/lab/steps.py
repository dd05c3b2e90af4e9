"""What every lab command shares: one command per lab index at a time, and its progress.

Owns the lock that keeps two commands off one lab (`locked`: a lock file next to the
data directory) and the progress lines a command prints, each with the seconds since
it started (`StepClock`). Neighbours: `lifecycle` (up), `teardown` (down) and
`private_registry` take the lock and say what they do; `faults` takes the lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import sys
import time
from collections.abc import Callable, Iterator

from swarm_operator.lab.layout import DATA_ROOT

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


@contextlib.contextmanager
def locked(index: int) -> Iterator[None]:
    """One lab command per index at a time (a 0-byte lock file next to the data dir)."""
    DATA_ROOT.mkdir(parents=True, exist_ok=True)
    with open(DATA_ROOT / f"lab-{index}.lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
