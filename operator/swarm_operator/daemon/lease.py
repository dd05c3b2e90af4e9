"""Leader lease: at most one operator instance writes to a Swarm at a time.

Owns the lease protocol; the store it is kept in is handed in (:class:`LeaseStore`).
The daemon's store (:class:`SwarmLabelStore`) keeps the lease in the Swarm's own Raft
store, as labels on the Swarm object itself (``docker swarm inspect`` shows them under
``Spec.Labels``), written with the version that was read: Docker refuses an update
whose version is stale ("update out of sequence"), so two instances racing for the
lease cannot both win. Labels:

- ``io.swarm-operator.lease.holder``: ``hostname:pid:random`` of the holder ("" = free);
- ``io.swarm-operator.lease.renewed``: unix time of the last renewal;
- ``io.swarm-operator.lease.duration``: seconds the lease lasts after a renewal.

The holder renews every ``duration / 3``. Another instance takes the lease over only
once ``renewed + duration`` has passed (the holder died or lost the manager), so it
stands by meanwhile: it still reads, plans and reports drift, but never writes. A
holder that cannot renew stops writing ``duration * safety`` seconds after its last
successful renewal, measured on its own monotonic clock, i.e. before anyone else can
take over. This assumes the hosts' clocks agree to well within ``duration * (1 -
safety)`` (NTP); on shutdown the holder releases the lease so a standby takes over at
once.
"""

from __future__ import annotations

import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from swarm_operator.swarm import labels as swarm_labels
from swarm_operator.swarm.errors import SwarmOperatorError, VersionConflict

LABEL_HOLDER = swarm_labels.LEASE_HOLDER
LABEL_RENEWED = swarm_labels.LEASE_RENEWED
LABEL_DURATION = swarm_labels.LEASE_DURATION


class LeaseStore(Protocol):
    def read(self) -> tuple[int, dict[str, str]]:
        """The store's version and its labels."""
        ...

    def write(self, version: int, labels: Mapping[str, str]) -> None:
        """Replace the labels if the store is still at ``version``, else VersionConflict."""
        ...


class SwarmApi(Protocol):
    def inspect_swarm(self) -> dict[str, Any]: ...
    def update_swarm(self, version: int, spec: dict[str, Any]) -> None: ...


class SwarmLabelStore:
    """The lease kept in ``Spec.Labels`` of the Swarm object, written with its version."""

    def __init__(self, api: SwarmApi) -> None:
        self._api = api
        self._spec: dict[str, Any] = {}

    def read(self) -> tuple[int, dict[str, str]]:
        swarm = self._api.inspect_swarm()
        self._spec = dict(swarm.get("Spec") or {})
        version = int((swarm.get("Version") or {}).get("Index", 0))
        return version, dict(self._spec.get("Labels") or {})

    def write(self, version: int, labels: Mapping[str, str]) -> None:
        spec = dict(self._spec)
        spec["Labels"] = dict(labels)
        self._api.update_swarm(version, spec)


@dataclass(frozen=True)
class LeaseRecord:
    holder: str
    renewed: float
    duration: float

    def expired(self, now: float) -> bool:
        return not self.holder or now > self.renewed + self.duration

    @staticmethod
    def parse(labels: Mapping[str, str]) -> LeaseRecord:
        def number(key: str) -> float:
            try:
                return float(labels.get(key, "0"))
            except ValueError:
                return 0.0

        return LeaseRecord(
            str(labels.get(LABEL_HOLDER, "")), number(LABEL_RENEWED), number(LABEL_DURATION)
        )


def default_identity() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class Lease:
    """One instance's view of the lease: acquire, renew, release, and "may I write now?"."""

    def __init__(
        self,
        store: LeaseStore,
        identity: str | None = None,
        duration: float = 15.0,
        safety: float = 0.8,
        wall_clock: Callable[[], float] = time.time,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.identity = identity or default_identity()
        self.duration = duration
        self._safety = safety
        self._wall = wall_clock
        self._clock = clock
        self._lock = threading.Lock()
        self._valid_until: float | None = None
        self.holder: str | None = None

    @property
    def renew_interval(self) -> float:
        return self.duration / 3

    def held(self) -> bool:
        """True while this instance may write."""
        with self._lock:
            return self._valid_until is not None and self._clock() < self._valid_until

    def tick(self) -> bool:
        """Acquire the lease if free or expired, renew it if ours; return whether held.

        Store errors other than a version conflict propagate; the lease then runs out on
        its own (``held()`` turns false) unless a later tick renews it.
        """
        version, labels = self.store.read()
        record = LeaseRecord.parse(labels)
        now = self._wall()
        if record.holder and record.holder != self.identity and not record.expired(now):
            with self._lock:
                self._valid_until = None
                self.holder = record.holder
            return False
        started = self._clock()
        new = dict(labels)
        new.update(
            {
                LABEL_HOLDER: self.identity,
                LABEL_RENEWED: f"{now:.3f}",
                LABEL_DURATION: f"{self.duration:g}",
            }
        )
        try:
            self.store.write(version, new)
        except VersionConflict:
            with self._lock:
                self._valid_until = None
                self.holder = None
            return False
        with self._lock:
            self._valid_until = started + self.duration * self._safety
            self.holder = self.identity
        return True

    def release(self) -> None:
        """Give the lease up (on shutdown) so a standby takes over without waiting."""
        with self._lock:
            was_held = self._valid_until is not None
            self._valid_until = None
        if not was_held:
            return
        try:
            version, labels = self.store.read()
            if LeaseRecord.parse(labels).holder != self.identity:
                return
            new = dict(labels)
            new[LABEL_HOLDER] = ""
            self.store.write(version, new)
        except SwarmOperatorError:
            pass  # it expires on its own
