"""The manifest language: typed models of the `Network`, `Service` and `Node` kinds.

Owns what a manifest may say and what it means. Everything else speaks these types:
the loader (`loader.py`) turns YAML into them, the schema generator (`schema.py`) turns
them into the JSON Schemas in ``crds/``, the engine reads the live Swarm into the same
types and the planner compares the two.

Quantities are stored canonically so that two spellings of one value are equal:
durations as integer nanoseconds (written ``"1m30s"``), sizes as integer bytes
(written ``"512M"``), CPU amounts as nano-CPUs (written ``"0.5"``). Dumping a model
with ``model_dump(mode="json", by_alias=True)`` gives a manifest spec back.

Field names are camelCase on the outside (the manifest) and snake_case inside.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Any, Literal, TypeAlias

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from swarm_operator import units

API_VERSION = "swarm-operator/v1alpha1"
KINDS: tuple[str, ...] = ("Network", "Service", "Node")
"""Every kind, in the order objects are applied: networks before the services using them."""

# Annotations and labels the operator reads or writes (metadata.annotations on manifests,
# labels on live objects).
ANNOTATION_PREFIX = "swarm-operator/"
ANNOTATION_RECONCILE = "swarm-operator/reconcile"  # "disabled": report drift, do not correct
ANNOTATION_ADOPT = "swarm-operator/adopt"  # "true": take over an unlabelled live object
ANNOTATION_ALLOW_REPLACE = "swarm-operator/allow-replace"  # "true": networks may be recreated
ANNOTATION_PROTECT = "swarm-operator/protect"  # "true" on a live object: never pruned


def _duration(value: Any) -> Any:
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return units.parse_duration(value)
    return value


def _bytes(value: Any) -> Any:
    if isinstance(value, str | int) and not isinstance(value, bool):
        return units.parse_bytes(value)
    return value


def _cpus(value: Any) -> Any:
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return units.parse_cpus(value)
    return value


Duration = Annotated[
    int,
    BeforeValidator(_duration),
    Field(ge=0),
    PlainSerializer(units.format_duration, return_type=str),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^(0|(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+)$",
            "description": "A duration such as '10s', '1m30s' or '500ms'.",
        }
    ),
]
"""Nanoseconds inside, ``"1m30s"`` outside."""

ByteSize = Annotated[
    int,
    BeforeValidator(_bytes),
    Field(ge=0),
    PlainSerializer(units.format_bytes, return_type=str),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": r"^\d+(\.\d+)?\s*([bBkKmMgGtT]([iI]?[bB])?)?$"},
                {"type": "integer", "minimum": 0},
            ],
            "description": "A size in bytes, or with a binary unit: '512M', '1G'.",
        }
    ),
]
"""Bytes inside, ``"512M"`` outside."""

Cpus = Annotated[
    int,
    BeforeValidator(_cpus),
    Field(ge=0),
    PlainSerializer(units.format_cpus, return_type=str),
    WithJsonSchema(
        {
            "anyOf": [{"type": "number", "minimum": 0}, {"type": "string"}],
            "description": "A number of CPUs such as 0.5 or 2.",
        }
    ),
]
"""Nano-CPUs inside, ``"0.5"`` outside."""


def _stringify(value: Any) -> Any:
    """Env values and labels written as YAML numbers or booleans become their text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return value


ScalarText = Annotated[str, BeforeValidator(_stringify)]
StrMap: TypeAlias = dict[str, ScalarText]

NAME_PATTERN = r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$"
Port = Annotated[int, Field(ge=1, le=65535)]


class Model(BaseModel):
    """Base of every manifest model: camelCase outside, unknown fields refused."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        str_strip_whitespace=False,
    )


class Metadata(Model):
    name: str = Field(pattern=NAME_PATTERN, description="The object's name in the Swarm.")
    labels: StrMap = Field(default_factory=dict, description="Labels of the manifest itself.")
    annotations: StrMap = Field(
        default_factory=dict,
        description="Instructions to the operator, e.g. swarm-operator/reconcile: disabled.",
    )


# --------------------------------------------------------------------------- Network


class ProbeSpec(Model):
    """Continuous cross-host reachability probing of a managed overlay network."""

    enabled: bool = True
    interval: Duration = Field(default=5_000_000_000, description="Time between probe rounds.")
    image: str | None = Field(default=None, description="Probe image; default: the operator's.")


class NetworkSpec(Model):
    driver: str = Field(default="overlay", description="Network driver, 'overlay' for Swarm.")
    subnet: str | None = Field(default=None, description="Subnet in CIDR form, 10.10.0.0/24.")
    gateway: str | None = Field(default=None, description="Gateway address inside the subnet.")
    ip_range: str | None = Field(default=None, description="Sub-range of the subnet for tasks.")
    attachable: bool = Field(default=False, description="Standalone containers may attach.")
    internal: bool = Field(default=False, description="No access to the outside network.")
    encrypted: bool = Field(default=False, description="IPsec-encrypt the VXLAN data path.")
    mtu: int | None = Field(default=None, ge=68, le=65535, description="MTU of the overlay.")
    ipv6: bool = Field(default=False, description="Enable IPv6 on the network.")
    options: StrMap = Field(default_factory=dict, description="Driver options.")
    labels: StrMap = Field(default_factory=dict, description="Labels of the Docker network.")
    probe: ProbeSpec | None = Field(
        default=None, description="Reachability probing; on by default for overlay networks."
    )

    @field_validator("subnet", "ip_range")
    @classmethod
    def _cidr(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return str(ipaddress.ip_network(value, strict=True))
        except ValueError as exc:
            raise ValueError(
                f"{value!r} is not a network in CIDR form (e.g. 10.10.0.0/24): {exc}"
            ) from None

    @field_validator("gateway")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return str(ipaddress.ip_address(value))
        except ValueError:
            raise ValueError(f"{value!r} is not an IP address") from None

    @model_validator(mode="after")
    def _inside_subnet(self) -> NetworkSpec:
        if self.subnet is None:
            if self.gateway is not None or self.ip_range is not None:
                raise ValueError("gateway and ipRange need a subnet")
            return self
        net = ipaddress.ip_network(self.subnet)
        if self.gateway is not None and ipaddress.ip_address(self.gateway) not in net:
            raise ValueError(f"gateway {self.gateway} is outside subnet {self.subnet}")
        if self.ip_range is not None:
            rng = ipaddress.ip_network(self.ip_range)
            inside = rng.version == net.version and (
                rng.network_address in net and rng.broadcast_address in net
            )
            if not inside:
                raise ValueError(f"ipRange {self.ip_range} is outside subnet {self.subnet}")
        return self


# --------------------------------------------------------------------------- Service


class NetworkAttachment(Model):
    name: str = Field(description="Name of the network to attach to.")
    aliases: list[str] = Field(default_factory=list, description="Extra DNS names on it.")


class PortSpec(Model):
    target: Port = Field(description="Port inside the container.")
    published: Port | None = Field(default=None, description="Port on the hosts.")
    protocol: Literal["tcp", "udp", "sctp"] = "tcp"
    mode: Literal["ingress", "host"] = Field(
        default="ingress", description="ingress: routing mesh; host: only where a task runs."
    )


class SpreadPreference(Model):
    spread: str = Field(description="Node label to spread over, e.g. node.labels.zone.")


class Placement(Model):
    constraints: list[str] = Field(default_factory=list, description="e.g. node.role==worker.")
    preferences: list[SpreadPreference] = Field(default_factory=list)
    max_replicas_per_node: int | None = Field(default=None, ge=0)


class ResourceAmounts(Model):
    cpus: Cpus | None = None
    memory: ByteSize | None = None


class Resources(Model):
    limits: ResourceAmounts | None = None
    reservations: ResourceAmounts | None = None


class UpdateConfig(Model):
    parallelism: int | None = Field(default=None, ge=0)
    delay: Duration | None = None
    failure_action: Literal["pause", "continue", "rollback"] | None = None
    monitor: Duration | None = None
    max_failure_ratio: float | None = Field(default=None, ge=0, le=1)
    order: Literal["stop-first", "start-first"] | None = None


class RollbackConfig(UpdateConfig):
    failure_action: Literal["pause", "continue"] | None = None


class RestartPolicy(Model):
    condition: Literal["none", "on-failure", "any"] | None = None
    delay: Duration | None = None
    max_attempts: int | None = Field(default=None, ge=0)
    window: Duration | None = None


class Healthcheck(Model):
    test: list[str] | None = Field(
        default=None, description="['CMD', ...], ['CMD-SHELL', '...'] or ['NONE'] to disable."
    )
    interval: Duration | None = None
    timeout: Duration | None = None
    retries: int | None = Field(default=None, ge=0)
    start_period: Duration | None = None

    @field_validator("test", mode="before")
    @classmethod
    def _shell_form(cls, value: Any) -> Any:
        if isinstance(value, str):
            return ["CMD-SHELL", value]
        return value


class Mount(Model):
    type: Literal["volume", "bind", "tmpfs"] = "volume"
    source: str | None = Field(default=None, description="Volume name or host path.")
    target: str = Field(description="Path inside the container.")
    read_only: bool = False

    @model_validator(mode="after")
    def _source(self) -> Mount:
        if self.type == "bind" and not self.source:
            raise ValueError("a bind mount needs a source path")
        if self.type == "tmpfs" and self.source:
            raise ValueError("a tmpfs mount has no source")
        return self


ServiceMode = Literal["replicated", "global", "replicated-job", "global-job"]


class ServiceSpec(Model):
    image: str = Field(min_length=1, description="Image reference, e.g. 10.77.0.1:5000/web:1.")
    command: list[str] | None = Field(default=None, description="Replaces the entrypoint.")
    args: list[str] | None = Field(default=None, description="Arguments to the command.")
    env: StrMap = Field(default_factory=dict, description="Environment variables.")
    mode: ServiceMode = "replicated"
    replicas: int | None = Field(default=None, ge=0, description="Default 1 when replicated.")
    networks: list[NetworkAttachment] = Field(default_factory=list)
    ports: list[PortSpec] = Field(default_factory=list)
    endpoint_mode: Literal["vip", "dnsrr"] = "vip"
    placement: Placement | None = None
    resources: Resources | None = None
    update_config: UpdateConfig | None = None
    rollback_config: RollbackConfig | None = None
    restart_policy: RestartPolicy | None = None
    healthcheck: Healthcheck | None = None
    labels: StrMap = Field(default_factory=dict, description="Labels of the Swarm service.")
    container_labels: StrMap = Field(default_factory=dict, description="Labels of its tasks.")
    mounts: list[Mount] = Field(default_factory=list)
    user: str | None = None
    workdir: str | None = None
    hostname: str | None = None
    stop_grace_period: Duration | None = None
    stop_signal: str | None = None
    init: bool | None = None
    dns: list[str] = Field(default_factory=list, description="DNS servers of the tasks.")
    dns_search: list[str] = Field(default_factory=list)
    dns_options: list[str] = Field(default_factory=list)
    hosts: StrMap = Field(default_factory=dict, description="Extra /etc/hosts: name -> IP.")

    @field_validator("command", "args", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            return value.split()
        return value

    @field_validator("networks", mode="before")
    @classmethod
    def _network_names(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"name": item} if isinstance(item, str) else item for item in value]
        return value

    @field_validator("hosts")
    @classmethod
    def _host_addresses(cls, value: dict[str, str]) -> dict[str, str]:
        for name, address in value.items():
            try:
                ipaddress.ip_address(address)
            except ValueError:
                raise ValueError(f"hosts[{name!r}]: {address!r} is not an IP address") from None
        return value

    @model_validator(mode="after")
    def _mode_rules(self) -> ServiceSpec:
        if self.mode in ("global", "global-job") and self.replicas is not None:
            raise ValueError(f"replicas cannot be set with mode {self.mode!r}")
        if self.mode == "replicated" and self.replicas is None:
            object.__setattr__(self, "replicas", 1)
        if self.endpoint_mode == "dnsrr" and any(p.mode == "ingress" for p in self.ports):
            raise ValueError(
                "endpointMode dnsrr cannot publish ports in ingress mode; use mode host"
            )
        seen: set[tuple[int, str]] = set()
        for port in self.ports:
            if port.published is None:
                continue
            key = (port.published, port.protocol)
            if key in seen:
                raise ValueError(f"port {port.published}/{port.protocol} is published twice")
            seen.add(key)
        names = [n.name for n in self.networks]
        if len(names) != len(set(names)):
            raise ValueError("a network is listed twice")
        return self


# --------------------------------------------------------------------------- Node


class NodeSpec(Model):
    role: Literal["manager", "worker"] | None = Field(default=None, description="Unset: keep.")
    availability: Literal["active", "pause", "drain"] | None = Field(
        default=None, description="Unset: keep."
    )
    labels: StrMap = Field(default_factory=dict, description="Node labels to enforce.")
    exclusive_labels: bool = Field(default=False, description="Remove node labels not listed here.")


# --------------------------------------------------------------------------- envelopes


class _Manifest(Model):
    api_version: Literal["swarm-operator/v1alpha1"] = Field(
        default="swarm-operator/v1alpha1", description="Always swarm-operator/v1alpha1."
    )
    metadata: Metadata

    @property
    def name(self) -> str:
        return self.metadata.name

    @property
    def key(self) -> tuple[str, str]:
        """(kind, name): what identifies an object in the Swarm and in the work queue."""
        return (self.kind, self.metadata.name)  # type: ignore[attr-defined]

    def annotation(self, key: str) -> str | None:
        return self.metadata.annotations.get(key)


class Network(_Manifest):
    """An overlay (or other driver) network of the Swarm."""

    kind: Literal["Network"] = "Network"
    spec: NetworkSpec = Field(default_factory=NetworkSpec)


class Service(_Manifest):
    """A Swarm service."""

    kind: Literal["Service"] = "Service"
    spec: ServiceSpec


class Node(_Manifest):
    """A Swarm node; metadata.name is the node's hostname."""

    kind: Literal["Node"] = "Node"
    spec: NodeSpec = Field(default_factory=NodeSpec)

    @field_validator("metadata")
    @classmethod
    def _hostname(cls, value: Metadata) -> Metadata:
        if not re.fullmatch(r"[a-zA-Z0-9]([a-zA-Z0-9.-]*[a-zA-Z0-9])?", value.name):
            raise ValueError(f"{value.name!r} is not a valid hostname")
        return value


Manifest: TypeAlias = Network | Service | Node
MODEL_BY_KIND: dict[str, type[Network] | type[Service] | type[Node]] = {
    "Network": Network,
    "Service": Service,
    "Node": Node,
}
