"""The live Swarm as the planner sees it: every kind's live objects, read once per pass.

Owns `LiveState` (the live objects of every kind, by name) and the two ways to get one:
`build_state` from raw lists the caller already read (pure), `read_live`, which reads
what the given keys need (or everything) through a `SwarmClient` handed in (it does not
import docker), and `read_for`, which reads what a whole plan of the given manifests needs:
a kind nothing declares is listed only if its kind says a plan needs it anyway
(`Kind.read_needed`), so a no-op plan of networks and services is two list calls.
How a kind's raw objects are read and turned into `LiveObject`s (the same typed manifest
a file gives, plus what only the live side knows) is that kind's own business, asked of
`kinds.registry`; nothing here names a kind.

An object whose spec cannot be expressed in the manifest language keeps ``manifest=None``
and says why in ``read_error``; the planner then reports it instead of guessing.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from swarm_operator.kinds import registry
from swarm_operator.kinds.base import Key, LiveObject, PlanOptions, Raw

if TYPE_CHECKING:
    from swarm_operator.manifests.models import Manifest
    from swarm_operator.swarm.client import SwarmClient

RawState = Mapping[str, Sequence[Raw]]
"""Raw engine objects by kind name, as read by each kind's ``read_raw``."""


@dataclass(frozen=True)
class LiveState:
    tables: Mapping[str, Mapping[str, LiveObject]] = field(default_factory=dict)
    """Live objects by kind name, then by object name."""
    api_version: str | None = None
    """The Engine API version the engine negotiated while it was read (None: not known,
    e.g. a state built from lists read elsewhere): the planner blocks a write of a field
    that version does not accept (`swarm.api_versions`)."""

    def of(self, kind: str) -> Mapping[str, LiveObject]:
        """The live objects of ``kind`` by name (empty if none were read)."""
        return self.tables.get(registry.of(kind).name, {})

    def get(self, key: Key) -> LiveObject | None:
        kind, name = key
        return self.of(kind).get(name)

    @property
    def listed(self) -> frozenset[str]:
        """The kinds that were read (a kind not read has no table, not an empty one)."""
        return frozenset(self.tables)

    def objects(self) -> list[LiveObject]:
        """Every live object, in apply order of their kinds."""
        return [obj for kind in registry.NAMES for obj in self.tables.get(kind, {}).values()]


def build_state(raws: RawState, api_version: str | None = None) -> LiveState:
    """Assemble a LiveState from raw lists by kind (as returned by the Engine API, which
    spoke ``api_version``). Pure."""
    for kind in raws:
        registry.of(kind)  # an unknown kind is an error, not ignored
    tables = {kind.name: kind.live(raws) for kind in registry.KINDS if kind.name in raws}
    return LiveState(tables, api_version)


def read_raw(client: SwarmClient, keys: Collection[Key] | None = None) -> dict[str, list[Raw]]:
    """The raw objects ``keys`` need (all of every kind when ``keys`` is None).

    A kind whose keys are asked for is read with those names (if it can filter); a kind
    that another asked-for kind needs (`Kind.needs`) is read whole.
    """
    if keys is None:
        return {kind.name: list(kind.read_raw(client)) for kind in registry.KINDS}
    names: dict[str, set[str]] = {}
    for kind_name, name in keys:
        names.setdefault(registry.of(kind_name).name, set()).add(name)
    whole = {need for kind in names for need in registry.of(kind).needs}
    out: dict[str, list[Raw]] = {}
    for kind in registry.KINDS:
        if kind.name in whole:
            out[kind.name] = list(kind.read_raw(client))
        elif kind.name in names:
            out[kind.name] = list(kind.read_raw(client, sorted(names[kind.name])))
    return out


def read_live(client: SwarmClient, keys: Collection[Key] | None = None) -> LiveState:
    """Read the live Swarm (all of it, or what ``keys`` need) into a `LiveState`, with
    the API version the reads negotiated (no call of its own)."""
    return build_state(read_raw(client, keys), client.negotiated_api_version)


def read_raw_for(
    client: SwarmClient, desired: Collection[Manifest], options: PlanOptions
) -> dict[str, list[Raw]]:
    """The raw lists a whole plan of ``desired`` needs: one list call per kind it needs.

    A declared kind is listed; another kind only if it says a plan needs it anyway
    (`Kind.read_needed`: the kinds whose leftovers the plan reports or prunes, and those
    the objects already listed refer to, such as the secrets a live service mounts). The
    kinds are asked again once more are listed, until none is added.
    """
    declared = {registry.of(m.kind).name for m in desired}
    out: dict[str, list[Raw]] = {}
    added = True
    while added:
        added = False
        for kind in registry.KINDS:
            if kind.name in out:
                continue
            if kind.name in declared or kind.read_needed(desired, out, options):
                out[kind.name] = list(kind.read_raw(client))
                added = True
    return out


def read_for(client: SwarmClient, desired: Collection[Manifest], options: PlanOptions) -> LiveState:
    """`read_raw_for` into a `LiveState` (what `plan` of ``desired`` is given)."""
    return build_state(read_raw_for(client, desired, options), client.negotiated_api_version)
