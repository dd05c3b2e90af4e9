"""Full sync rounds: which keys a resync pass enqueued, and when the whole pass is done.

Owns the bookkeeping behind ``swarm-operator sync --wait`` and readiness: each resync
starts a numbered round with the keys it enqueued (`SyncRounds.begin`); each reconcile
of one of them ticks it off (`done`), and when none is left the round is finished
(`finished`: whether any failed, and the caller's hook). `wait_for` blocks until a round
of at least a given number has finished; `sync_result` is the answer to a ``sync
--wait`` once it has. Thread-safe: workers, the supervisor and the HTTP server's thread
meet here. Neighbours: `daemon.controller` starts the rounds in its
resync and answers ``POST /sync`` with them; the hook sets readiness and the metrics.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Key = tuple[str, str]


@dataclass
class _Round:
    pending: set[Key] = field(default_factory=set)
    failed: bool = False
    number: int = 0


class SyncRounds:
    """The current round and the count of rounds started and finished."""

    def __init__(self, on_finished: Callable[[bool], None]) -> None:
        self._on_finished = on_finished
        self._round_lock = threading.Lock()
        self._round: _Round | None = None
        self._rounds = threading.Condition()
        self._rounds_started = 0
        self._rounds_finished = 0
        self._last_round_failed = False

    def begin(self, keys: set[Key]) -> int:
        """A round of ``keys`` starts (the one before, if unfinished, is dropped); its
        number. A round of no keys is finished by the caller (`finished`)."""
        with self._rounds:
            self._rounds_started += 1
            number = self._rounds_started
        with self._round_lock:
            self._round = _Round(pending=set(keys), number=number)
        return number

    def next_number(self) -> int:
        """The number of a round that starts after now."""
        with self._rounds:
            return self._rounds_started + 1

    def done(self, key: Key, failed: bool) -> None:
        """One reconcile of ``key``: ticked off the current round if it is in it."""
        with self._round_lock:
            current = self._round
            if current is None or key not in current.pending:
                return
            current.pending.discard(key)
            current.failed = current.failed or failed
            if current.pending:
                return
            self._round = None
            any_failed = current.failed
        self.finished(any_failed, current.number)

    def finished(self, failed: bool, number: int) -> None:
        """Round ``number`` is over: waiters are woken, then the hook runs."""
        with self._rounds:
            self._rounds_finished = max(self._rounds_finished, number)
            self._last_round_failed = failed
            self._rounds.notify_all()
        self._on_finished(failed)

    def wait_for(self, number: int, timeout: float) -> tuple[bool, bool]:
        """Wait until round ``number`` (or a later one) has finished: (in time, whether
        the last finished round failed)."""
        with self._rounds:
            done = self._rounds.wait_for(lambda: self._rounds_finished >= number, timeout)
            return done, self._last_round_failed


def sync_result(status: dict[str, Any], done: bool, failed: bool, timeout: float) -> dict[str, Any]:
    """The answer to ``sync --wait``: whether the pass was done in time and failed, and
    the parts of ``/status`` (``status``, `observe.status.StatusBoard.snapshot`) it shows."""
    result: dict[str, Any] = {
        "done": done,
        "failed": failed,
        "role": status["role"],
        "connected": status["connected"],
        "summary": status["summary"],
        "objects": [
            {k: o.get(k) for k in ("kind", "name", "syncStatus", "healthStatus", "lastError")}
            for o in status["objects"]
        ],
        "loadErrors": status["loadErrors"],
        "source": status["source"],
        "sourceRevision": status["sourceRevision"],
    }
    if not done:
        result["error"] = f"the pass did not finish within {timeout:g}s"
    return result
