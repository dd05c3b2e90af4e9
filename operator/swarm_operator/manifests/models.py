"""The manifest language: typed models of every kind (`Network`, `Service`, `Node`,
`Secret`, `Config`, `Volume`).

Owns what a manifest may say and what it means. Everything else speaks these types:
the loader (`manifests.loader`) turns YAML into them, the schema generator
(`manifests.schema`) turns them into the JSON Schemas in ``crds/``, each kind's module in
`kinds` reads the live Swarm into the same types, and the planner compares the two.

Every kind is a subclass of `Manifest` with a ``kind`` literal; defining the class is what
makes the loader know it (`models_by_kind`). The order objects are applied in, and all
that a kind does beyond its model, is the `kinds` registry's. Quantities, the base model
and the operator's label namespace are `manifests.fields`'; the service spec, the largest,
is `manifests.service_spec`' (its blocks `manifests.service_blocks`'). Dumping a model
with ``model_dump(mode="json", by_alias=True)`` gives a manifest spec back; field names
are camelCase on the outside (the manifest) and snake_case inside.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any, ClassVar, Literal, cast

from pydantic import (
    Field,
    PrivateAttr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from swarm_operator.manifests import blob_blocks, engine_rules, network_pools
from swarm_operator.manifests.blob_blocks import BlobSpec, ConfigSpec, SecretSpec
from swarm_operator.manifests.fields import (
    Duration,
    Metadata,
    Model,
    StrMap,
    no_operator_labels,
)
from swarm_operator.manifests.network_pools import Pool
from swarm_operator.manifests.service_blocks import Mount, VolumeOptions
from swarm_operator.manifests.service_spec import ServiceSpec

API_VERSION = "swarm-operator/v1alpha1"

# Annotations the operator reads on manifests (metadata.annotations). The labels it
# writes on live objects are `swarm.labels`'.
ANNOTATION_PREFIX = "swarm-operator/"
ANNOTATION_RECONCILE = "swarm-operator/reconcile"  # "disabled": report drift, do not correct
ANNOTATION_ADOPT = "swarm-operator/adopt"  # "true": take over an unlabelled live object
ANNOTATION_ALLOW_REPLACE = "swarm-operator/allow-replace"  # "true": networks may be recreated
VOLUME_KIND = "Volume"
"""The kind a service mount's source may name (`Service.link`)."""


def _swarm_name(value: Metadata) -> Metadata:
    problem = engine_rules.name_problem(value.name)
    if problem is not None:
        raise ValueError(problem)
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
    pools: list[Pool] = Field(
        default_factory=list,
        description="Several IPAM pools (e.g. an IPv4 and an IPv6 subnet); instead of subnet.",
    )
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
        return no_operator_labels(value)

    @field_validator("subnet", "ip_range")
    @classmethod
    def _cidr(cls, value: str | None) -> str | None:
        return network_pools.cidr(value)

    @field_validator("gateway")
    @classmethod
    def _address(cls, value: str | None, info: ValidationInfo) -> str | None:
        # A field validator (not a model validator) so that errors point at `gateway`.
        value = network_pools.address(value)
        if value is None or "subnet" not in info.data:  # a bad subnet is reported there
            return value
        subnet = info.data["subnet"]
        if subnet is None:
            raise ValueError("a gateway needs a subnet")
        problem = network_pools.gateway_problem(value, subnet)
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("ip_range")
    @classmethod
    def _range_inside(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None or "subnet" not in info.data:
            return value
        subnet = info.data["subnet"]
        if subnet is None:
            raise ValueError("ipRange needs a subnet")
        problem = network_pools.range_problem(value, subnet)
        if problem:
            raise ValueError(problem)
        return value

    @model_validator(mode="after")
    def _pools(self, info: ValidationInfo) -> NetworkSpec:
        if self.pools and self.subnet is not None:
            raise ValueError(
                "set either subnet (with gateway, ipRange: one pool) or pools, not both"
            )
        live = bool((info.context or {}).get("live"))
        problems = network_pools.pool_problems(self.ipam_pools(), self.ipv6, live)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def ipam_pools(self) -> list[Pool]:
        """The pools to create: ``pools``, or the shorthand's one pool, or none (IPAM picks)."""
        if self.pools:
            return list(self.pools)
        if self.subnet is None:
            return []
        return [Pool(subnet=self.subnet, gateway=self.gateway, ip_range=self.ip_range)]


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
        return no_operator_labels(value)


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
