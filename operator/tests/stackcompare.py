"""Field-by-field comparison of two live services that should be the same deployment: one
made by `docker stack deploy -c FILE ref`, one by `swarm-operator convert -f FILE
--namespace cmp` + `apply` (issue 13's equality test).

`differences(ref, ours, ...)` maps what legitimately differs between the two and returns
every other difference as ``path: ref-value != our-value``:

- the stack names (``ref_web`` / ``cmp_web``, the namespace label ``ref`` / ``cmp``), also
  a named volume's (a mount's source, and the namespace label `docker stack deploy` puts
  on the volume through the mount's options);
- IDs: network targets, secret and config IDs, read through the ID -> name tables given,
  and a secret's or config's engine name, which the operator versions
  (``cmp_db-<hash>``) where the CLI does not;
- each tool's own labels: ``io.swarm-operator.*`` (ownership, spec hash, the image as
  written) and the CLI's ``com.docker.stack.image``;
- a digest pinned into the image (both tools may pin; the tag must agree);
- blocks the engine fills with its defaults when absent (restart, update and rollback
  policy): compared after filling both sides with the engine's defaults, since the
  operator writes them complete and the CLI leaves them out;
- the order of published ports (the engine keeps them as a set; the CLI sorts them by
  published port, the operator keeps the file's order): compared sorted;
- the order of placement constraints (all must hold; the CLI sorts them, the operator
  keeps the file's order): compared sorted (preferences keep their order: it matters);
- the order of mounts (the daemon mounts parents first whatever the order): compared by
  target;
- a config's relative target (``app``, as `docker stack deploy` writes the default one) is
  the same path as ``/app`` (the engine puts it under the container's root);
- empty and absent are the same (``{}``, ``[]``, ``""``, ``None``, ``false``, ``0``), as the
  engine treats them.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any

from swarm_operator.kinds.normalize import ENGINE_RESTART_DEFAULTS, ENGINE_UPDATE_DEFAULTS

OWN_LABELS = ("io.swarm-operator.", "com.docker.stack.image")
NAMESPACE_LABEL = "com.docker.stack.namespace"
DEFAULTED = {
    ("TaskTemplate", "RestartPolicy"): ENGINE_RESTART_DEFAULTS,
    ("UpdateConfig",): ENGINE_UPDATE_DEFAULTS,
    ("RollbackConfig",): ENGINE_UPDATE_DEFAULTS,
}
_VERSION_SUFFIX = re.compile(r"-[0-9a-f]{8,64}$")


def _empty(value: Any) -> bool:
    return value in (None, "", 0, False) or (isinstance(value, dict | list) and not value)


def _port_key(port: Mapping[str, Any]) -> tuple[str, int, int, str]:
    return (
        str(port.get("Protocol") or "tcp"),
        int(port.get("TargetPort") or 0),
        int(port.get("PublishedPort") or 0),
        str(port.get("PublishMode") or "ingress"),
    )


def _strip_labels(labels: Mapping[str, str] | None, ns: str, neutral: str) -> dict[str, str]:
    out = {}
    for k, v in (labels or {}).items():
        if k.startswith(OWN_LABELS):
            continue
        out[k] = neutral if k == NAMESPACE_LABEL and v == ns else v
    return out


def _rename(name: str, ns: str, neutral: str) -> str:
    return neutral + name[len(ns) :] if name.startswith(ns + "_") else name


def canonical(
    spec: Mapping[str, Any],
    ns: str,
    networks: Mapping[str, str],
    secrets: Mapping[str, str],
    configs: Mapping[str, str],
    neutral: str = "STACK",
) -> dict[str, Any]:
    """``spec`` with everything the module doc lists mapped to one neutral form."""
    s: dict[str, Any] = copy.deepcopy(dict(spec))
    s["Name"] = _rename(str(s.get("Name", "")), ns, neutral)
    s["Labels"] = _strip_labels(s.get("Labels"), ns, neutral)
    task = s.setdefault("TaskTemplate", {})
    c = task.setdefault("ContainerSpec", {})
    c["Labels"] = _strip_labels(c.get("Labels"), ns, neutral)
    image = str(c.get("Image", ""))
    c["Image"] = (
        image.split("@", 1)[0] if ":" in image.split("@", 1)[0].rsplit("/", 1)[-1] else image
    )
    mounts = []
    for mount in c.get("Mounts") or []:
        mount = copy.deepcopy(dict(mount))
        if mount.get("Type") == "volume" and mount.get("Source"):
            mount["Source"] = _rename(str(mount["Source"]), ns, neutral)
            options = mount.get("VolumeOptions") or {}
            if options.get("Labels"):
                options["Labels"] = _strip_labels(options["Labels"], ns, neutral)
        mounts.append(mount)
    if mounts:
        # the daemon mounts them parents first whatever the order (daemon sortMounts):
        # compared by target
        c["Mounts"] = sorted(mounts, key=lambda m: (str(m.get("Target")), str(m.get("Type"))))
    for key, table in (("Secrets", secrets), ("Configs", configs)):
        refs = []
        for ref in c.get(key) or []:
            ref = dict(ref)
            id_key, name_key = key[:-1] + "ID", key[:-1] + "Name"
            name = table.get(str(ref.pop(id_key, "")), str(ref.get(name_key, "")))
            name = _VERSION_SUFFIX.sub("", _rename(name, ns, neutral))
            ref[name_key] = name
            file = dict(ref.get("File") or {})
            target = str(file.get("Name", ""))
            if key == "Configs" and target and not target.startswith("/"):
                # a relative config target is under the container's root: "app" is "/app"
                file["Name"] = "/" + target
                ref["File"] = file
            refs.append(ref)
        c[key] = sorted(refs, key=lambda r: str(r.get("File", {}).get("Name", r)))
    attachments = []
    for att in task.get("Networks") or s.pop("Networks", None) or []:
        att = dict(att)
        target = str(att.get("Target", ""))
        att["Target"] = _rename(networks.get(target, target), ns, neutral)
        att["Aliases"] = sorted(att.get("Aliases") or [])
        attachments.append(att)
    task["Networks"] = sorted(attachments, key=lambda a: str(a["Target"]))
    placement = task.get("Placement") or {}
    if placement.get("Constraints"):
        placement["Constraints"] = sorted(placement["Constraints"])
    endpoint = s.get("EndpointSpec") or {}
    if endpoint.get("Ports"):
        endpoint["Ports"] = sorted(endpoint["Ports"], key=_port_key)
    for path, defaults in DEFAULTED.items():
        holder: dict[str, Any] = s
        for part in path[:-1]:
            holder = holder.setdefault(part, {})
        block = dict(holder.get(path[-1]) or {})
        holder[path[-1]] = {**defaults, **{k: v for k, v in block.items() if v is not None}}
    return s


def _walk(a: Any, b: Any, path: str, out: list[str]) -> None:
    if isinstance(a, dict) or isinstance(b, dict):
        da = a if isinstance(a, dict) else {}
        db = b if isinstance(b, dict) else {}
        if (not isinstance(a, dict) and not _empty(a)) or (
            not isinstance(b, dict) and not _empty(b)
        ):
            out.append(f"{path}: {a!r} != {b!r}")
            return
        for key in sorted(set(da) | set(db)):
            _walk(da.get(key), db.get(key), f"{path}.{key}" if path else key, out)
        return
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _walk(x, y, f"{path}[{i}]", out)
        return
    if _empty(a) and _empty(b):
        return
    if a != b:
        out.append(f"{path}: {a!r} != {b!r}")


def differences(
    ref: Mapping[str, Any],
    ours: Mapping[str, Any],
    *,
    ref_ns: str,
    our_ns: str,
    networks: Mapping[str, str],
    secrets: Mapping[str, str],
    configs: Mapping[str, str],
) -> list[str]:
    """Every difference between two service specs that the module doc does not explain."""
    out: list[str] = []
    _walk(
        canonical(ref, ref_ns, networks, secrets, configs),
        canonical(ours, our_ns, networks, secrets, configs),
        "",
        out,
    )
    return out
