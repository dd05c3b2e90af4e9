"""The Node kind: a Swarm node's role, availability and labels, as a manifest declares them.

Owns what is particular to nodes: reading a node inspect body as a `Node` manifest plus
its status (`node_from_docker`, `NodeStatus`; one node per hostname, the ready one when a
node left and came back), the merge of a manifest into the live node spec (`node_spec`:
the engine replaces a node's whole spec), the plan rules (a node that is not in the Swarm
is ``missing``; never demote or drain the last active manager), health (ready or not),
and the events (node events name the hostname; without it every declared node is looked
at). Nodes are never created, deleted or pruned, so a plan lists them only when a Node
is declared (`read_needed`).

Neighbours: `kinds.base`, `kinds.normalize` (`node_pair`); the probes read a node's state
through `node_status` too (`probing.probe.nodes_from_api`, which adds the address).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from swarm_operator.kinds import normalize
from swarm_operator.kinds.base import (
    JSON,
    Action,
    ApplyContext,
    Health,
    Key,
    Kind,
    LiveObject,
    PlanContext,
    PlanOptions,
    Raw,
)
from swarm_operator.kinds.common import version_of
from swarm_operator.manifests.models import Manifest, Node

if TYPE_CHECKING:
    from swarm_operator.swarm.client import SwarmClient


@dataclass(frozen=True)
class NodeStatus:
    hostname: str
    role: str
    availability: str
    state: str  # ready, down, unknown, disconnected
    reachability: str | None  # managers only: reachable, unreachable
    leader: bool


def node_status(node: Mapping[str, Any]) -> NodeStatus:
    """What a node inspect body says of the node's state (the probes read nodes so too)."""
    spec = node.get("Spec") or {}
    status = node.get("Status") or {}
    manager = node.get("ManagerStatus") or {}
    return NodeStatus(
        hostname=str((node.get("Description") or {}).get("Hostname") or ""),
        role=str(spec.get("Role") or ""),
        availability=str(spec.get("Availability") or ""),
        state=str(status.get("State") or "unknown"),
        reachability=manager.get("Reachability"),
        leader=bool(manager.get("Leader")),
    )


def node_from_docker(node: Mapping[str, Any]) -> tuple[Node, NodeStatus]:
    """A node inspect body as a `Node` manifest (role, availability, all labels) + status."""
    spec = node.get("Spec") or {}
    st = node_status(node)
    model = Node.model_validate(
        {
            "metadata": {"name": st.hostname},
            "spec": {
                "role": spec.get("Role"),
                "availability": spec.get("Availability"),
                "labels": dict(spec.get("Labels") or {}),
            },
        }
    )
    return model, st


def live_node(raw: Mapping[str, Any]) -> LiveObject:
    model, status = node_from_docker(raw)
    spec = raw.get("Spec") or {}
    return LiveObject(
        kind="Node",
        name=status.hostname,
        id=str(raw.get("ID", "")),
        version=version_of(raw),
        labels=dict(spec.get("Labels") or {}),
        spec=spec,
        manifest=model,
        detail=status,
    )


def status_of(live: LiveObject) -> NodeStatus | None:
    return live.detail if isinstance(live.detail, NodeStatus) else None


def node_spec(node: Node, live_spec: Mapping[str, Any]) -> dict[str, Any]:
    """The live node spec with the manifest's role, availability and labels merged in."""
    merged: dict[str, Any] = dict(live_spec)
    spec = node.spec
    if spec.role is not None:
        merged["Role"] = spec.role
    if spec.availability is not None:
        merged["Availability"] = spec.availability
    live_labels: dict[str, str] = dict(live_spec.get("Labels") or {})
    merged["Labels"] = (
        dict(spec.labels) if spec.exclusive_labels else {**live_labels, **spec.labels}
    )
    return merged


def _is_active_manager(node: LiveObject) -> bool:
    st = status_of(node)
    return (
        st is not None
        and st.role == "manager"
        and st.availability == "active"
        and st.state == "ready"
        and st.reachability in ("reachable", None)
    )


class NodeKind(Kind):
    name = "Node"
    model = Node
    event_type = "node"
    prunable = False
    nodes_event = True

    def read_raw(self, client: SwarmClient, names: Collection[str] | None = None) -> list[JSON]:
        return client.nodes()  # always whole: the last-manager guard needs every node

    def read_needed(
        self,
        desired: Collection[Manifest],
        raws: Mapping[str, Sequence[Raw]],
        options: PlanOptions,
    ) -> bool:
        # Nodes are never pruned and no other kind's plan looks at them: only a declared
        # Node needs the list.
        return False

    def live(self, raws: Mapping[str, Sequence[Raw]]) -> dict[str, LiveObject]:
        by_host: dict[str, LiveObject] = {}
        for raw in raws.get(self.name, ()):
            node = live_node(raw)
            current = by_host.get(node.name)
            # Two nodes with one hostname (a node that left and came back): the ready one.
            current_status = status_of(current) if current is not None else None
            if current is None or (current_status and current_status.state != "ready"):
                by_host[node.name] = node
        return by_host

    def comparable(self, desired: Manifest, live: Manifest) -> tuple[JSON, JSON]:
        return normalize.node_pair(
            desired.spec.model_dump(mode="json", by_alias=True),
            live.spec.model_dump(mode="json", by_alias=True),
        )

    def plan(self, manifest: Manifest, live: LiveObject | None, ctx: PlanContext) -> Action:
        m = cast(Node, manifest)
        if live is None or live.manifest is None:
            return Action(
                "missing",
                m.kind,
                m.name,
                f"no node with hostname {m.name!r} is in the Swarm",
                desired=m,
            )
        diffs = self.differences(m, live.manifest)
        if not diffs:
            return Action("noop", m.kind, m.name, "up to date", desired=m, live=live)
        action = Action("update", m.kind, m.name, "live node spec differs", diffs, m, live)
        st = status_of(live)
        role = m.spec.role or (st.role if st else None)
        availability = m.spec.availability or (st.availability if st else None)
        leaving: set[str] = ctx.memo.setdefault("leaving managers", set())
        if _is_active_manager(live) and (role != "manager" or availability != "active"):
            others = [
                n.name
                for n in ctx.live(self.name).values()
                if n.name != live.name and n.name not in leaving and _is_active_manager(n)
            ]
            if not others:
                what = "demote" if role != "manager" else f"set availability {availability!r} on"
                return action.block(f"refused: would {what} the last active manager")
            leaving.add(live.name)
        return action

    def apply(self, action: Action, ctx: ApplyContext) -> str:
        if action.verb != "update" or action.live is None:
            raise ValueError(f"a node can only be updated, not {action.verb}d")
        spec = node_spec(cast(Node, action.desired), action.live.spec)
        ctx.client.update_node(action.live.id, action.live.version, spec)
        return "updated"

    def health(self, live: LiveObject | None, status: Any, recently_applied: bool) -> Health:
        st = status_of(live) if live is not None else None
        if st is None:
            return Health("missing")
        return Health("healthy" if st.state == "ready" else "degraded")

    def event_keys(self, name: str | None, declared: Collection[Key]) -> list[Key]:
        # Node events carry the hostname as "name" (Docker 20.10); without it, every
        # declared node is looked at (there are few).
        nodes = [k for k in declared if k[0] == self.name]
        if not name:
            return nodes
        return [(self.name, name)] if (self.name, name) in nodes else []


KIND = NodeKind()
