"""A compose service's ``volumes:`` (mounts) and the top-level volume declarations
they name.

Owns the `MOUNT` table (volume, bind and tmpfs mounts in long form: a bind source made
absolute against the project, a named volume resolved to its stack name and declared
once), the `VOLUME` table of a declaration (`volume_spec`), which declarations become a
Volume manifest (`has_driver`), and the labels ``docker stack deploy`` writes on each
mount of a stack volume. Neighbours: `rules.base` (the vocabulary); `rules` assembles
`rules.SERVICE`; `convert` turns the used declarations into Volume manifests.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from swarm_operator.manifests.compose.rules.base import (
    STACK_NAMESPACE_LABEL,
    Ctx,
    Table,
    boolean,
    file_mode,
    ignored,
    is_external,
    lower,
    nested,
    quantity,
    refused,
    skip,
    text_map,
    to,
    walk,
)
from swarm_operator.manifests.compose.tree import Node

MOUNT: Table = {
    "type": to(("type",), lower),
    "source": to(("source",)),
    "target": to(("target",)),
    "read_only": to(("readOnly",), boolean),
    "volume": nested(
        {"nocopy": to(("volumeOptions", "noCopy"), boolean), "subpath": refused("no subpath")}
    ),
    "bind": nested(
        {
            "propagation": to(("bind", "propagation"), lower),
            "create_host_path": ignored("Swarm never creates a bind mount's host path"),
            "selinux": refused("SELinux relabelling (z, Z) of a bind mount"),
        }
    ),
    "tmpfs": nested(
        {"size": to(("tmpfs", "size"), quantity), "mode": to(("tmpfs", "mode"), file_mode)}
    ),
    "consistency": refused("mount consistency (only Docker Desktop for Mac reads it)"),
}


def service_volumes(ctx: Ctx, key: str, node: Node) -> None:
    mounts = ctx.target.setdefault("mounts", [])
    for item in node.value if node.is_list else []:
        mount = Ctx(ctx.project, ctx.problems, ctx.name)
        walk(mount, MOUNT, item, key + "[].")
        spec = mount.target
        if "target" not in spec:
            ctx.error(item, f"{key}: a mount needs a target (the path inside the container)")
            continue
        kind = spec.setdefault("type", "volume")
        if kind not in ("volume", "bind", "tmpfs"):
            ctx.error(item, f"{key}: mount type {kind!r} has no manifest equivalent")
            continue
        source = spec.get("source")
        if kind == "bind" and source:
            path = source
            if path.startswith("~"):
                home = ctx.project.env.get("HOME")
                path = path.replace("~", home, 1) if home else path
            if not path.startswith("/"):
                path = os.path.normpath(ctx.project.directory / path)
            spec["source"] = str(path)
        if kind == "volume" and source:
            decl = ctx.project.volumes.get(source)
            if decl is None:
                ctx.error(item, f"{key}: undefined volume {source!r} (declare it under volumes:)")
                continue
            spec["source"] = ctx.project.object_name(decl, source)
            _volume_declaration(ctx, source, decl)
            if not is_external(decl):
                _volume_labels(ctx, decl, spec)
        options = spec.get("volumeOptions")
        if options is not None:
            if options.get("noCopy") is False:
                del options["noCopy"]
            if not options:
                del spec["volumeOptions"]
        if spec.get("readOnly") is False:
            del spec["readOnly"]
        if spec["type"] == "volume":
            del spec["type"]
        mounts.append(spec)


VOLUME: Table = {
    "driver": to(("driver",)),
    "driver_opts": to(("driverOptions",), text_map),
    "labels": to(("labels",), text_map),
    "external": skip,
    "name": skip,
}


def volume_spec(ctx: Ctx, key: str, decl: Node) -> dict[str, Any]:
    """A declared volume's driver, driver options and labels (in manifest terms)."""
    volume = Ctx(ctx.project, ctx.problems, key)
    walk(volume, VOLUME, decl, f"volumes.{key}.")
    return volume.target


def has_driver(spec: Mapping[str, Any]) -> bool:
    """docker stack deploy writes a mount's DriverConfig only for a volume declared with
    a driver or driver options: only such a volume becomes a Volume manifest (whose
    driver every mount of it then carries)."""
    return bool(spec.get("driver") or spec.get("driverOptions"))


def _volume_declaration(ctx: Ctx, key: str, decl: Node) -> None:
    if ("volume", key) in ctx.project.reported:
        return
    ctx.project.reported.add(("volume", key))
    ctx.project.used_volumes[key] = decl
    if is_external(decl):
        for name in ("driver", "driver_opts", "labels"):
            if (node := decl.get(name)) is not None and node.value:
                ctx.warn(
                    node,
                    f"volumes.{key}.{name} is ignored: the volume is external (docker stack "
                    "deploy passes only its name)",
                )
        return
    volume_spec(ctx, key, decl)  # its messages, once


def _volume_labels(ctx: Ctx, decl: Node, mount: dict[str, Any]) -> None:
    """The labels docker stack deploy writes on each mount of a stack volume: the
    volume's own (here only when no Volume manifest carries them) and the stack's."""
    quiet = Ctx(ctx.project, [], ctx.name)
    spec = volume_spec(quiet, "", decl)
    labels: dict[str, str] = {} if has_driver(spec) else dict(spec.get("labels", {}))
    if ctx.project.namespace:
        labels[STACK_NAMESPACE_LABEL] = ctx.project.namespace
    if labels:
        options = mount.setdefault("volumeOptions", {})
        options["labels"] = {**labels, **options.get("labels", {})}
