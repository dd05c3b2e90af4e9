"""Normalisation: bring a desired and a live spec to one canonical form before diffing.

Owns every rule that makes two specs that mean the same thing compare equal, so the
planner never reports false drift. Works on the manifest's JSON form
(``model_dump(mode="json", by_alias=True)``: camelCase keys, canonical units), so
differences read in the manifest's own words (``spec.updateConfig.parallelism``).

Rules (each one a fact about the engine, see LAB.md and the fixtures in tests/):
- unset update/rollback/restart blocks and unset fields in them = the engine's defaults;
- ``init`` unset = false; ``stopGracePeriod`` unset = 10s; empty command/args = unset;
- empty placement/resources blocks = unset; ``maxReplicasPerNode`` 0 = unset;
- list order that carries no meaning is sorted: ports, networks (and their aliases),
  mounts, placement constraints, DNS options; env, labels and hosts are maps already;
- network driver options the engine never reports back (the overlay's vxlanid_list) are
  not compared;
- a digest-pinned live image equals the requested reference it pins (``img:1@sha256:..``
  equals ``img:1``);
- networks: a subnet/gateway/ipRange the manifest leaves unset is whatever IPAM chose;
  ``probe`` is operator configuration, not Docker's, and is never compared;
- nodes: unset role/availability = keep the live one; only listed labels are compared
  unless ``exclusiveLabels``.
Labels the operator itself writes (``io.swarm-operator.*``) are dropped by `live.py`.
"""

from __future__ import annotations

import copy
from typing import Any

from swarm_operator.models import Manifest, Network, Node, Service

UPDATE_DEFAULTS: dict[str, Any] = {
    "parallelism": 1,
    "delay": "0s",
    "failureAction": "pause",
    "monitor": "5s",
    "maxFailureRatio": 0.0,
    "order": "stop-first",
}
RESTART_DEFAULTS: dict[str, Any] = {
    "condition": "any",
    "delay": "5s",
    "maxAttempts": 0,
    "window": "0s",
}
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
    out = {k: v for k, v in block.items() if v not in (None, "0", 0)}
    return out or None


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
    }
    empty = not placement["constraints"] and not placement["preferences"]
    s["placement"] = None if empty and placement["maxReplicasPerNode"] is None else placement
    res = s.get("resources") or {}
    res = {"limits": _amounts(res.get("limits")), "reservations": _amounts(res.get("reservations"))}
    s["resources"] = None if res == {"limits": None, "reservations": None} else res
    hc = s.get("healthcheck")
    if hc is not None and all(v is None for v in hc.values()):
        s["healthcheck"] = None
    s["ports"] = sorted(
        s.get("ports") or [],
        key=lambda p: (p["target"], p["protocol"], p.get("published") or 0, p["mode"]),
    )
    s["networks"] = sorted(
        ({"name": n["name"], "aliases": sorted(n.get("aliases") or [])} for n in s["networks"]),
        key=lambda n: n["name"],
    )
    s["mounts"] = sorted(s.get("mounts") or [], key=lambda m: m["target"])
    # resolv.conf options are a set to the resolver; nameservers and search are ordered
    s["dnsOptions"] = sorted(s.get("dnsOptions") or [])
    return s


ENGINE_NETWORK_OPTIONS = frozenset({"com.docker.network.driver.overlay.vxlanid_list"})
"""Driver options the engine accepts at create and never reports back: not compared
(else a network that sets one would plan a replace on every run)."""


def network(spec: dict[str, Any]) -> dict[str, Any]:
    s = copy.deepcopy(spec)
    s.pop("probe", None)
    s["options"] = {
        k: v for k, v in (s.get("options") or {}).items() if k not in ENGINE_NETWORK_OPTIONS
    }
    return s


def node(spec: dict[str, Any]) -> dict[str, Any]:
    s = copy.deepcopy(spec)
    s.pop("exclusiveLabels", None)
    return s


def _image_equal(desired: str, live: str) -> bool:
    return live == desired or ("@" not in desired and live.split("@", 1)[0] == desired)


def comparable(desired: Manifest, live: Manifest) -> tuple[dict[str, Any], dict[str, Any]]:
    """Both specs of one object in canonical form, with pair-dependent rules applied."""
    d = desired.spec.model_dump(mode="json", by_alias=True)
    lv = live.spec.model_dump(mode="json", by_alias=True)
    if isinstance(desired, Service) and isinstance(live, Service):
        d, lv = service(d), service(lv)
        if _image_equal(d["image"], lv["image"]):
            lv["image"] = d["image"]
    elif isinstance(desired, Network) and isinstance(live, Network):
        d, lv = network(d), network(lv)
        if d.get("subnet") is None:
            for key in ("subnet", "gateway", "ipRange"):
                d[key] = lv.get(key)
        else:
            for key in ("gateway", "ipRange"):
                if d.get(key) is None:
                    d[key] = lv.get(key)
    elif isinstance(desired, Node) and isinstance(live, Node):
        exclusive = desired.spec.exclusive_labels
        d, lv = node(d), node(lv)
        for key in ("role", "availability"):
            if d.get(key) is None:
                d[key] = lv.get(key)
        if not exclusive:
            lv["labels"] = {k: v for k, v in lv["labels"].items() if k in d["labels"]}
    else:
        raise TypeError(f"cannot compare {desired.kind} with {live.kind}")
    return d, lv
