"""The compose ``deploy:`` section (mode, replicas, placement, resources, restart, update
and rollback policies) and the legacy service key ``restart``.

Owns the `DEPLOY` table and its sub-tables (`PLACEMENT`, `RESOURCES`, `RESTART_POLICY`,
the update and rollback configs with ``docker stack deploy``'s own defaults written out),
and ``restart`` read as a restart policy when ``deploy.restart_policy`` is unset, as
``docker stack deploy`` does. Neighbours: `rules.base` (the vocabulary); `rules`
assembles `rules.SERVICE` with ``deploy`` before ``restart``.
"""

from __future__ import annotations

from typing import Any

from swarm_operator.manifests.compose.rules.base import (
    Bad,
    Ctx,
    Rule,
    Table,
    choice,
    ignored,
    integer,
    lower,
    nested,
    number,
    preferences,
    quantity,
    text,
    text_list,
    text_map,
    to,
    walk,
)
from swarm_operator.manifests.compose.tree import Node


def restart(ctx: Ctx, key: str, node: Node) -> None:
    # docker stack deploy reads the legacy `restart` when deploy.restart_policy is unset
    if "restartPolicy" in ctx.target:
        ctx.warn(node, f"{key} is ignored: deploy.restart_policy is set and wins")
        return
    try:
        value = text(node)
    except Bad as exc:
        ctx.error(node, f"{key}: {exc}")
        return
    policy, _, count = value.partition(":")
    if policy in ("no", ""):
        ctx.warn(node, f"{key}: {value!r} leaves Swarm's default policy (restart on any exit)")
        return
    conditions = {"always": "any", "unless-stopped": "any", "on-failure": "on-failure"}
    if policy not in conditions or (count and not count.isdigit()):
        ctx.error(node, f"{key}: {value!r} is not no, always, unless-stopped or on-failure[:N]")
        return
    converted: dict[str, Any] = {"condition": conditions[policy]}
    if count and int(count) > 0:
        converted["maxAttempts"] = int(count)
    ctx.target["restartPolicy"] = converted
    ctx.warn(
        node,
        f"{key} is not a Swarm key; used as deploy.restart_policy (condition "
        f"{converted['condition']}), as docker stack deploy does",
    )


def update_config(path: str) -> Rule:
    table: Table = {
        "parallelism": to((path, "parallelism"), integer),
        "delay": to((path, "delay"), quantity),
        "failure_action": to((path, "failureAction")),
        "monitor": to((path, "monitor"), quantity),
        "max_failure_ratio": to((path, "maxFailureRatio"), number),
        "order": to((path, "order")),
    }

    def rule(ctx: Ctx, key: str, node: Node) -> None:
        walk(ctx, table, node, key + ".")
        # docker stack deploy writes what the file gives and zero for the rest, but a
        # parallelism of 1 when the file gives none; the manifest's unset fields mean
        # `docker service create`'s defaults (a 5s monitor), so the zero is written out
        block = ctx.target.setdefault(path, {})
        block.setdefault("parallelism", 1)
        block.setdefault("monitor", "0s")

    return rule


PLACEMENT: Table = {
    "constraints": to(("placement", "constraints"), text_list),
    "preferences": to(("placement", "preferences"), preferences),
    "max_replicas_per_node": to(("placement", "maxReplicasPerNode"), integer),
}


def generic_resources(node: Node) -> list[dict[str, Any]]:
    """``[{discrete_resource_spec: {kind, value}}]`` (the only form compose has)."""
    out: list[dict[str, Any]] = []
    for item in node.value if node.is_list else []:
        spec = item.get("discrete_resource_spec") if item.is_map else None
        if spec is None or len(item.value) != 1 or not spec.is_map:
            raise Bad("each entry is {discrete_resource_spec: {kind: KIND, value: N}}")
        kind, value = spec.get("kind"), spec.get("value")
        if kind is None or value is None or len(spec.value) != 2:
            raise Bad("discrete_resource_spec is {kind: KIND, value: N}")
        out.append({"discreteResourceSpec": {"kind": text(kind), "value": integer(value)}})
    return out


_AMOUNTS = ("cpus", "memory")


def _amounts(which: str, extra: Table) -> Table:
    table: Table = {k: to(("resources", which, k), quantity) for k in _AMOUNTS}
    table.update(extra)
    return table


RESOURCES: Table = {
    "limits": nested(_amounts("limits", {"pids": to(("resources", "limits", "pids"), integer)})),
    "reservations": nested(
        _amounts(
            "reservations",
            {
                "generic_resources": to(
                    ("resources", "reservations", "genericResources"), generic_resources
                ),
                "devices": ignored("docker stack deploy does not reserve devices"),
            },
        )
    ),
}


RESTART_POLICY: Table = {
    "condition": to(("restartPolicy", "condition")),
    "delay": to(("restartPolicy", "delay"), quantity),
    "max_attempts": to(("restartPolicy", "maxAttempts"), integer),
    "window": to(("restartPolicy", "window"), quantity),
}


DEPLOY: Table = {
    "mode": to(("mode",), choice("replicated", "global", "replicated-job", "global-job")),
    "replicas": to(("replicas",), integer),
    "labels": to(("labels",), text_map),
    "endpoint_mode": to(("endpointMode",), lower),
    "placement": nested(PLACEMENT),
    "resources": nested(RESOURCES),
    "restart_policy": nested(RESTART_POLICY),
    "update_config": update_config("updateConfig"),
    "rollback_config": update_config("rollbackConfig"),
}
