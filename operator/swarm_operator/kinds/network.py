"""The Network kind: a Swarm-scope network, to and from the engine, planned and written.

Owns everything that is particular to networks: the ``NetworkCreate`` body written for a
manifest (`network_spec`, every IPAM pool) and its inverse (`network_from_docker`, every
live pool: `manifests.network_pools`), which live networks are
the Swarm's user networks (not the routing mesh, not a probe's), who uses a network (the
services attached), the plan rules (networks have no update call: a change is a
``replace``, which needs ``--allow-replace``; an unlabelled network that matches is used
as is; an ``external`` one is only looked up: it must exist and is never written; a
replace lists what the recreate drops, `dropped`), the
prune guard (a network still used is never deleted), and the writes: create,
remove (waiting while endpoints go, then until the manager let go of the name) and
replace (detach the services, remove, create, reattach to the new ID).

Neighbours: `kinds.base` (the interface), `kinds.normalize` (`network_pair`),
`swarm.labels`, `swarm.errors`; the engine reaches it through `kinds.registry`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

from swarm_operator.kinds import normalize
from swarm_operator.kinds.base import (
    BLOCK_NOT_ADOPTED,
    JSON,
    Action,
    ApplyContext,
    Key,
    Kind,
    LiveObject,
    PlanContext,
    Raw,
    flag,
    may_adopt,
)
from swarm_operator.kinds.common import convert, creation_fields, drop_empty, ownership_labels
from swarm_operator.kinds.diff import Difference
from swarm_operator.manifests.models import ANNOTATION_ALLOW_REPLACE, Manifest, Network
from swarm_operator.swarm import labels
from swarm_operator.swarm.errors import ApiError, InUse, NotFound, VersionConflict

if TYPE_CHECKING:
    from swarm_operator.swarm.client import SwarmClient

SERVICE = "Service"
"""The kind whose objects attach to networks (`used_by`, detach and reattach)."""
NETWORK_REMOVE_TIMEOUT = 60.0
MAX_CONFLICT_RETRIES = 3


# --------------------------------------------------------------------------- engine form


def network_spec(network: Network, inherit: Sequence[Mapping[str, Any]] = ()) -> JSON:
    """The ``NetworkCreate`` body for ``network`` (swarm scope); ``inherit``: the live
    pools a recreate keeps when the manifest declares none (`inherited_pools`)."""
    spec = network.spec
    options = dict(spec.options)
    if spec.encrypted:
        options[labels.OPTION_ENCRYPTED] = ""
    if spec.mtu is not None:
        options[labels.OPTION_MTU] = str(spec.mtu)
    pools = [
        drop_empty({"Subnet": p.subnet, "Gateway": p.gateway, "IPRange": p.ip_range})
        for p in spec.ipam_pools()
    ] or [drop_empty({k: p.get(k) for k in ("Subnet", "Gateway", "IPRange")}) for p in inherit]
    ipam = {"Driver": "default", "Config": pools} if pools else None
    return drop_empty(
        {
            "Name": network.name,
            "Driver": spec.driver,
            "Scope": "swarm",
            "Options": options,
            "IPAM": ipam,
            "Internal": spec.internal or None,
            "Attachable": spec.attachable or None,
            "EnableIPv6": spec.ipv6 or None,
            "Labels": {**spec.labels, **ownership_labels(network)},
        }
    )


def network_from_docker(inspect: Mapping[str, Any]) -> Network:
    """A network inspect body as a `Network` manifest."""
    options = dict(inspect.get("Options") or {})
    encrypted = labels.OPTION_ENCRYPTED in options
    options.pop(labels.OPTION_ENCRYPTED, None)
    mtu = options.pop(labels.OPTION_MTU, None)
    for key in normalize.ENGINE_NETWORK_OPTIONS:
        options.pop(key, None)
    pools = [
        {
            "subnet": p.get("Subnet"),
            "gateway": p.get("Gateway") or None,
            "ip_range": p.get("IPRange") or None,
        }
        for p in ((inspect.get("IPAM") or {}).get("Config")) or []
        if p.get("Subnet")
    ]
    # one pool is read as the shorthand (as it is most often written), several as pools
    shorthand = pools[0] if len(pools) == 1 else {}
    body = {
        "driver": inspect.get("Driver") or "overlay",
        "subnet": shorthand.get("subnet"),
        "gateway": shorthand.get("gateway"),
        "ip_range": shorthand.get("ip_range"),
        "pools": pools if len(pools) > 1 else [],
        "attachable": bool(inspect.get("Attachable")),
        "internal": bool(inspect.get("Internal")),
        "encrypted": encrypted,
        "mtu": int(mtu) if mtu else None,
        "ipv6": bool(inspect.get("EnableIPv6")),
        "options": options,
        "labels": labels.user_labels(inspect.get("Labels")),
    }
    return Network.model_validate(
        {"metadata": {"name": inspect.get("Name", "")}, "spec": body}, context={"live": True}
    )


def unexpressed(inspect: Mapping[str, Any]) -> tuple[str, ...]:
    """Fields of a live network that the language cannot express, so a recreate loses them
    (the plan lists them as dropped): an IPAM driver or options, auxiliary addresses, a
    pool without a subnet, a config-only network or one made from a config."""
    ipam = inspect.get("IPAM") or {}
    pools = ipam.get("Config") or []
    found = [
        "IPAM.Driver" if ipam.get("Driver") not in (None, "", "default") else "",
        "IPAM.Options" if ipam.get("Options") else "",
        *(
            f"IPAM.Config[{i}].AuxiliaryAddresses"
            for i, p in enumerate(pools)
            if p.get("AuxiliaryAddresses")
        ),
        *(f"IPAM.Config[{i}]" for i, p in enumerate(pools) if not p.get("Subnet")),
        "ConfigOnly" if inspect.get("ConfigOnly") else "",
        "ConfigFrom" if (inspect.get("ConfigFrom") or {}).get("Network") else "",
    ]
    return tuple(f for f in found if f)


def _live_pools(inspect: Mapping[str, Any]) -> list[tuple[int, Mapping[str, Any]]]:
    pools = ((inspect.get("IPAM") or {}).get("Config")) or []
    return [(i, p) for i, p in enumerate(pools) if p.get("Subnet")]


def inherited_pools(desired: Network, inspect: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The live pools a recreate from ``desired`` makes again although the manifest does
    not name them: all of them when it declares no pool (unset, a pool is whatever the
    network has, as the comparison holds; IPAM would otherwise pick new subnets)."""
    if desired.spec.ipam_pools():
        return []
    return [p for _i, p in _live_pools(inspect)]


def kept_pools(desired: Network, inspect: Mapping[str, Any]) -> tuple[str, ...]:
    """`inherited_pools` as the plan lists them (``kept``)."""
    if desired.spec.ipam_pools():
        return ()
    return tuple(
        f"IPAM.Config[{i}] (subnet {p['Subnet']}: the manifest declares no pool; recreated "
        "with the live ones)"
        for i, p in _live_pools(inspect)
    )


def dropped_pools(desired: Network, inspect: Mapping[str, Any]) -> tuple[str, ...]:
    """Live pools a recreate from ``desired`` does not make again (by subnet): those a
    manifest that declares pools leaves out."""
    declared = {p.subnet for p in desired.spec.ipam_pools()}
    return tuple(
        f"IPAM.Config[{i}] (subnet {p['Subnet']}: not in the manifest)"
        for i, p in _live_pools(inspect)
        if declared and p["Subnet"] not in declared
    )


def dropped(desired: Network, inspect: Mapping[str, Any]) -> tuple[str, ...]:
    """What a recreate of the live network ``inspect`` from ``desired`` loses."""
    return (*unexpressed(inspect), *dropped_pools(desired, inspect))


def is_swarm_network(raw: Mapping[str, Any]) -> bool:
    """User networks of the Swarm: swarm scope, not the routing mesh (``ingress``)."""
    return raw.get("Scope") == "swarm" and not raw.get("Ingress")


def _attachments(spec: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return list((spec.get("TaskTemplate") or {}).get("Networks") or spec.get("Networks") or [])


def live_network(raw: Mapping[str, Any], used_by: tuple[str, ...] = ()) -> LiveObject:
    name = str(raw.get("Name", ""))
    manifest, error = convert("Network", name, network_from_docker, raw)
    return LiveObject(
        kind="Network",
        name=name,
        id=str(raw.get("Id", "")),
        version=0,
        labels=dict(raw.get("Labels") or {}),
        spec=raw,
        manifest=manifest,
        read_error=error,
        used_by=used_by,
    )


# --------------------------------------------------------------------------- the kind


class NetworkKind(Kind):
    name = "Network"
    model = Network
    event_type = "network"
    needs = (SERVICE,)
    probed = True

    def read_raw(self, client: SwarmClient, names: Collection[str] | None = None) -> list[JSON]:
        return client.networks()  # always whole: service specs name networks by ID

    def ids(self, raws: Sequence[Raw]) -> dict[str, str]:
        return {str(n.get("Name")): str(n.get("Id")) for n in raws}

    def live(self, raws: Mapping[str, Sequence[Raw]]) -> dict[str, LiveObject]:
        networks = raws.get(self.name, ())
        ids = {str(n.get("Id")): str(n.get("Name")) for n in networks}
        # A probe does not hold its network: the daemon removes its probe before it deletes
        # or replaces the network (probing.loop.OverlayProbes.remove_now), and doctor's are
        # gone within its run; a replace must not detach and reattach a probe.
        users: dict[str, list[str]] = {}
        for raw in raws.get(SERVICE, ()):
            spec = raw.get("Spec") or {}
            if labels.is_probe(spec.get("Labels")):
                continue
            for att in _attachments(spec):
                target = str(att.get("Target", ""))
                users.setdefault(ids.get(target, target), []).append(str(spec.get("Name", "")))
        return {
            str(raw.get("Name")): live_network(
                raw, tuple(sorted(users.get(str(raw.get("Name")), [])))
            )
            for raw in networks
            if is_swarm_network(raw) and not labels.is_probe(raw.get("Labels"))
        }

    def comparable(self, desired: Manifest, live: Manifest) -> tuple[JSON, JSON]:
        return normalize.network_pair(
            desired.spec.model_dump(mode="json", by_alias=True),
            live.spec.model_dump(mode="json", by_alias=True),
        )

    def plan(self, manifest: Manifest, live: LiveObject | None, ctx: PlanContext) -> Action:
        m = cast(Network, manifest)
        if m.spec.external:
            return _plan_external(m, live)
        if live is None:
            return Action("create", m.kind, m.name, "not in the Swarm", creation_fields(m, ()), m)
        allow_replace = ctx.options.allow_replace or flag(m, ANNOTATION_ALLOW_REPLACE)
        if live.manifest is None:
            diffs: tuple[Difference, ...] = ()
            reason = f"{live.read_error}; it must be recreated"
        else:
            diffs = self.differences(m, live.manifest)
            reason = "networks cannot be changed in place: remove and recreate"
        if live.manifest is not None and not diffs:
            if live.managed:
                return Action("noop", m.kind, m.name, "up to date", desired=m, live=live)
            return Action(
                "noop",
                m.kind,
                m.name,
                "exists without the swarm-operator label and matches; Docker cannot relabel a "
                "network in place, so it is used as is and never pruned",
                desired=m,
                live=live,
            )
        if live.managed:
            action = Action(
                "replace",
                m.kind,
                m.name,
                reason,
                diffs,
                m,
                live,
                disrupts=live.used_by,
                kept=kept_pools(m, live.spec),
                dropped=dropped(m, live.spec),
            )
        else:
            action = Action(
                "adopt",
                m.kind,
                m.name,
                "a network with this name exists without the swarm-operator label and "
                "differs; adopting it means recreating it",
                diffs,
                m,
                live,
                disrupts=live.used_by,
                kept=kept_pools(m, live.spec),
                dropped=dropped(m, live.spec),
            )
            if not may_adopt(m, ctx.options):
                return action.block(BLOCK_NOT_ADOPTED)
        if not allow_replace:
            users = ", ".join(live.used_by) or "none"
            return action.block(
                'needs --allow-replace (or annotation swarm-operator/allow-replace: "true"); '
                f"services disrupted: {users}"
            )
        return action

    def prune_guard(
        self, obj: LiveObject, deleted: Collection[Key], ctx: PlanContext
    ) -> str | None:
        users = [s for s in obj.used_by if (SERVICE, s) not in deleted]
        if not users:
            return None
        services = ctx.live(SERVICE)
        unmanaged = [s for s in users if not (services.get(s) and services[s].managed)]
        detail = ", ".join(users)
        if unmanaged:
            detail += f" (not managed here: {', '.join(unmanaged)})"
        return f"refused: network still used by services {detail}"

    def probe_config(self, manifest: Manifest) -> tuple[Any, str] | None:
        m = cast(Network, manifest)
        return m.spec.probe, m.spec.driver

    # ------------------------------------------------------------------ writing

    def apply(self, action: Action, ctx: ApplyContext) -> str:
        ctx.forget_ids(self.name)
        if action.verb == "delete":
            assert action.live is not None
            remove_network(ctx, action.live.id, action.name)
            return "deleted"
        m = cast(Network, action.desired)
        if action.verb == "create":
            ctx.client.create_network(network_spec(m))
            return "created"
        return _replace(ctx, action, m)


EXTERNAL_MISSING = (
    "external: swarm-operator never creates it; create it first "
    "(docker network create --driver overlay --scope swarm NAME)"
)


def _plan_external(m: Network, live: LiveObject | None) -> Action:
    """``external: true``: made elsewhere. It must exist; it is never created, changed or
    pruned (it is declared, so prune never looks at it). A missing one is an unmet
    action (`Plan.unmet`): plan and apply fail and say so."""
    if live is None:
        return Action(
            "missing", m.kind, m.name, "external network not in the Swarm", desired=m
        ).block(EXTERNAL_MISSING.replace("NAME", m.name))
    return Action(
        "noop",
        m.kind,
        m.name,
        "external: made elsewhere; never created, changed or pruned here",
        desired=m,
        live=live,
    )


def remove_network(ctx: ApplyContext, network_id: str, name: str) -> None:
    """Remove, retrying while tasks that just left still hold endpoints on it, then wait
    until the manager has let go of it (removal is asynchronous: the name stays taken for
    a moment, and a create with that name would fail)."""
    deadline = time.monotonic() + NETWORK_REMOVE_TIMEOUT
    while True:
        try:
            ctx.client.remove_network(network_id)
            break
        except NotFound:
            break
        except InUse as exc:
            if time.monotonic() > deadline:
                raise
            ctx.progress(f"Network {name}: waiting for endpoints to go ({exc.explanation})")
            ctx.sleep(1.0)
    while time.monotonic() < deadline:
        try:
            ctx.client.inspect_network(network_id)
        except NotFound:
            return
        ctx.sleep(0.2)
    raise ApiError(f"network {name} ({network_id[:12]}) was removed but is still listed")


Change = Callable[[list[dict[str, Any]]], list[dict[str, Any]]]


def _set_service_networks(client: SwarmClient, service_id: str, change: Change) -> None:
    for attempt in range(MAX_CONFLICT_RETRIES + 1):
        raw = client.inspect_service(service_id)
        spec: dict[str, Any] = dict(raw.get("Spec") or {})
        task = dict(spec.get("TaskTemplate") or {})
        task["Networks"] = change(list(task.get("Networks") or []))
        # never a shape the docker CLI would not send (kinds.service_spec: a missing
        # Placement crashes dockerd 20.10's manager)
        task.setdefault("Placement", {})
        spec["TaskTemplate"] = task
        try:
            client.update_service(service_id, int((raw.get("Version") or {}).get("Index", 0)), spec)
            return
        except VersionConflict:
            if attempt == MAX_CONFLICT_RETRIES:
                raise


def _without(*targets: str) -> Change:
    def change(nets: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [n for n in nets if n.get("Target") not in targets]

    return change


def _adding(extra: list[dict[str, Any]]) -> Change:
    def change(nets: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [*nets, *extra]

    return change


def _replace(ctx: ApplyContext, action: Action, m: Network) -> str:
    live = action.live
    assert live is not None
    old_id = live.id
    client = ctx.client
    services = {
        s["Spec"]["Name"]: s
        for s in sorted(client.services(), key=lambda s: str(s["Spec"]["Name"]))
        if s["Spec"]["Name"] in action.disrupts
    }
    saved: dict[str, list[dict[str, Any]]] = {}
    for name, raw in services.items():
        attached = (raw["Spec"].get("TaskTemplate") or {}).get("Networks") or []
        saved[name] = [a for a in attached if a.get("Target") in (old_id, live.name)]
        ctx.progress(f"Network {m.name}: detaching service {name}")
        _set_service_networks(client, raw["ID"], _without(old_id, live.name))
    ctx.progress(f"Network {m.name}: removing {old_id[:12]}")
    remove_network(ctx, old_id, m.name)
    new_id = client.create_network(network_spec(m, inherited_pools(m, live.spec)))
    ctx.progress(f"Network {m.name}: recreated as {new_id[:12]}")
    for name, raw in services.items():
        again = [{**a, "Target": new_id} for a in saved[name]]
        ctx.progress(f"Network {m.name}: reattaching service {name}")
        _set_service_networks(client, raw["ID"], _adding(again))
    detail = f" (detached and reattached {', '.join(services)})" if services else ""
    return f"replaced{detail}"


KIND = NetworkKind()
