"""The blocks a service spec is made of: network attachments, ports, placement, resources,
update and rollback policies, restart policy, healthcheck, mounts.

Owns what each block may say and the rules inside one block (a constraint's grammar,
a memory limit's minimum, a reservation within its limit, a healthcheck's form, a
mount's paths), as the engine checks them (`manifests.engine_rules`). Neighbours:
`manifests.service_spec.ServiceSpec` is built from these and holds the rules across blocks.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BeforeValidator,
    Field,
    PlainSerializer,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from swarm_operator.manifests import engine_rules, units
from swarm_operator.manifests.engine_rules import INT64_MAX
from swarm_operator.manifests.fields import (
    ByteSize,
    Count,
    Cpus,
    Duration,
    Model,
    Port,
    StrMap,
)


class NetworkAttachment(Model):
    name: str = Field(min_length=1, description="Name of the network to attach to.")
    aliases: list[str] = Field(default_factory=list, description="Extra DNS names on it.")
    driver_opts: StrMap = Field(
        default_factory=dict, description="Driver options of this attachment (the endpoint)."
    )


class PortSpec(Model):
    target: Port = Field(description="Port inside the container.")
    published: Port | None = Field(default=None, description="Port on the hosts.")
    protocol: Literal["tcp", "udp", "sctp"] = "tcp"
    mode: Literal["ingress", "host"] = Field(
        default="ingress", description="ingress: routing mesh; host: only where a task runs."
    )


class SpreadPreference(Model):
    spread: str = Field(description="Node label to spread over, e.g. node.labels.zone.")


class Platform(Model):
    architecture: str = Field(min_length=1, description="e.g. amd64, arm64.")
    os: str = Field(min_length=1, description="e.g. linux, windows.")


class Placement(Model):
    constraints: list[str] = Field(default_factory=list, description="e.g. node.role==worker.")
    preferences: list[SpreadPreference] = Field(default_factory=list)
    max_replicas_per_node: Count | None = None
    platforms: list[Platform] = Field(
        default_factory=list, description="Only nodes of one of these platforms run a task."
    )

    @field_validator("constraints")
    @classmethod
    def _constraint_syntax(cls, value: list[str]) -> list[str]:
        for constraint in value:  # as swarmkit parses them (manifests.engine_rules)
            problem = engine_rules.constraint_problem(constraint)
            if problem is not None:
                raise ValueError(problem)
        return value


class ResourceAmounts(Model):
    cpus: Cpus | None = None
    memory: ByteSize | None = None


class Limits(ResourceAmounts):
    pids: int | None = Field(
        default=None, ge=0, le=INT64_MAX, description="Most processes per task (0: unlimited)."
    )


class DiscreteResource(Model):
    kind: str = Field(min_length=1, description="Kind of resource, e.g. gpu.")
    value: int = Field(ge=0, le=INT64_MAX, description="How many a node must offer.")


class NamedResource(Model):
    kind: str = Field(min_length=1, description="Kind of resource, e.g. gpu.")
    value: str = Field(min_length=1, description="The resource's name, e.g. a GPU's UUID.")


class GenericResource(Model):
    """One of the two forms compose (and the engine) know: a count or a named resource."""

    discrete_resource_spec: DiscreteResource | None = Field(
        default=None, description="A count: {kind: gpu, value: 2}."
    )
    named_resource_spec: NamedResource | None = Field(
        default=None, description="A named resource: {kind: gpu, value: GPU-UUID}."
    )

    @model_validator(mode="after")
    def _one_form(self) -> GenericResource:
        if (self.discrete_resource_spec is None) == (self.named_resource_spec is None):
            raise ValueError("give exactly one of discreteResourceSpec, namedResourceSpec")
        return self


class Reservations(ResourceAmounts):
    generic_resources: list[GenericResource] = Field(
        default_factory=list,
        description="Resources a node advertises (dockerd node-generic-resources) and a task "
        "reserves.",
    )


MIN_MEMORY_LIMIT = engine_rules.MIN_MEMORY_LIMIT
"""Docker refuses a container memory limit below 6 MiB."""


class Resources(Model):
    limits: Limits | None = None
    reservations: Reservations | None = None

    @field_validator("limits")
    @classmethod
    def _min_memory(cls, value: ResourceAmounts | None) -> ResourceAmounts | None:
        if value is not None and value.memory and value.memory < MIN_MEMORY_LIMIT:
            raise ValueError(
                f"memory limit {units.format_bytes(value.memory)} is below Docker's minimum of 6M"
            )
        return value

    @field_validator("reservations")
    @classmethod
    def _min_reservation(cls, value: ResourceAmounts | None) -> ResourceAmounts | None:
        if value is not None and value.memory and value.memory < engine_rules.MIN_MEMORY_BYTES:
            raise ValueError(
                f"memory reservation {units.format_bytes(value.memory)} is below the engine's "
                "minimum of 4M"
            )
        return value

    @field_validator("reservations")
    @classmethod
    def _within_limits(
        cls, value: ResourceAmounts | None, info: ValidationInfo
    ) -> ResourceAmounts | None:
        limits: ResourceAmounts | None = info.data.get("limits")
        if value is None or limits is None:
            return value
        for name in ("cpus", "memory"):
            want, cap = getattr(value, name), getattr(limits, name)
            if want is not None and cap is not None and want > cap:
                text = units.format_cpus if name == "cpus" else units.format_bytes
                raise ValueError(
                    f"reservations.{name} {text(want)} is more than limits.{name} {text(cap)}"
                )
        return value


class UpdateConfig(Model):
    parallelism: Count | None = None
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
    max_attempts: Count | None = None
    window: Duration | None = None


class Healthcheck(Model):
    test: list[str] | None = Field(
        default=None, description="['CMD', ...], ['CMD-SHELL', '...'] or ['NONE'] to disable."
    )
    interval: Duration | None = None
    timeout: Duration | None = None
    retries: int | None = Field(default=None, ge=0, le=INT64_MAX)
    start_period: Duration | None = None

    @field_validator("interval", "timeout", "start_period")
    @classmethod
    def _at_least_a_millisecond(cls, value: int | None) -> int | None:
        if value and value < engine_rules.MIN_HEALTH_DURATION_NS:
            raise ValueError(
                f"{units.format_duration(value)} is below the engine's minimum of 1ms (0: default)"
            )
        return value

    @field_validator("test", mode="before")
    @classmethod
    def _shell_form(cls, value: Any) -> Any:
        if isinstance(value, str):
            return ["CMD-SHELL", value]
        return value

    @field_validator("test")
    @classmethod
    def _test_form(cls, value: list[str] | None) -> list[str] | None:
        if value == []:
            raise ValueError(
                "test is empty: leave it out to use the image's healthcheck, or write ['NONE']"
            )
        if value and value[0] not in ("CMD", "CMD-SHELL", "NONE"):
            raise ValueError(
                f"test must start with CMD, CMD-SHELL or NONE, got {value[0]!r} "
                "(or write the test as one string to run it with a shell)"
            )
        return value


def _octal(value: Any) -> Any:
    """A file mode as octal text (``"1777"``, ``"0o755"``) or a number (taken as is)."""
    if isinstance(value, str):
        text = value.strip().lower().removeprefix("0o")
        try:
            return int(text, 8)
        except ValueError:
            raise ValueError(f"{value!r} is not an octal file mode such as '0755'") from None
    return value


FileMode = Annotated[
    int,
    BeforeValidator(_octal),
    Field(ge=0, le=0o7777),
    PlainSerializer(lambda mode: f"0{mode:o}", return_type=str),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": r"^(0o?)?[0-7]{1,4}$"},
                {"type": "integer", "minimum": 0, "maximum": 4095},
            ],
            "description": "A file mode: octal text such as '1777', or a number.",
        }
    ),
]
"""A file mode: an integer inside, octal text (``"01777"``) outside."""


class VolumeOptions(Model):
    no_copy: bool = Field(
        default=False, description="Do not copy the image's files into a new empty volume."
    )
    labels: StrMap = Field(default_factory=dict, description="Labels of the volume created.")
    driver: str | None = Field(
        default=None,
        description="Volume driver for a volume no Volume manifest declares (a declared "
        "Volume's driver is filled in from it).",
    )
    driver_options: StrMap = Field(default_factory=dict, description="Options of that driver.")

    @model_validator(mode="after")
    def _options_need_driver(self) -> VolumeOptions:
        if self.driver_options and not self.driver:
            raise ValueError("driverOptions need a driver (e.g. driver: local)")
        return self


class BindOptions(Model):
    propagation: Literal["private", "rprivate", "shared", "rshared", "slave", "rslave"] = Field(
        description="Mount propagation of the bind mount."
    )


class TmpfsOptions(Model):
    size: ByteSize | None = Field(default=None, description="Size of the tmpfs, e.g. 64M.")
    mode: FileMode | None = Field(
        default=None, description="Mode of its root: octal text such as '1777', or a number."
    )


class Mount(Model):
    type: Literal["volume", "bind", "tmpfs"] = "volume"
    source: str | None = Field(default=None, description="Volume name or host path.")
    target: str = Field(description="Path inside the container.")
    read_only: bool = False
    volume_options: VolumeOptions | None = Field(
        default=None, description="Options of a volume mount."
    )
    bind: BindOptions | None = Field(default=None, description="Options of a bind mount.")
    tmpfs: TmpfsOptions | None = Field(default=None, description="Options of a tmpfs mount.")

    @model_validator(mode="after")
    def _source(self) -> Mount:
        if self.type == "bind" and not self.source:
            raise ValueError("a bind mount needs a source path")
        if self.type == "tmpfs" and self.source:
            raise ValueError("a tmpfs mount has no source")
        if not self.target.startswith("/"):
            raise ValueError(f"mount target {self.target!r} must be an absolute path")
        if self.type == "bind" and self.source and not self.source.startswith("/"):
            raise ValueError(f"bind mount source {self.source!r} must be an absolute path")
        for block, mount_type in (
            ("volume_options", "volume"),
            ("bind", "bind"),
            ("tmpfs", "tmpfs"),
        ):
            if getattr(self, block) is not None and self.type != mount_type:
                name = "volumeOptions" if block == "volume_options" else block
                raise ValueError(f"{name} is only for a mount of type {mount_type}")
        if self.source == "":  # the engine stores no source: "" is unset
            object.__setattr__(self, "source", None)
        return self


# --------------------------------------------------------------------------- container


class Logging(Model):
    driver: str = Field(min_length=1, description="Log driver, e.g. json-file, local, syslog.")
    options: StrMap = Field(default_factory=dict, description="Options of the log driver.")


class Ulimit(Model):
    soft: int = Field(ge=-1, le=INT64_MAX, description="Soft limit (-1: unlimited).")
    hard: int = Field(ge=-1, le=INT64_MAX, description="Hard limit (-1: unlimited).")

    @model_validator(mode="after")
    def _soft_within_hard(self) -> Ulimit:
        if self.hard != -1 and (self.soft == -1 or self.soft > self.hard):
            raise ValueError(f"soft limit {self.soft} is above the hard limit {self.hard}")
        return self


class CredentialSpec(Model):
    """Windows gMSA credential spec: exactly one of the three places."""

    file: str | None = Field(default=None, description="A file in the engine's CredentialSpecs.")
    registry: str | None = Field(default=None, description="A value in the Windows registry.")
    config: str | None = Field(default=None, description="A Swarm config's ID.")

    @model_validator(mode="after")
    def _exactly_one(self) -> CredentialSpec:
        given = [v for v in (self.file, self.registry, self.config) if v]
        if len(given) != 1:
            raise ValueError("give exactly one of file, registry, config")
        return self


class SELinuxContext(Model):
    disable: bool = Field(default=False, description="Disable SELinux labelling.")
    user: str | None = Field(default=None, description="SELinux user label.")
    role: str | None = Field(default=None, description="SELinux role label.")
    type: str | None = Field(default=None, description="SELinux type label.")
    level: str | None = Field(default=None, description="SELinux level label, e.g. s0:c1.")


class Privileges(Model):
    credential_spec: CredentialSpec | None = Field(
        default=None, description="Windows gMSA credential spec (compose credential_spec)."
    )
    se_linux_context: SELinuxContext | None = Field(
        default=None, alias="seLinuxContext", description="SELinux labels of the container."
    )
