"""A counting in-memory stand-in for our own `SwarmClient` interface (not for docker).

Pure unit tests of the executor, the converge loop and the daemon's reconciler use it:
it keeps services, networks and nodes as the Engine API's dicts, counts every call, and
raises the errors `swarm.errors.classify` makes of Docker's answers. The same paths run
against real engines in the lab tests.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

from engine_helpers import fixture

from swarm_operator.engine.converge import apply_plan
from swarm_operator.engine.live import build_state
from swarm_operator.engine.plan import PlanOptions, plan
from swarm_operator.manifests.models import Manifest
from swarm_operator.swarm.client import Distribution
from swarm_operator.swarm.errors import classify

NOW = "2026-01-01T00:00:00.000000000Z"
DIGEST = "sha256:" + "d" * 64
"""What the stand-in's registry answers for every tag."""


class CountingSwarm:
    """The `SwarmClient` calls the executor and the daemon use, on dicts, counted."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self._services: dict[str, dict[str, Any]] = {}
        self._networks: dict[str, dict[str, Any]] = {}
        self._blobs: dict[str, dict[str, Any]] = {}
        """Secrets and configs (metadata only, as the engine lists them)."""
        self._nodes = fixture("nodes")
        self._serial = 0
        self.fail_next_create: str | None = None
        self.fail_creates: list[str] = []
        """Docker's message for each of the next create_service calls (HTTP 404)."""
        self.fail_updates: list[tuple[str, int]] = []
        """(Docker's message, HTTP status) for each of the next update_service calls."""
        self.negotiated_api_version: str | None = None
        """The engine's API version, as the real door learns it from its first read."""
        self.extra_slots: dict[str, int] = {}
        """Service name -> slots kept running beyond its replicas: a scale-down the
        engine's orchestrator missed, until the service's next update (a change event)."""

    def _id(self, prefix: str) -> str:
        self._serial += 1
        return f"{prefix}{self._serial:020d}"

    # reads
    def services(self, filters: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        self.calls["services"] += 1
        name = (filters or {}).get("name")
        return [s for s in self._services.values() if name is None or s["Spec"]["Name"] == name]

    def inspect_service(self, service: str) -> dict[str, Any]:
        self.calls["inspect_service"] += 1
        return next(s for s in self._services.values() if service in (s["ID"], s["Spec"]["Name"]))

    def networks(self, filters: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        self.calls["networks"] += 1
        return list(self._networks.values())

    def secrets(self, filters: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        self.calls["secrets"] += 1
        return [b for b in self._blobs.values() if b["kind"] == "secret"]

    def configs(self, filters: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        self.calls["configs"] += 1
        return [b for b in self._blobs.values() if b["kind"] == "config"]

    def _create_blob(self, kind: str, name: str, labels: Mapping[str, str]) -> str:
        self.calls[f"create_{kind}"] += 1
        self._serial += 1
        bid = self._id(kind[0])
        self._blobs[bid] = {
            "kind": kind,
            "ID": bid,
            "Version": {"Index": self._serial},
            "Spec": {"Name": name, "Labels": dict(labels)},
        }
        return bid

    def create_secret(self, name: str, data: bytes, labels: Mapping[str, str]) -> str:
        return self._create_blob("secret", name, labels)

    def create_config(self, name: str, data: bytes, labels: Mapping[str, str]) -> str:
        return self._create_blob("config", name, labels)

    def relabel_secret(self, secret_id: str, labels: Mapping[str, str]) -> None:
        self.calls["relabel_secret"] += 1
        self._blobs[secret_id]["Spec"]["Labels"] = dict(labels)

    def relabel_config(self, config_id: str, labels: Mapping[str, str]) -> None:
        self.calls["relabel_config"] += 1
        self._blobs[config_id]["Spec"]["Labels"] = dict(labels)

    def remove_secret(self, secret_id: str) -> None:
        self.calls["remove_secret"] += 1
        del self._blobs[secret_id]

    def remove_config(self, config_id: str) -> None:
        self.calls["remove_config"] += 1
        del self._blobs[config_id]

    def nodes(self, filters: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        self.calls["nodes"] += 1
        return list(self._nodes)

    def tasks(self, filters: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        self.calls["tasks"] += 1
        wanted = (filters or {}).get("service")
        out = []
        for s in self._services.values():
            if wanted not in (None, s["ID"]):
                continue
            replicas = s["Spec"]["Mode"]["Replicated"]["Replicas"]
            replicas += self.extra_slots.get(s["Spec"]["Name"], 0)
            out.extend(
                {
                    "ID": f"t{s['ID']}{i}",
                    "ServiceID": s["ID"],
                    "Slot": i + 1,
                    "DesiredState": "running",
                    "CreatedAt": NOW,
                    "Status": {"State": "running"},
                }
                for i in range(replicas)
            )
        return out

    def image_distribution(self, image: str) -> Distribution:
        """The registry's answer for every image (one digest, one architecture, as the
        lab's)."""
        self.calls["image_distribution"] += 1
        return Distribution(DIGEST, [{"Architecture": "amd64", "OS": "linux"}])

    # writes
    def create_network(self, spec: dict[str, Any]) -> str:
        self.calls["create_network"] += 1
        nid = self._id("n")
        self._networks[nid] = {**spec, "Id": nid}
        return nid

    def create_service(self, spec: dict[str, Any]) -> str:
        self.calls["create_service"] += 1
        if self.fail_next_create is not None:
            message, self.fail_next_create = self.fail_next_create, None
            raise classify(message, 400)
        if self.fail_creates:
            raise classify(self.fail_creates.pop(0), 404)
        for attachment in (spec.get("TaskTemplate") or {}).get("Networks") or []:
            if attachment["Target"] not in self._networks:
                raise classify(f"network {attachment['Target']} not found", 404)
        sid = self._id("s")
        self._services[sid] = {"ID": sid, "Version": {"Index": 1}, "Spec": spec}
        return sid

    def update_service(self, service_id: str, version: int, spec: dict[str, Any]) -> dict[str, Any]:
        self.calls["update_service"] += 1
        if self.fail_updates:
            message, status = self.fail_updates.pop(0)
            raise classify(message, status)
        current = self._services[service_id]
        if current["Version"]["Index"] != version:
            raise classify("update out of sequence", 500)
        current["Spec"] = spec
        current["Version"] = {"Index": version + 1}
        self.extra_slots.pop(spec["Name"], None)
        return {}

    def remove_service(self, service_id: str) -> None:
        self.calls["remove_service"] += 1
        if self._services.pop(service_id, None) is None:
            raise classify(f"service {service_id} not found", 404)

    def inspect_network(self, network: str) -> dict[str, Any]:
        self.calls["inspect_network"] += 1
        for body in self._networks.values():
            if network in (body["Id"], body["Name"]):
                return body
        raise classify(f"network {network} not found", 404)

    def remove_network(self, network_id: str) -> None:
        self.calls["remove_network"] += 1
        if self._networks.pop(network_id, None) is None:
            raise classify(f"network {network_id} not found", 404)

    # by hand, as an operator of the Swarm would
    def service(self, name: str) -> dict[str, Any]:
        return next(s for s in self._services.values() if s["Spec"]["Name"] == name)

    def edit(self, name: str, change: Any) -> None:
        """Someone changes service ``name`` by hand: ``change(spec)``, a new version."""
        raw = self.service(name)
        change(raw["Spec"])
        raw["Version"] = {"Index": raw["Version"]["Index"] + 1}

    def replace_network(self, name: str) -> None:
        """Someone else removed and recreated ``name``: same name, new ID."""
        old = next(k for k, v in self._networks.items() if v["Name"] == name)
        body = self._networks.pop(old)
        nid = self._id("n")
        self._networks[nid] = {**body, "Id": nid}

    def adopt(self, manifests: list[Manifest]) -> None:
        """The Swarm as if these manifests had been applied."""
        the_plan = plan(manifests, build_state({"Node": self._nodes}), PlanOptions())
        apply_plan(self, manifests, PlanOptions(), the_plan)  # type: ignore[arg-type]
        self.calls.clear()
