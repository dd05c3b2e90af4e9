"""One read of the whole Swarm, shared by the keys of one resync pass.

Owns `Snapshot`: the raw objects of every kind and what their health needs (a service's
tasks), read in one call per kind whatever N (services, networks and the tasks: 3 calls;
nodes, secrets and configs as well when something declared, mounted or --prune needs
them, `engine.live.read_raw_for`), and the rule for using it. Each key may use it once
(`take`), only if no event or file change enqueued the key since the read began
(`drop`): a trigger always gets a fresh read; and never after ``SNAPSHOT_TTL``. Nothing
is ever written on the snapshot's word alone: the reconciler re-reads a key whose plan
from the snapshot shows a change.

Neighbours: `daemon.controller` fills one per resync pass; `daemon.reconciler` takes it.
"""

from __future__ import annotations

import threading
from collections.abc import Collection
from typing import TYPE_CHECKING, Any

from swarm_operator.engine.live import LiveState, build_state, read_raw_for
from swarm_operator.kinds import registry
from swarm_operator.kinds.base import PlanOptions

if TYPE_CHECKING:
    from swarm_operator.manifests.models import Manifest
    from swarm_operator.swarm.client import SwarmClient

Key = tuple[str, str]
SNAPSHOT_TTL = 30.0
"""Seconds a resync pass's snapshot may stand in for a per-key read of the Swarm."""


class Snapshot:
    def __init__(self, started: float) -> None:
        self.started = started
        self.live = LiveState()
        self.status: dict[str, dict[str, Any]] = {}
        """What each kind's health needs, by kind, then by object ID."""
        self._unused: set[Key] = set()
        self._dropped: set[Key] = set()
        self._lock = threading.Lock()

    def read(
        self, client: SwarmClient, desired: Collection[Manifest], options: PlanOptions
    ) -> LiveState:
        """Read every kind a plan of the desired manifests needs, once
        (`engine.live.read_raw_for`), and what their health needs; return the live state."""
        raws = read_raw_for(client, desired, options)
        self.live = build_state(raws, client.negotiated_api_version)
        for kind in registry.KINDS:
            self.status[kind.name] = kind.read_all_status(client, raws.get(kind.name, []))
        return self.live

    def status_of(self, kind: str, object_id: str) -> Any:
        return self.status.get(kind, {}).get(object_id)

    def has_status(self, kind: str, object_id: str) -> bool:
        return object_id in self.status.get(kind, {})

    def offer(self, keys: Collection[Key]) -> None:
        with self._lock:
            self._unused = set(keys) - self._dropped

    def drop(self, key: Key) -> None:
        with self._lock:
            self._dropped.add(key)
            self._unused.discard(key)

    def take(self, key: Key, now: float) -> bool:
        with self._lock:
            if key not in self._unused or now - self.started > SNAPSHOT_TTL:
                return False
            self._unused.discard(key)
            return True
