"""The engine-events source: follows the manager's events and enqueues the keys they touch.

Owns the events thread, its cursor (each request streams ``window`` seconds, then
resumes from where it ended, so nothing is missed across requests), the backoff after a
broken stream (and a full resync to cover the gap), and the mapping from an event to
keys: the kind is found by the event's type (`kinds.registry.by_event_type`) and the keys
by that kind (`Kind.event_keys`); an event of a type no kind owns is counted, nothing
more. Level-triggered: an event only enqueues a key, it carries no content to act on.

Neighbours: `daemon.controller` starts it and hands it the current client, the declared
keys, the enqueue function and what to do after a broken stream.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Any

from swarm_operator.kinds import registry
from swarm_operator.observe import logs
from swarm_operator.swarm.errors import SwarmOperatorError

if TYPE_CHECKING:
    from swarm_operator.swarm.client import SwarmClient

Key = tuple[str, str]
log = logs.get_logger("swarm_operator.daemon")


class EventSource:
    def __init__(
        self,
        client: Callable[[], SwarmClient | None],
        declared: Callable[[], Collection[Key]],
        enqueue: Callable[[Key], None],
        *,
        prune: bool,
        window: float = 5.0,
        on_event_type: Callable[[str], None] = lambda _: None,
        on_nodes_changed: Callable[[], None] = lambda: None,
        on_gap: Callable[[], None] = lambda: None,
        stop: threading.Event | None = None,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self._declared = declared
        self._enqueue = enqueue
        self._prune = prune
        self._window = window
        self._on_event_type = on_event_type
        self._on_nodes_changed = on_nodes_changed
        self._on_gap = on_gap
        self._stop = stop or threading.Event()
        self._wall = wall
        self.cursor: float | None = None
        """Unix time up to which events have been read."""
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(
                target=self._run, name="swarm-operator-events", daemon=True
            )
            self._thread.start()

    def _run(self) -> None:
        backoff = 1.0
        while not self._stop.is_set():
            client = self._client()
            if client is None:
                self._stop.wait(1.0)
                continue
            since = self.cursor if self.cursor is not None else self._wall()
            until = self._wall() + self._window
            try:
                wanted = {"type": [kind.event_type for kind in registry.KINDS]}
                for event in client.events(since=since, until=until, filters=wanted):
                    self.on_event(event)
                self.cursor = max(since, until - 0.001)
                backoff = 1.0
            except Exception as exc:  # SwarmOperatorError, or a stream cut mid-chunk
                if isinstance(exc, SwarmOperatorError):
                    log.warning("events stream broken; resuming after backoff", error=str(exc))
                else:
                    log.warning("events stream error", error=repr(exc))
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 30.0)
                self._on_gap()  # the gap is covered by a full re-list once connected

    def on_event(self, event: dict[str, Any]) -> None:
        """One engine event: enqueue the keys it concerns."""
        etype = str(event.get("Type", ""))
        self._on_event_type(etype)
        stamp = event.get("timeNano")
        if isinstance(stamp, int):
            self.cursor = stamp / 1e9
        kind = registry.by_event_type(etype)
        if kind is None:
            return
        attributes = (event.get("Actor") or {}).get("Attributes") or {}
        name = attributes.get("name")
        declared = set(self._declared())
        for key in kind.event_keys(str(name) if name else None, declared):
            if key in declared or self._prune:
                self._enqueue(key)
        if kind.nodes_event:
            self._on_nodes_changed()
