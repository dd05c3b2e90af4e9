"""The Volume kind: named volumes, which are not objects of the Swarm.

Owns what is particular to a `Volume` manifest once it is loaded. A Docker volume lives
on one node and is created by that node's engine when a task first mounts it; the Swarm
has no volume to create, read, update or prune (``docker stack deploy`` does not create
them either). What a Volume declares reaches the engine through the services that mount
it: the loader writes its driver, options and labels into each such mount
(`manifests.links`, `Service.link`), so a changed driver or option is planned as an update of those
services (`kinds.service` adds a warning: volumes already on the nodes keep their old
options until they are removed). Its own plan is always ``noop``.

Neighbours: `kinds.base` (the interface); the engine reaches it through `kinds.registry`.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from swarm_operator.kinds.base import (
    JSON,
    Action,
    ApplyContext,
    Health,
    Key,
    Kind,
    LiveObject,
    PlanContext,
    Raw,
)
from swarm_operator.manifests.models import Manifest, Volume

if TYPE_CHECKING:
    from swarm_operator.swarm.client import SwarmClient

NOT_A_SWARM_OBJECT = (
    "not a Swarm object: each node creates it with this driver when a task mounts it"
)


class VolumeKind(Kind):
    name = "Volume"
    model = Volume
    event_type = "volume"
    prunable = False

    def read_raw(self, client: SwarmClient, names: Collection[str] | None = None) -> list[JSON]:
        return []  # per node, not the Swarm's: nothing to read on the manager

    def live(self, raws: Mapping[str, Sequence[Raw]]) -> dict[str, LiveObject]:
        return {}

    def comparable(self, desired: Manifest, live: Manifest) -> tuple[JSON, JSON]:
        return (
            desired.spec.model_dump(mode="json", by_alias=True),
            live.spec.model_dump(mode="json", by_alias=True),
        )

    def plan(self, manifest: Manifest, live: LiveObject | None, ctx: PlanContext) -> Action:
        return Action("noop", manifest.kind, manifest.name, NOT_A_SWARM_OBJECT, desired=manifest)

    def apply(self, action: Action, ctx: ApplyContext) -> str:
        return "nothing to do: " + NOT_A_SWARM_OBJECT

    def health(self, live: LiveObject | None, status: Any, recently_applied: bool) -> Health:
        return Health("healthy")  # nothing of the Swarm's to be missing

    def event_keys(self, name: str | None, declared: Collection[Key]) -> list[Key]:
        return []  # a node mounting or removing a volume changes nothing we keep


KIND = VolumeKind()
