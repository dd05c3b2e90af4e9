"""The blocks a service spec is made of: network attachments, ports, placement, resources,
update and rollback policies, restart policy, healthcheck, mounts.

Owns what each block may say and the rules inside one block (a constraint's grammar,
a memory limit's minimum, a reservation within its limit, a healthcheck's form, a
mount's paths), as the engine checks them (`manifests.engine_rules`). Neighbours:
`manifests.models.ServiceSpec` is built from these and holds the rules across blocks.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from swarm_operator.manifests import engine_rules, units
from swarm_operator.manifests.engine_rules import INT64_MAX
from swarm_operator.manifests.fields import ByteSize, Count, Cpus, Duration, Model, Port


class NetworkAttachment(Model):
    name: str = Field(min_length=1, description="Name of the network to attach to.")
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
    max_replicas_per_node: Count | None = None

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


MIN_MEMORY_LIMIT = engine_rules.MIN_MEMORY_LIMIT
"""Docker refuses a container memory limit below 6 MiB."""


class Resources(Model):
    limits: ResourceAmounts | None = None
    reservations: ResourceAmounts | None = None

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
        if not self.target.startswith("/"):
            raise ValueError(f"mount target {self.target!r} must be an absolute path")
        if self.type == "bind" and self.source and not self.source.startswith("/"):
            raise ValueError(f"bind mount source {self.source!r} must be an absolute path")
        if self.source == "":  # the engine stores no source: "" is unset
            object.__setattr__(self, "source", None)
        return self
