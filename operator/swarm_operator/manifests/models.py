"""The manifest language: typed models of every kind (`Network`, `Service`, `Node`,
`Secret`, `Config`).

Owns what a manifest may say and what it means. Everything else speaks these types:
the loader (`manifests.loader`) turns YAML into them, the schema generator
(`manifests.schema`) turns them into the JSON Schemas in ``crds/``, each kind's module in
`kinds` reads the live Swarm into the same types, and the planner compares the two.

Every kind is a subclass of `Manifest` with a ``kind`` literal; defining the class is what
makes the loader know it (`models_by_kind`). The order objects are applied in, and all
that a kind does beyond its model, is the `kinds` registry's. Quantities and the base
model are `manifests.fields`'. Dumping a model with ``model_dump(mode="json",
by_alias=True)`` gives a manifest spec back; field names are camelCase on the outside
(the manifest) and snake_case inside.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
import shlex
from collections.abc import Mapping
from typing import Any, ClassVar, Literal, cast

from pydantic import (
    Field,
    PrivateAttr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from swarm_operator.manifests import blob_blocks, engine_rules
from swarm_operator.manifests.blob_blocks import (
    BlobSpec,
    ConfigReference,
    ConfigSpec,
    SecretReference,
    SecretSpec,
)
from swarm_operator.manifests.fields import (
    Count,
    Duration,
    Metadata,
    Model,
    StrMap,
)
from swarm_operator.manifests.service_blocks import (
    Healthcheck,
    Logging,
    Mount,
    NetworkAttachment,
    Placement,
    PortSpec,
    Privileges,
    Resources,
    RestartPolicy,
    RollbackConfig,
    Ulimit,
    UpdateConfig,
    VolumeOptions,
)

API_VERSION = "swarm-operator/v1alpha1"

# Annotations the operator reads on manifests (metadata.annotations). The labels it
# writes on live objects are `swarm.labels`'.
ANNOTATION_PREFIX = "swarm-operator/"
ANNOTATION_RECONCILE = "swarm-operator/reconcile"  # "disabled": report drift, do not correct
ANNOTATION_ADOPT = "swarm-operator/adopt"  # "true": take over an unlabelled live object
ANNOTATION_ALLOW_REPLACE = "swarm-operator/allow-replace"  # "true": networks may be recreated
VOLUME_KIND = "Volume"
"""The kind a service mount's source may name (`Service.link`)."""
OPERATOR_LABEL_PREFIX = "io.swarm-operator."
"""The labels the operator writes itself (`swarm.labels.PREFIX`, which the manifest
language may not import: a test checks the two agree). A manifest may not set them."""


def _swarm_name(value: Metadata) -> Metadata:
    problem = engine_rules.name_problem(value.name)
    if problem is not None:
        raise ValueError(problem)
    return value


def _no_operator_labels(value: dict[str, str]) -> dict[str, str]:
    for key in value:
        if key.startswith(OPERATOR_LABEL_PREFIX):
            raise ValueError(
                f"label {key!r} is in the operator's own namespace {OPERATOR_LABEL_PREFIX}*: "
                "the operator writes those labels itself"
            )
    return value


# --------------------------------------------------------------------------- Network


class ProbeSpec(Model):
    """Continuous cross-host reachability probing of a managed overlay network."""

    enabled: bool = True
    interval: Duration = Field(default=5_000_000_000, description="Time between probe rounds.")
    image: str | None = Field(default=None, description="Probe image; default: the operator's.")


class NetworkSpec(Model):
    driver: str = Field(
        default="overlay", min_length=1, description="Network driver, 'overlay' for Swarm."
    )
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
    external: bool = Field(
        default=False,
        description="Made elsewhere: must exist; never created, changed or pruned.",
    )

    @model_validator(mode="after")
    def _external_says_nothing_else(self) -> NetworkSpec:
        if not self.external:
            return self
        given = sorted(
            name
            for name, info in type(self).model_fields.items()
            if name not in ("external", "probe")
            and getattr(self, name) != info.get_default(call_default_factory=True)
        )
        if given:
            fields = ", ".join(type(self).model_fields[n].alias or n for n in given)
            raise ValueError(
                f"an external network is made elsewhere and only looked up by name: "
                f"remove {fields} (only probe may be set beside external)"
            )
        return self

    @field_validator("labels")
    @classmethod
    def _own_labels(cls, value: dict[str, str]) -> dict[str, str]:
        return _no_operator_labels(value)

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
    def _address(cls, value: str | None, info: ValidationInfo) -> str | None:
        # A field validator (not a model validator) so that errors point at `gateway`.
        if value is None:
            return None
        try:
            address = ipaddress.ip_address(value)
        except ValueError:
            raise ValueError(f"{value!r} is not an IP address") from None
        if "subnet" not in info.data:  # the subnet itself is invalid: reported there
            return str(address)
        subnet = info.data["subnet"]
        if subnet is None:
            raise ValueError("a gateway needs a subnet")
        net = ipaddress.ip_network(subnet)
        if address not in net:
            raise ValueError(f"gateway {address} is outside subnet {subnet}")
        if net.num_addresses > 2 and address in (net.network_address, net.broadcast_address):
            raise ValueError(
                f"gateway {address} is the network or broadcast address of subnet {subnet}"
            )
        return str(address)

    @field_validator("ip_range")
    @classmethod
    def _range_inside(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None or "subnet" not in info.data:
            return value
        subnet = info.data["subnet"]
        if subnet is None:
            raise ValueError("ipRange needs a subnet")
        net = ipaddress.ip_network(subnet)
        rng = ipaddress.ip_network(value)
        inside = rng.version == net.version and (
            rng.network_address in net and rng.broadcast_address in net
        )
        if not inside:
            raise ValueError(f"ipRange {value} is outside subnet {subnet}")
        return value


# --------------------------------------------------------------------------- Service


ServiceMode = Literal["replicated", "global", "replicated-job", "global-job"]
MIN_IMAGE_UPDATE_INTERVAL = 10_000_000_000
"""10 s: a registry is not asked about one tag more often than this."""


class ImageUpdate(Model):
    """Follow the digest of the service's image tag in its registry. The operator's own
    setting, not a Docker field: nothing of it is written to the Swarm."""

    policy: Literal["digest", "notify"] = Field(
        description="digest: roll the service onto the tag's new digest when the tag moves; "
        "notify: only report that it moved."
    )
    interval: Duration = Field(
        default=300_000_000_000,
        description="How often the daemon asks the registry (default 5m, at least 10s).",
    )

    @field_validator("interval")
    @classmethod
    def _not_too_often(cls, value: int) -> int:
        if value < MIN_IMAGE_UPDATE_INTERVAL:
            raise ValueError("interval must be at least 10s")
        return value


class ServiceSpec(Model):
    image: str = Field(min_length=1, description="Image reference, e.g. 10.77.0.1:5000/web:1.")
    command: list[str] | None = Field(default=None, description="Replaces the entrypoint.")
    args: list[str] | None = Field(default=None, description="Arguments to the command.")
    env: StrMap = Field(default_factory=dict, description="Environment variables.")
    mode: ServiceMode = "replicated"
    replicas: Count | None = Field(default=None, description="Default 1 when replicated.")
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
    secrets: list[SecretReference] = Field(
        default_factory=list, description="Secrets mounted in the tasks: a name or {source, ...}."
    )
    configs: list[ConfigReference] = Field(
        default_factory=list, description="Configs mounted in the tasks: a name or {source, ...}."
    )
    # The fields of compose that the engine keeps in TaskTemplate.ContainerSpec and
    # TaskTemplate.LogDriver (issue 12); README "ServiceSpec fields" maps every one.
    max_concurrent: Count | None = Field(
        default=None, description="replicated-job: tasks run at once (default: all replicas)."
    )
    logging: Logging | None = Field(default=None, description="Log driver of the tasks.")
    cap_add: list[str] = Field(default_factory=list, description="Capabilities to add.")
    cap_drop: list[str] = Field(default_factory=list, description="Capabilities to drop.")
    sysctls: StrMap = Field(default_factory=dict, description="Namespaced kernel parameters.")
    ulimits: dict[str, Ulimit | int] = Field(
        default_factory=dict, description="nofile: {soft, hard}, or one number for both."
    )
    read_only: bool = Field(default=False, description="Mount the root filesystem read-only.")
    groups: list[str] = Field(default_factory=list, description="Extra groups of the user.")
    tty: bool = Field(default=False, description="Allocate a pseudo-TTY.")
    stdin_open: bool = Field(default=False, description="Keep stdin open.")
    isolation: Literal["default", "process", "hyperv"] | None = Field(
        default=None, description="Isolation technology (Windows); unset: the engine's default."
    )
    privileges: Privileges | None = Field(
        default=None, description="Credential spec and SELinux context."
    )

    @field_validator("cap_add", "cap_drop")
    @classmethod
    def _capabilities(cls, value: list[str]) -> list[str]:
        # as the docker CLI normalises them (opts.CapabilitiesMap): upper case, CAP_ prefix
        out: list[str] = []
        for cap in value:
            name = cap.strip().upper()
            if not name or any(c.isspace() for c in name):
                raise ValueError(f"{cap!r} is not a capability name")
            if name != "ALL" and not name.startswith("CAP_"):
                name = "CAP_" + name
            problem = engine_rules.capability_problem(name)
            if problem is not None:
                raise ValueError(problem)
            if name not in out:
                out.append(name)
        return sorted(out)

    @field_validator("ulimits")
    @classmethod
    def _ulimit_numbers(cls, value: dict[str, Ulimit | int]) -> dict[str, Ulimit | int]:
        out: dict[str, Ulimit | int] = {}
        for name, limit in value.items():
            problem = engine_rules.ulimit_problem(name)
            if problem is not None:
                raise ValueError(problem)
            if isinstance(limit, int):  # one number: soft and hard
                limit = Ulimit(soft=limit, hard=limit)
            out[name] = limit
        return out

    @field_validator("sysctls")
    @classmethod
    def _sysctl_names(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            problem = engine_rules.sysctl_problem(name)
            if problem is not None:
                raise ValueError(problem)
        return value

    @field_validator("max_concurrent")
    @classmethod
    def _max_concurrent_jobs(cls, value: int | None, info: ValidationInfo) -> int | None:
        mode = info.data.get("mode")
        if value is not None and mode != "replicated-job":
            raise ValueError(f"maxConcurrent is only for mode replicated-job, not {mode!r}")
        return value

    image_update: ImageUpdate | None = Field(
        default=None, description="Follow the image tag's digest in its registry."
    )

    @field_validator("image_update")
    @classmethod
    def _a_tag_to_follow(
        cls, value: ImageUpdate | None, info: ValidationInfo
    ) -> ImageUpdate | None:
        image = str(info.data.get("image") or "")
        if value is not None and "@" in image:
            raise ValueError("imageUpdate needs an image by tag: one pinned by digest never moves")
        return value

    @field_validator("command", "args", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        # Split like a shell (and compose): "sh -c 'echo a b'" is three words, not five.
        if isinstance(value, str):
            try:
                return shlex.split(value)
            except ValueError as exc:
                raise ValueError(f"cannot split {value!r} into words: {exc}") from None
        return value

    @field_validator("image")
    @classmethod
    def _image_reference(cls, value: str) -> str:
        problem = engine_rules.image_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value

    @field_validator("labels")
    @classmethod
    def _own_labels(cls, value: dict[str, str]) -> dict[str, str]:
        return _no_operator_labels(value)

    @field_validator("mounts")
    @classmethod
    def _one_mount_per_target(cls, value: list[Mount]) -> list[Mount]:
        seen: set[str] = set()
        for mount in value:
            target = mount.target.rstrip("/") or "/"
            if target in seen:
                raise ValueError(f"two mounts on target {mount.target!r}")
            seen.add(target)
        return value

    @field_validator("update_config")
    @classmethod
    def _no_update_config_on_jobs(
        cls, value: UpdateConfig | None, info: ValidationInfo
    ) -> UpdateConfig | None:
        mode = info.data.get("mode")
        if value is not None and mode in ("replicated-job", "global-job"):
            raise ValueError(f"updateConfig cannot be set with mode {mode!r} (the engine refuses)")
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
            if not name or any(c.isspace() for c in name) or name.startswith("#"):
                raise ValueError(
                    f"hosts: {name!r} is not a host name (empty, or with a space or '#')"
                )
            try:
                ipaddress.ip_address(address)
            except ValueError:
                raise ValueError(f"hosts[{name!r}]: {address!r} is not an IP address") from None
        return value

    @field_validator("env")
    @classmethod
    def _env_names(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if not name or "=" in name:
                raise ValueError(f"{name!r} is not a valid environment variable name")
        return value

    @field_validator("secrets", "configs", mode="before")
    @classmethod
    def _reference_names(cls, value: Any) -> Any:
        return blob_blocks.short_form(value)

    @field_validator("secrets")
    @classmethod
    def _secrets_once(cls, value: list[SecretReference]) -> list[SecretReference]:
        return blob_blocks.one_per_target(value, "secrets")

    @field_validator("configs")
    @classmethod
    def _configs_once(cls, value: list[ConfigReference]) -> list[ConfigReference]:
        return blob_blocks.one_per_target(value, "configs")

    # The cross-field rules below are field validators on the later field (pydantic validates
    # fields in declaration order and passes the earlier ones in `info.data`), so that an
    # error points at the offending key rather than at the whole spec.

    @field_validator("replicas")
    @classmethod
    def _replicas_need_replicated_mode(cls, value: int | None, info: ValidationInfo) -> int | None:
        mode = info.data.get("mode")
        if value is not None and mode in ("global", "global-job"):
            raise ValueError(f"replicas cannot be set with mode {mode!r}")
        return value

    @field_validator("networks")
    @classmethod
    def _networks_once(cls, value: list[NetworkAttachment]) -> list[NetworkAttachment]:
        names = [n.name for n in value]
        for name in names:
            if names.count(name) > 1:
                raise ValueError(f"network {name!r} is listed twice")
        return value

    @field_validator("ports")
    @classmethod
    def _ports_once(cls, value: list[PortSpec]) -> list[PortSpec]:
        seen: set[tuple[int, str]] = set()
        for port in value:
            if port.published is None:
                continue
            key = (port.published, port.protocol)
            if key in seen:
                raise ValueError(f"port {port.published}/{port.protocol} is published twice")
            seen.add(key)
        return value

    @field_validator("endpoint_mode")
    @classmethod
    def _dnsrr_without_ingress(cls, value: str, info: ValidationInfo) -> str:
        ports: list[PortSpec] = info.data.get("ports") or []
        if value == "dnsrr" and any(p.mode == "ingress" for p in ports):
            raise ValueError(
                "endpointMode dnsrr cannot publish ports in ingress mode; use mode host"
            )
        return value

    @field_validator("placement")
    @classmethod
    def _max_per_node_replicated(
        cls, value: Placement | None, info: ValidationInfo
    ) -> Placement | None:
        mode = info.data.get("mode")
        if value is not None and value.max_replicas_per_node and mode in ("global", "global-job"):
            raise ValueError(f"maxReplicasPerNode cannot be set with mode {mode!r}")
        return value

    @model_validator(mode="after")
    def _default_replicas(self) -> ServiceSpec:
        if self.mode == "replicated" and self.replicas is None:
            object.__setattr__(self, "replicas", 1)
        return self


# --------------------------------------------------------------------------- Node


class NodeSpec(Model):
    role: Literal["manager", "worker"] | None = Field(default=None, description="Unset: keep.")
    availability: Literal["active", "pause", "drain"] | None = Field(
        default=None, description="Unset: keep."
    )
    labels: StrMap = Field(default_factory=dict, description="Node labels to enforce.")
    exclusive_labels: bool = Field(default=False, description="Remove node labels not listed here.")


# --------------------------------------------------------------------------- Volume


class VolumeSpec(Model):
    driver: str = Field(default="local", min_length=1, description="Volume driver.")
    driver_options: StrMap = Field(
        default_factory=dict, description="Options of the driver (local: type, o, device)."
    )
    labels: StrMap = Field(default_factory=dict, description="Labels of the volumes created.")

    @field_validator("labels")
    @classmethod
    def _own_labels(cls, value: dict[str, str]) -> dict[str, str]:
        return _no_operator_labels(value)


# --------------------------------------------------------------------------- envelopes

_MODELS: dict[str, type[Manifest]] = {}


class Manifest(Model):
    """Base of every kind's model: apiVersion, kind, metadata, spec.

    A subclass that sets ``kind`` to a literal is registered under that name when it is
    defined (`models_by_kind`); a second class with the same kind is a programming error.
    """

    api_version: Literal["swarm-operator/v1alpha1"] = Field(
        default="swarm-operator/v1alpha1", description="Always swarm-operator/v1alpha1."
    )
    metadata: Metadata
    kind: str
    spec: Model
    KIND: ClassVar[str] = ""
    """The kind's name, as a class attribute (``Service.KIND == "Service"``)."""
    DESCRIPTION: ClassVar[str] = ""
    """One sentence for the JSON Schema and the README's reference."""

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        kind = cls.model_fields["kind"].default
        if not isinstance(kind, str) or not kind:
            return
        if kind in _MODELS:
            raise TypeError(f"two models of kind {kind!r}: {_MODELS[kind]} and {cls}")
        cls.KIND = kind
        _MODELS[kind] = cls

    @property
    def name(self) -> str:
        return self.metadata.name

    @property
    def key(self) -> tuple[str, str]:
        """(kind, name): what identifies an object in the Swarm and in the work queue."""
        return (self.kind, self.metadata.name)

    def annotation(self, key: str) -> str | None:
        return self.metadata.annotations.get(key)

    def references(self) -> list[tuple[tuple[str | int, ...], str, str]]:
        """The objects of other kinds this one names: (place in the document, kind, name).
        `manifests.loader` checks that each is declared."""
        return []

    def link(
        self, declared: Mapping[tuple[str, str], Manifest], incomplete: bool = False
    ) -> tuple[Manifest, list[str]]:
        """This object with what other declared objects say filled in, and the problems
        (`manifests.links`, once a directory is loaded; ``incomplete``: a manifest failed to
        load, so ``declared`` may lack an object). Most kinds link nothing."""
        return self, []


def models_by_kind() -> dict[str, type[Manifest]]:
    """Every kind's model, in the order the classes are defined."""
    return dict(_MODELS)


class Network(Manifest):
    """An overlay (or other driver) network of the Swarm."""

    DESCRIPTION = "A Docker network (an overlay by default) that swarm-operator keeps as declared."
    kind: Literal["Network"] = "Network"
    spec: NetworkSpec = Field(default_factory=NetworkSpec)

    @field_validator("metadata")
    @classmethod
    def _name(cls, value: Metadata) -> Metadata:
        return _swarm_name(value)


class Service(Manifest):
    """A Swarm service."""

    DESCRIPTION = "A Swarm service that swarm-operator keeps as declared."
    kind: Literal["Service"] = "Service"
    spec: ServiceSpec

    def link(
        self, declared: Mapping[tuple[str, str], Manifest], incomplete: bool = False
    ) -> tuple[Manifest, list[str]]:
        """A mount of ``type: volume`` whose source names a declared `Volume` carries its
        driver, driver options and labels (the mount's own labels win), as ``docker stack
        deploy`` writes a stack's volumes. A named volume that no manifest declares is
        left as it is: each node's engine creates a ``local`` volume of that name; but not
        while a manifest failed to load (``incomplete``): its Volume may be in it."""
        mounts: list[Mount] = []
        problems: list[str] = []
        for index, mount in enumerate(self.spec.mounts):
            found = declared.get((VOLUME_KIND, mount.source or ""))
            if mount.type == "volume" and mount.source and found is None and incomplete:
                problems.append(
                    f"spec.mounts[{index}]: volume {mount.source!r} is declared by no manifest "
                    "that loaded, and a manifest failed to load (it may declare it): left as "
                    "it is until every manifest loads"
                )
                continue
            if mount.type != "volume" or found is None:
                mounts.append(mount)
                continue
            volume = cast("Volume", found).spec
            own = mount.volume_options or VolumeOptions()
            if own.driver or own.driver_options:
                problems.append(
                    f"spec.mounts[{index}].volumeOptions: volume {mount.source!r} is declared "
                    "by a Volume manifest; set its driver and driverOptions there, not on the "
                    "mount"
                )
                continue
            options = own.model_copy(
                update={
                    "driver": volume.driver,
                    "driver_options": dict(volume.driver_options),
                    "labels": {**volume.labels, **own.labels},
                }
            )
            mounts.append(mount.model_copy(update={"volume_options": options}))
        if problems or mounts == list(self.spec.mounts):
            return self, problems
        spec = self.spec.model_copy(update={"mounts": mounts})
        return self.model_copy(update={"spec": spec}), []

    @field_validator("metadata")
    @classmethod
    def _name(cls, value: Metadata) -> Metadata:
        return _swarm_name(value)

    def references(self) -> list[tuple[tuple[str | int, ...], str, str]]:
        secrets = enumerate(self.spec.secrets)
        configs = enumerate(self.spec.configs)
        return [
            *((("spec", "secrets", i), "Secret", r.source) for i, r in secrets),
            *((("spec", "configs", i), "Config", r.source) for i, r in configs),
        ]


class Node(Manifest):
    """A Swarm node; metadata.name is the node's hostname."""

    DESCRIPTION = "A Swarm node (metadata.name is its hostname): role, availability and labels."
    kind: Literal["Node"] = "Node"
    spec: NodeSpec = Field(default_factory=NodeSpec)

    @field_validator("metadata")
    @classmethod
    def _hostname(cls, value: Metadata) -> Metadata:
        if not re.fullmatch(r"[a-zA-Z0-9]([a-zA-Z0-9.-]*[a-zA-Z0-9])?", value.name):
            raise ValueError(f"{value.name!r} is not a valid hostname")
        return value


class BlobManifest(Manifest):
    """A Secret or a Config: immutable in Swarm, so versioned by its content.

    The content is read by `manifests.content` when the file is loaded and kept in a
    private attribute: never dumped, never in the JSON Schema, never in a repr.
    """

    spec: BlobSpec
    _content: bytes | None = PrivateAttr(default=None)
    _content_file: str | None = PrivateAttr(default=None)
    _content_sha256: bytes | None = PrivateAttr(default=None)

    @property
    def external(self) -> bool:
        return self.spec.external

    def with_content(self, data: bytes, file: str | None = None) -> None:
        """Keep the content (read by `manifests.content`), and the file it came from."""
        self._content = data
        self._content_file = file
        self._content_sha256 = hashlib.sha256(data).digest()  # with it: equality unchanged

    @property
    def content_sha256(self) -> bytes:
        """The sha256 digest of the content, computed once when it is read (a plan asks
        for it once per service mounting it): never shown, and for a Secret never written
        anywhere."""
        if self._content_sha256 is None:
            raise ValueError(f"{self.kind} {self.name}: its content was not loaded")
        return self._content_sha256

    @property
    def content_file(self) -> str | None:
        """The file the content was read from (None: env, data or external)."""
        return self._content_file

    @property
    def content(self) -> bytes:
        if self._content is None:
            raise ValueError(f"{self.kind} {self.name}: its content was not loaded")
        return self._content

    @field_validator("metadata")
    @classmethod
    def _name(cls, value: Metadata) -> Metadata:
        return _swarm_name(value)


class Secret(BlobManifest):
    """A Swarm secret, one engine object per version of its content."""

    # A version's name says nothing of the content (<name>-<random hex>): which version
    # holds it is told by a salted fingerprint (kinds.fingerprint) among the live ones.

    DESCRIPTION = (
        "A Swarm secret; a change of its content is a new version (<name>-<random hex>) "
        "that the services using it roll onto."
    )
    kind: Literal["Secret"] = "Secret"
    spec: SecretSpec


class Config(BlobManifest):
    """A Swarm config, one engine object per version of its content."""

    # Not secret: a version is named by the sha256 of its content (engine_name).

    DESCRIPTION = (
        "A Swarm config; a change of its content is a new version (<name>-<hash>) that the "
        "services using it roll onto."
    )
    kind: Literal["Config"] = "Config"
    spec: ConfigSpec

    @property
    def content_hash(self) -> str:
        """The first hex digits of the content's sha256."""
        return self.content_sha256.hex()[: blob_blocks.HASH_LENGTH]

    @property
    def engine_name(self) -> str:
        """The engine object of this content: ``<name>-<hash>``, or the name if external."""
        return self.name if self.external else f"{self.name}-{self.content_hash}"


class Volume(Manifest):
    """A named volume: the driver and options that every service mount of it carries."""

    DESCRIPTION = (
        "A named volume: the driver and options every service mount of it carries; each "
        "node creates it when a task first mounts it."
    )
    kind: Literal["Volume"] = "Volume"
    spec: VolumeSpec = Field(
        default_factory=VolumeSpec,
        description="Not a Swarm object: the mounts of it carry these (Service.link).",
    )

    @field_validator("metadata")
    @classmethod
    def _name(cls, value: Metadata) -> Metadata:
        if not re.fullmatch(r"[a-zA-Z0-9][a-zA-Z0-9_.-]+", value.name):
            raise ValueError(
                f"{value.name!r} is not a valid volume name: at least two characters, letters, "
                "digits, '_', '.' or '-', starting with a letter or digit"
            )
        return value
