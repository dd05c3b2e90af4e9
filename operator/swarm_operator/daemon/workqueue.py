"""The daemon's work queue and worker pool, in the style of client-go's workqueue.

Owns *when* a key is reconciled, never *how*: triggers (manifest watcher, Docker
events, periodic resync) call :meth:`WorkQueue.add`; workers take keys with
:meth:`WorkQueue.get` and hand them to the reconcile function (`daemon.reconciler`).

Guarantees:

- a key is never queued twice ("dirty" set) and never handled by two workers at once
  ("processing" set); a key added while it is being processed is queued again once
  :meth:`WorkQueue.done` is called for it, so the latest change is never lost;
- per-key exponential backoff for failures (:meth:`add_rate_limited`: ``base_delay``
  doubling up to ``max_delay``), reset by :meth:`forget` after a success;
- :meth:`add_after` for "look again later" (delayed keys live in a heap);
- :meth:`shutdown` wakes every waiting worker; an item being processed is finished
  by its worker, nothing new is handed out.

The clock is injected (``clock()`` returns seconds, monotonic), so tests advance time
by hand and never sleep: ``get(timeout=0)`` never blocks.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)

Clock = Callable[[], float]


class WorkQueue(Generic[K]):
    """A de-duplicating FIFO of keys with delayed adds and per-key backoff."""

    def __init__(
        self,
        clock: Clock = time.monotonic,
        base_delay: float = 0.005,
        max_delay: float = 300.0,
    ) -> None:
        self._clock = clock
        self._base_delay = base_delay
        self._max_delay = max_delay
        self._cond = threading.Condition()
        self._queue: deque[K] = deque()
        self._dirty: set[K] = set()
        self._processing: set[K] = set()
        self._delayed: list[tuple[float, int, K]] = []
        self._seq = itertools.count()
        self._failures: dict[K, int] = {}
        self._shutting_down = False

    # ------------------------------------------------------------------ adding

    def add(self, key: K) -> None:
        """Queue ``key`` now, unless it is already queued (then this is a no-op)."""
        with self._cond:
            self._add_locked(key)

    def _add_locked(self, key: K) -> None:
        if self._shutting_down or key in self._dirty:
            return
        self._dirty.add(key)
        if key in self._processing:
            return  # queued again by done()
        self._queue.append(key)
        self._cond.notify()

    def add_after(self, key: K, delay: float) -> None:
        """Queue ``key`` once ``delay`` seconds have passed on the injected clock."""
        if delay <= 0:
            self.add(key)
            return
        with self._cond:
            if self._shutting_down:
                return
            heapq.heappush(self._delayed, (self._clock() + delay, next(self._seq), key))
            self._cond.notify()

    def add_rate_limited(self, key: K) -> float:
        """Queue ``key`` after its backoff delay (doubling per failure); returns the delay."""
        with self._cond:
            failures = self._failures.get(key, 0)
            self._failures[key] = failures + 1
        delay = min(self._base_delay * float(2**failures), self._max_delay)
        self.add_after(key, delay)
        return delay

    def forget(self, key: K) -> None:
        """Reset ``key``'s backoff (call after a successful reconcile)."""
        with self._cond:
            self._failures.pop(key, None)

    def num_requeues(self, key: K) -> int:
        with self._cond:
            return self._failures.get(key, 0)

    # ------------------------------------------------------------------ taking

    def _promote_due_locked(self) -> None:
        now = self._clock()
        while self._delayed and self._delayed[0][0] <= now:
            _, _, key = heapq.heappop(self._delayed)
            self._add_locked(key)

    def get(self, timeout: float | None = None) -> K | None:
        """The next key to process, or None on shutdown or when ``timeout`` runs out.

        The caller must call :meth:`done` with the key when finished with it.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while True:
                if self._shutting_down:
                    return None
                self._promote_due_locked()
                if self._queue:
                    key = self._queue.popleft()
                    self._dirty.discard(key)
                    self._processing.add(key)
                    return key
                wait: float | None = None
                if self._delayed:
                    wait = max(self._delayed[0][0] - self._clock(), 0.0)
                if deadline is not None:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        return None
                    wait = left if wait is None else min(wait, left)
                # Re-check at least every second: an injected clock may jump.
                self._cond.wait(1.0 if wait is None else min(wait, 1.0))

    def done(self, key: K) -> None:
        """Mark ``key`` finished; if it was added meanwhile it is queued again now."""
        with self._cond:
            self._processing.discard(key)
            if key in self._dirty and not self._shutting_down:
                self._queue.append(key)
                self._cond.notify()

    # ------------------------------------------------------------------ state

    def __len__(self) -> int:
        """Keys waiting to be handed out (due delayed keys included)."""
        with self._cond:
            self._promote_due_locked()
            return len(self._queue)

    def pending_delayed(self) -> int:
        with self._cond:
            return len(self._delayed)

    def processing(self) -> frozenset[K]:
        with self._cond:
            return frozenset(self._processing)

    def shutdown(self) -> None:
        """Stop handing out keys; waiting ``get`` calls return None at once."""
        with self._cond:
            self._shutting_down = True
            self._cond.notify_all()

    @property
    def shutting_down(self) -> bool:
        return self._shutting_down


@dataclass(frozen=True)
class Outcome:
    """What a reconcile asks of the queue: done, back off and retry, look again after a
    while, or stalled.

    ``stalled`` is terminal: the engine rejected the spec as invalid, so retrying cannot
    help. The key's backoff is forgotten and it is not queued again by the queue itself;
    the next trigger for it (its manifest changes) or the next resync brings it back,
    never a hot loop.
    """

    error: bool = False
    requeue_after: float | None = None
    stalled: bool = False


SUCCESS = Outcome()
RETRY = Outcome(error=True)
STALLED = Outcome(stalled=True)


def requeue_after(seconds: float) -> Outcome:
    return Outcome(requeue_after=seconds)


class WorkerPool(Generic[K]):
    """A few threads taking keys from a :class:`WorkQueue` and handing them to ``handler``.

    ``handler(key)`` returns an :class:`Outcome`; an exception counts as ``RETRY`` (the
    handler is expected to log it). Success forgets the key's backoff.
    """

    def __init__(
        self,
        queue: WorkQueue[K],
        handler: Callable[[K], Outcome],
        workers: int = 2,
        on_idle: Callable[[], None] | None = None,
    ) -> None:
        self._queue = queue
        self._handler = handler
        self._workers = max(1, workers)
        self._on_idle = on_idle
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for index in range(self._workers):
            thread = threading.Thread(
                target=self._loop, name=f"swarm-operator-worker-{index}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def process_one(self, key: K) -> Outcome:
        """Run the handler for a key already taken from the queue, then settle it."""
        try:
            outcome = self._handler(key)
        except Exception:
            outcome = RETRY
        finally:
            self._queue.done(key)
        if outcome.error:
            self._queue.add_rate_limited(key)
        elif outcome.stalled:
            self._queue.forget(key)
        else:
            self._queue.forget(key)
            if outcome.requeue_after is not None:
                self._queue.add_after(key, outcome.requeue_after)
        return outcome

    def _loop(self) -> None:
        while True:
            key = self._queue.get(timeout=1.0)
            if key is None:
                if self._queue.shutting_down:
                    return
                if self._on_idle is not None:
                    self._on_idle()
                continue
            self.process_one(key)
            if self._on_idle is not None:
                self._on_idle()

    def join(self, timeout: float | None = None) -> None:
        """Wait for the workers to finish their current key after :meth:`WorkQueue.shutdown`."""
        for thread in self._threads:
            thread.join(timeout)

    def alive(self) -> bool:
        return any(thread.is_alive() for thread in self._threads)
