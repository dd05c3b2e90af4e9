"""A compose service's ``ports:`` and ``networks:``, and the top-level network
declarations.

Owns the `PORT` table (a published port, Swarm's defaults left out), the `ATTACHMENT`
table and the attachment of a service to declared networks (by stack name, with the
service's short name as an alias, as ``docker stack deploy`` gives it), and the
`NETWORK` table of a declaration (driver options, ``encrypted`` as the manifest's own
field, the IPAM subnets: one as ``subnet``, several as ``pools``; ``enable_ipv6`` as
``ipv6``). Neighbours: `rules.base` (the vocabulary); `rules` assembles `rules.SERVICE`;
`convert` walks each network a service uses through `NETWORK`.
"""

from __future__ import annotations

from typing import Any

from swarm_operator.manifests.compose.rules.base import (
    DEFAULT_NETWORK,
    Bad,
    Ctx,
    Table,
    boolean,
    ignored,
    integer,
    lower,
    skip,
    text,
    text_list,
    text_map,
    to,
    walk,
)
from swarm_operator.manifests.compose.tree import Node

PORT: Table = {
    "target": to(("target",), integer),
    "published": to(("published",), integer),
    "protocol": to(("protocol",), lower),
    "mode": to(("mode",), lower),
    "host_ip": ignored("a published port listens on every address of every node"),
    "name": ignored("ports have no names in Swarm"),
    "app_protocol": ignored("ports have no application protocol in Swarm"),
}


def service_ports(ctx: Ctx, key: str, node: Node) -> None:
    ports = ctx.target.setdefault("ports", [])
    for item in node.value if node.is_list else []:
        port = Ctx(ctx.project, ctx.problems, ctx.name)
        walk(port, PORT, item, key + "[].")
        if "target" not in port.target:
            ctx.error(item, f"{key}: a port needs a target")
            continue
        if port.target.get("published") == 0:
            del port.target["published"]
        for default, value in (("protocol", "tcp"), ("mode", "ingress")):
            if port.target.get(default) == value:
                del port.target[default]
        ports.append(port.target)


ATTACHMENT: Table = {
    "aliases": to(("aliases",), text_list),
    "ipv4_address": ignored("Swarm assigns the addresses of a service's tasks"),
    "ipv6_address": ignored("Swarm assigns the addresses of a service's tasks"),
    "link_local_ips": ignored("Swarm assigns the addresses of a service's tasks"),
    "priority": ignored("Swarm does not order a service's networks"),
    "driver_opts": to(("driverOpts",), text_map),
}


def service_networks(ctx: Ctx, key: str, node: Node) -> None:
    if not node.is_map:
        ctx.error(node, f"{key} must be a list or a mapping of network names")
        return
    attachments = []
    for name, value in node.value.items():
        if name not in ctx.project.networks and name != DEFAULT_NETWORK:
            ctx.error(
                value, f"{key}: undefined network {name!r} (declare it under networks:)", key=True
            )
            continue
        ctx.project.used_networks.setdefault(name, value)
        attach = Ctx(ctx.project, ctx.problems, ctx.name)
        walk(attach, ATTACHMENT, value, f"{key}.{name}.")
        aliases = list(attach.target.get("aliases", []))
        if ctx.project.namespace and ctx.name not in aliases:
            aliases.append(ctx.name)  # docker stack deploy: the short name, on every network
        entry: dict[str, Any] = {"name": ctx.project.network_name(name)}
        if aliases:
            entry["aliases"] = aliases
        if attach.target.get("driverOpts"):
            entry["driverOpts"] = attach.target["driverOpts"]
        attachments.append(entry)
    attachments.sort(key=lambda a: str(a["name"]))
    ctx.target["networks"] = [a if len(a) > 1 else a["name"] for a in attachments]


def _driver_opts(ctx: Ctx, key: str, node: Node) -> None:
    try:
        options = text_map(node)
    except Bad as exc:
        ctx.error(node, f"{key}: {exc}")
        return
    if "encrypted" in options:  # the manifest's own field (the engine's option "encrypted")
        del options["encrypted"]
        ctx.target["encrypted"] = True
    if options:
        ctx.target["options"] = options


def _ipam(ctx: Ctx, key: str, node: Node) -> None:
    if not node.is_map:
        ctx.error(node, f"{key} must be a mapping")
        return
    for name, value in node.value.items():
        if name.startswith("x-"):
            continue
        if name == "driver":
            if value.value not in (None, "default"):
                ctx.error(
                    value, f"{key}.driver: an IPAM driver has no manifest equivalent", key=True
                )
        elif name == "config":
            entries = value.value if value.is_list else []
            subnets: list[str] = []
            for entry in entries:
                if not entry.is_map:
                    ctx.error(entry, f"{key}.config: an entry is a mapping {{subnet: CIDR}}")
                    continue
                for field_name, field_node in entry.value.items():
                    if field_name == "subnet":
                        subnets.append(text(field_node))
                    elif field_name in ("gateway", "ip_range", "aux_addresses"):
                        ctx.warn(
                            field_node,
                            f"{key}.config.{field_name} is ignored by docker stack deploy "
                            "(it passes the subnet only): not converted",
                        )
                    else:
                        ctx.error(
                            field_node, f"unknown compose key {key}.config.{field_name}", key=True
                        )
            # one subnet as the manifest's shorthand, several (stack deploy passes them
            # all) as pools
            if len(subnets) == 1:
                ctx.target["subnet"] = subnets[0]
            elif subnets:
                ctx.target["pools"] = [{"subnet": s} for s in subnets]
        elif name == "options":
            ctx.error(value, f"{key}.options: IPAM options have no manifest equivalent", key=True)
        else:
            ctx.error(value, f"unknown compose key {key}.{name}", key=True)


def _enable_ipv6(ctx: Ctx, key: str, node: Node) -> None:
    """The manifest's ``ipv6`` (an IPv6 subnet needs it). docker stack deploy refuses the
    key (``Additional property enable_ipv6 is not allowed``: compose file format 3 has
    none), so a stack deploy can only make an IPv6 pool without IPv6: inert."""
    try:
        value = boolean(node)
    except Bad as exc:
        ctx.error(node, f"{key}: {exc}")
        return
    if value:
        ctx.target["ipv6"] = True
        ctx.warn(
            node,
            f"{key}: docker stack deploy refuses this key (compose file format 3 has no "
            "enable_ipv6); converted as ipv6: true",
        )


NETWORK: Table = {
    "driver": to(("driver",)),
    "driver_opts": _driver_opts,
    "attachable": to(("attachable",), boolean),
    "internal": to(("internal",), boolean),
    "labels": to(("labels",), text_map),
    "ipam": _ipam,
    "enable_ipv6": _enable_ipv6,
    "name": skip,
    "external": skip,
}
