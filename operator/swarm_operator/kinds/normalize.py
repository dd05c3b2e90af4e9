"""Normalisation: bring a desired and a live spec to one canonical form before diffing.

Owns every rule that makes two specs that mean the same thing compare equal, so the
planner never reports false drift. Works on the manifest's JSON form
(``model_dump(mode="json", by_alias=True)``: camelCase keys, canonical units), so
differences read in the manifest's own words (``spec.updateConfig.parallelism``).

Rules (each one a fact about the engine, see LAB.md and the fixtures in tests/):
- unset update/rollback/restart blocks and unset fields in them = the engine's defaults;
- ``init`` unset = false; ``stopGracePeriod`` unset = 10s; empty command/args = unset;
- the API 1.44+ fields: ``oomScoreAdj`` 0 = unset, a healthcheck's ``startInterval``
  0 = unset (the engine stores neither); so are the healthcheck's ``interval``,
  ``timeout``, ``startPeriod`` of 0s and ``retries`` 0 (20.10 and 26.1 store none: 0 means
  "inherit the image's or the default"). The other zeros a user may write re-plan clean
  already (update/rollback ``delay``/``monitor``, stored absent and read as 0 by
  `kinds.service_read`, and ``maxFailureRatio``; restart ``delay``/``window`` and
  ``stopGracePeriod``, stored as 0; resources of 0, stored as empty blocks;
  ``maxReplicasPerNode`` 0);
- ``isolation`` ``default`` = unset; a replicated job's ``maxConcurrent`` unset = its
  ``replicas``; a mount's empty ``volumeOptions``/``tmpfs`` block, an empty
  ``privileges`` or SELinux context = unset; groups and
  capabilities are sets;
- empty placement/resources blocks = unset; ``maxReplicasPerNode`` 0 = unset;
- list order that carries no meaning is sorted: ports, networks (and their aliases),
  mounts, placement constraints, DNS options; env, labels and hosts are maps already;
- network driver options the engine never reports back (the overlay's vxlanid_list) are
  not compared;
- a digest-pinned live image equals the requested reference it pins (``img:1@sha256:..``
  equals ``img:1``);
- networks: pools (or a gateway/ipRange) the manifest leaves unset are whatever IPAM chose,
  pools are compared in a fixed order (the engine reorders them);
  ``probe`` is operator configuration, not Docker's, and is never compared;
- nodes: unset role/availability = keep the live one; only listed labels are compared
  unless ``exclusiveLabels``.
Labels the operator itself writes (``io.swarm-operator.*``) are dropped when a live object
is read (`swarm.labels.user_labels`). Each kind's module (`kinds.service`, `kinds.network`,
`kinds.node`) calls its pair of functions here; the engine's defaults for the blocks the
operator writes complete are written once, here, in the engine's form (`ENGINE_*`).
"""

from __future__ import annotations

import copy
import ipaddress
from typing import Any

from swarm_operator.manifests import units

# The engine's defaults (swarmkit api/defaults) for the blocks the operator always writes
# complete (`kinds.service_spec`), in the engine's form; below, the same in manifest form.
ENGINE_UPDATE_DEFAULTS: dict[str, Any] = {
    "Parallelism": 1,
    "Delay": 0,
    "FailureAction": "pause",
    "Monitor": 5_000_000_000,
    "MaxFailureRatio": 0.0,
    "Order": "stop-first",
}
ENGINE_RESTART_DEFAULTS: dict[str, Any] = {
    "Condition": "any",
    "Delay": 5_000_000_000,
    "MaxAttempts": 0,
    "Window": 0,
}
_DURATIONS = frozenset({"Delay", "Monitor", "Window"})


def _manifest_form(engine: dict[str, Any]) -> dict[str, Any]:
    return {
        key[0].lower() + key[1:]: units.format_duration(value) if key in _DURATIONS else value
        for key, value in engine.items()
    }


UPDATE_DEFAULTS = _manifest_form(ENGINE_UPDATE_DEFAULTS)
RESTART_DEFAULTS = _manifest_form(ENGINE_RESTART_DEFAULTS)
STOP_GRACE_DEFAULT = "10s"


def _fill(block: dict[str, Any] | None, defaults: dict[str, Any]) -> dict[str, Any]:
    block = dict(block or {})
    out = {k: (defaults[k] if block.get(k) is None else block[k]) for k in defaults}
    if "maxFailureRatio" in out:
        out["maxFailureRatio"] = float(out["maxFailureRatio"])
    return out


def _amounts(block: dict[str, Any] | None) -> dict[str, Any] | None:
    if not block:
        return None
    out = {k: v for k, v in block.items() if v not in (None, "0", 0) and v != []}
    return out or None


def _mount(m: dict[str, Any]) -> dict[str, Any]:
    m = dict(m)
    vo = m.get("volumeOptions")
    if vo is not None and not any(vo.values()):  # every option unset: no block
        m["volumeOptions"] = None
    tmpfs = m.get("tmpfs")
    if tmpfs is not None and all(v is None for v in tmpfs.values()):
        m["tmpfs"] = None
    bind = m.get("bind")
    if bind is not None and bind.get("propagation") in (None, "rprivate"):
        # the engine's default: the docker CLI writes it out when it sets any bind option
        m["bind"] = None
    return m


def service(spec: dict[str, Any]) -> dict[str, Any]:
    """Canonical form of a Service spec (manifest JSON form)."""
    s = copy.deepcopy(spec)
    s["updateConfig"] = _fill(s.get("updateConfig"), UPDATE_DEFAULTS)
    s["rollbackConfig"] = _fill(s.get("rollbackConfig"), UPDATE_DEFAULTS)
    s["restartPolicy"] = _fill(s.get("restartPolicy"), RESTART_DEFAULTS)
    if s.get("init") is None:
        s["init"] = False
    if s.get("stopGracePeriod") is None:
        s["stopGracePeriod"] = STOP_GRACE_DEFAULT
    for key in ("command", "args", "user", "workdir", "hostname", "stopSignal"):
        if not s.get(key):
            s[key] = None
    if s.get("mode") == "replicated-job" and s.get("replicas") is None:
        s["replicas"] = 1
    placement = s.get("placement") or {}
    placement = {
        "constraints": sorted(placement.get("constraints") or []),
        "preferences": list(placement.get("preferences") or []),
        "maxReplicasPerNode": placement.get("maxReplicasPerNode") or None,
        "platforms": list(placement.get("platforms") or []),
    }
    empty = not any(placement[k] for k in ("constraints", "preferences", "platforms"))
    s["placement"] = None if empty and placement["maxReplicasPerNode"] is None else placement
    res = s.get("resources") or {}
    res = {"limits": _amounts(res.get("limits")), "reservations": _amounts(res.get("reservations"))}
    s["resources"] = None if res == {"limits": None, "reservations": None} else res
    hc = s.get("healthcheck")
    if hc is not None:
        for key in ("interval", "timeout", "startPeriod", "startInterval"):
            if hc.get(key) == "0s":
                hc[key] = None  # 0 is the engine's default (it stores none)
        if hc.get("retries") == 0:
            hc["retries"] = None
    if hc is not None and all(v is None for v in hc.values()):
        s["healthcheck"] = None
    s["ports"] = sorted(
        s.get("ports") or [],
        key=lambda p: (p["target"], p["protocol"], p.get("published") or 0, p["mode"]),
    )
    s["networks"] = sorted(
        (
            {
                "name": n["name"],
                "aliases": sorted(n.get("aliases") or []),
                "driverOpts": dict(n.get("driverOpts") or {}),
            }
            for n in s["networks"]
        ),
        key=lambda n: n["name"],
    )
    s["mounts"] = sorted((_mount(m) for m in s.get("mounts") or []), key=lambda m: m["target"])
    for refs in ("secrets", "configs"):  # one file per target: a set, written sorted
        s[refs] = sorted(s.get(refs) or [], key=lambda r: str(r["target"]))
    # issue 12's container fields: the engine's "default" isolation is unset; a
    # replicated job runs all its tasks at once unless maxConcurrent says otherwise;
    # supplementary groups and capabilities are sets
    if s.get("isolation") == "default":
        s["isolation"] = None
    if s.get("mode") == "replicated-job" and s.get("maxConcurrent") is None:
        s["maxConcurrent"] = s.get("replicas")
    if not s.get("oomScoreAdj"):  # 0 is the kernel's default: the engine stores none
        s["oomScoreAdj"] = None
    privileges = dict(s.get("privileges") or {})
    selinux = privileges.get("seLinuxContext")
    if selinux is not None and not any(selinux.values()):  # every label unset: no block
        privileges["seLinuxContext"] = None
    s["privileges"] = privileges if any(privileges.values()) else None
    for key in ("groups", "capAdd", "capDrop"):
        if key in s:
            s[key] = sorted(s.get(key) or [])
    # resolv.conf options are a set to the resolver; nameservers and search are ordered
    s["dnsOptions"] = sorted(s.get("dnsOptions") or [])
    return s


def image_pins(live: str, requested: str) -> bool:
    """``live`` is the ``requested`` reference, or that reference with a digest pinned in
    by the engine or the CLI (``img:1@sha256:..`` pins ``img:1``)."""
    return live == requested or ("@" not in requested and live.split("@", 1)[0] == requested)


ENGINE_NETWORK_OPTIONS = frozenset({"com.docker.network.driver.overlay.vxlanid_list"})
"""Driver options the engine accepts at create and never reports back: not compared
(else a network that sets one would plan a replace on every run). The overlay driver
adds this one by itself too: it is never read into a manifest (`kinds.network`)."""


def network(spec: dict[str, Any]) -> dict[str, Any]:
    """Canonical form of a Network spec: operator configuration (``probe``) and options
    the engine never reports back are not compared."""
    s = copy.deepcopy(spec)
    s.pop("probe", None)
    s["options"] = {
        k: v for k, v in (s.get("options") or {}).items() if k not in ENGINE_NETWORK_OPTIONS
    }
    return s


def service_pair(d: dict[str, Any], lv: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """A desired and a live Service spec (manifest JSON form) in canonical form."""
    d, lv = service(d), service(lv)
    if image_pins(lv["image"], d["image"]):
        lv["image"] = d["image"]
    if d["placement"] is None or not d["placement"]["platforms"]:
        # unset platforms are the image's (docker service create and stack deploy resolve
        # them from the registry; so does apply): whatever the live service has
        lp = lv["placement"]
        if lp is not None:
            lp["platforms"] = []
            if not any(lp[k] for k in ("constraints", "preferences")) and (
                lp["maxReplicasPerNode"] is None
            ):
                lv["placement"] = None
    return d, lv


def network_pair(d: dict[str, Any], lv: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """A desired and a live Network spec in canonical form."""
    d, lv = network(d), network(lv)
    dp, lp = _pools(d), _pools(lv)
    if not dp:  # no pool declared: whatever IPAM chose
        dp = copy.deepcopy(lp)
    by_subnet = {p["subnet"]: p for p in lp}
    for pool in dp:  # an unset gateway or ipRange is the engine's choice
        # (one pool each side: the live one's, as the shorthand has always been compared)
        match = lp[0] if len(dp) == len(lp) == 1 else by_subnet.get(pool["subnet"], {})
        for key in ("gateway", "ipRange"):
            if pool.get(key) is None:
                pool[key] = match.get(key)
    for side, pools in ((d, dp), (lv, lp)):
        # one pool on both sides: compared as the shorthand (the paths a plan has always
        # printed); else as a list in a fixed order (the engine reorders pools)
        if len(dp) <= 1 and len(lp) <= 1:
            one = pools[0] if pools else {}
            side.update({k: one.get(k) for k in ("subnet", "gateway", "ipRange")}, pools=[])
        else:
            side.update(subnet=None, gateway=None, ipRange=None, pools=sorted(pools, key=_order))
    return d, lv


def _pools(spec: dict[str, Any]) -> list[dict[str, Any]]:
    if spec.get("pools"):
        return [dict(p) for p in spec["pools"]]
    if spec.get("subnet") is None:
        return []
    return [{k: spec.get(k) for k in ("subnet", "gateway", "ipRange")}]


def _order(pool: dict[str, Any]) -> tuple[int, int, int]:
    net = ipaddress.ip_network(pool["subnet"], strict=False)
    return net.version, int(net.network_address), net.prefixlen


def node_pair(d: dict[str, Any], lv: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """A desired and a live Node spec in canonical form."""
    exclusive = bool(d.get("exclusiveLabels"))
    d, lv = copy.deepcopy(d), copy.deepcopy(lv)
    d.pop("exclusiveLabels", None)
    lv.pop("exclusiveLabels", None)
    for key in ("role", "availability"):
        if d.get(key) is None:
            d[key] = lv.get(key)
    if not exclusive:
        lv["labels"] = {k: v for k, v in lv["labels"].items() if k in d["labels"]}
    return d, lv
