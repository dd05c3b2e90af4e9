"""The supervisor: the daemon's connection to a manager, kept up, checked and leased,
and the periodic resync.

Owns the one Swarm client the daemon's threads share (`Supervisor.client`, None while
not connected), the way to get one (`connect`: a manager whose Raft has a leader, else
not connected, retried with backoff; then a lease of its own), what a lost connection or
a lost quorum does (`lost`: the client dropped, ``/readyz`` and the metrics say so,
standby), the lease's tick (`tick_lease`: leader or standby, a resync when it is
gained), the health check that lists the nodes (`check_health`: node metrics, a node
down notified) and the loop that runs each of these, and the jittered resync, when it
falls due (`supervise`). Neighbours: `daemon.controller` wires it and gives it the
resync; `daemon.lease` is the lease; the reconciler and the event source read the client
through the controller.
"""

from __future__ import annotations

import contextlib
import random
import threading
from collections.abc import Callable

from swarm_operator.daemon.lease import Lease, SwarmLabelStore
from swarm_operator.daemon.notices import Notices
from swarm_operator.daemon.options import DaemonOptions
from swarm_operator.kinds.node import live_node, status_of
from swarm_operator.observe import logs
from swarm_operator.observe.metrics import Metrics, NodeInfo
from swarm_operator.observe.status import StatusBoard
from swarm_operator.swarm.client import SwarmClient
from swarm_operator.swarm.errors import (
    DockerUnavailable,
    QuorumLost,
    SwarmOperatorError,
    classify,
)

log = logs.get_logger("swarm_operator.daemon")

MAX_RECONNECT_BACKOFF = 10.0


class Supervisor:
    """The current manager's client, the lease held through it, and the loop that keeps
    both (`supervise`)."""

    def __init__(
        self,
        options: DaemonOptions,
        metrics: Metrics,
        board: StatusBoard,
        notices: Notices,
        client_factory: Callable[..., SwarmClient],
        monotonic: Callable[[], float],
        stop: threading.Event,
        resync_now: threading.Event,
        on_connected: Callable[[], None],
    ) -> None:
        self.options = options
        self.metrics = metrics
        self.board = board
        self.notices = notices
        self._client_factory = client_factory
        self._monotonic = monotonic
        self._stop = stop
        self._resync_now = resync_now
        self._on_connected = on_connected
        self._client: SwarmClient | None = None
        self._client_lock = threading.Lock()
        self.lease: Lease | None = None

    def client(self) -> SwarmClient | None:
        """The client of the manager this daemon is connected to, if any."""
        with self._client_lock:
            return self._client

    def attach(self, client: SwarmClient) -> None:
        """Use ``client`` (a manager's) from now on; `connect` calls it once connected."""
        with self._client_lock:
            self._client = client

    def writable(self) -> bool:
        """This instance holds the lease: it may write."""
        return self.lease is not None and self.lease.held()

    def close(self) -> None:
        """Close and drop the client (at shutdown)."""
        with self._client_lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def supervise(
        self, resync: Callable[[SwarmClient], None], each_turn: Callable[[], None]
    ) -> None:
        """Connect, keep the lease, check the manager's health, run the periodic resync
        (``resync``), until the stop event; ``each_turn`` runs once a turn while connected."""
        backoff = 1.0
        next_resync = 0.0
        next_health = 0.0
        next_lease = 0.0
        monotonic = self._monotonic
        while not self._stop.is_set():
            client = self.client()
            now = monotonic()
            if client is None:
                if self.connect():
                    backoff = 1.0
                    next_resync = 0.0
                    next_lease = 0.0
                else:
                    self._stop.wait(backoff)
                    backoff = min(backoff * 2, MAX_RECONNECT_BACKOFF)
                continue
            try:
                if now >= next_lease:
                    self.tick_lease()
                    next_lease = now + (self.lease.renew_interval if self.lease else 5.0)
                if now >= next_health:
                    self.check_health(client)
                    next_health = now + self.options.health_interval
                if now >= next_resync or self._resync_now.is_set():
                    self._resync_now.clear()
                    resync(client)
                    jitter = self.options.resync_jitter
                    next_resync = now + self.options.resync_interval * random.uniform(
                        1 - jitter, 1 + jitter
                    )
            except SwarmOperatorError as exc:
                self.lost(exc)
                continue
            each_turn()
            wait = min(next_resync, next_health, next_lease) - monotonic()
            self._resync_now.wait(max(min(wait, 1.0), 0.05))

    def connect(self) -> bool:
        try:
            client = self._client_factory(
                self.options.host,
                observer=lambda name, seconds, ok: self.metrics.observe_api_call(name, seconds),
                registry_auth=self.options.registry_auth,
            )
            swarm = client.require_manager()
            if swarm.get("Error"):
                # The engine is a manager but its Raft has no leader (quorum lost) or
                # another cluster error: listing or writing would fail or hang.
                client.close()
                raise classify(str(swarm["Error"]))
            # `info` can look healthy while the Raft has no leader: a read that needs the
            # leader tells (QuorumLost), so a manager without quorum is never "connected".
            try:
                self.check_health(client)
            except SwarmOperatorError:
                client.close()
                raise
        except SwarmOperatorError as exc:
            self.board.set_connection(False, str(exc), quorum=not isinstance(exc, QuorumLost))
            self.metrics.manager_connected.set(0)
            log.warning("cannot connect to a manager", error=str(exc))
            return False
        self.attach(client)
        self.lease = Lease(
            SwarmLabelStore(client),
            identity=self.options.identity or (self.lease.identity if self.lease else None),
            duration=self.options.lease_duration,
        )
        self.board.set_connection(True)
        self.metrics.manager_connected.set(1)
        log.info("connected to a manager", host=client.host)
        self._on_connected()
        return True

    def lost(self, exc: BaseException) -> None:
        quorum_lost = isinstance(exc, QuorumLost)
        with self._client_lock:
            client, self._client = self._client, None
        if client is not None:
            log.warning(
                "lost the manager" if not quorum_lost else "the manager has lost quorum",
                error=str(exc),
            )
            with contextlib.suppress(Exception):
                client.close()
        self.board.set_connection(False, str(exc), quorum=not quorum_lost)
        self.metrics.manager_connected.set(0)
        self.metrics.ready.set(0)
        # Writes need the manager anyway; the lease runs out on its own meanwhile.
        self.metrics.leader.set(0)
        self.board.set_role("standby", self.lease.holder if self.lease else None)

    def tick_lease(self) -> None:
        if self.lease is None:
            return
        was = self.lease.held()
        try:
            held = self.lease.tick()
        except SwarmOperatorError as exc:
            if isinstance(exc, DockerUnavailable | QuorumLost):
                raise
            log.warning("cannot renew the lease", error=str(exc))
            held = self.lease.held()
        self.metrics.leader.set(1 if held else 0)
        self.board.set_role("leader" if held else "standby", self.lease.holder)
        if held and not was:
            log.info("holding the lease: this instance writes", identity=self.lease.identity)
            self._resync_now.set()
        elif was and not held:
            log.warning("lost the lease: standing by", holder=self.lease.holder)
        elif not held and not was:
            log.debug("standby", holder=self.lease.holder)

    def check_health(self, client: SwarmClient) -> None:
        infos = []
        for raw in client.nodes():
            st = status_of(live_node(raw))
            if st is not None:
                infos.append(NodeInfo(st.hostname, st.role, st.availability, st.state))
                self.notices.node(st)
        self.metrics.set_nodes(infos)
        self.board.set_connection(True)
        self.metrics.manager_connected.set(1)

    def refresh_nodes(self) -> None:
        """The nodes changed (an engine event): list them again now."""
        client = self.client()
        if client is not None:
            try:
                self.check_health(client)
            except SwarmOperatorError as exc:
                log.warning("cannot list nodes", error=str(exc))
