"""The Service kind's spec: `ServiceSpec`, and the image-update policy it may carry.

Owns what a service manifest's ``spec`` may say and the rules across its blocks (a mode
and the fields it allows, a port or network listed once, one mount per target, command
words split like a shell). Neighbours: the blocks themselves and the rules inside one
block are `manifests.service_blocks`'; the engine's bounds are `manifests.engine_rules`';
`manifests.models.Service` is the envelope around it; `kinds.service_spec` writes it to
the engine and reads it back.
"""

from __future__ import annotations

import ipaddress
import shlex
from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from swarm_operator.manifests import blob_blocks, engine_rules
from swarm_operator.manifests.blob_blocks import ConfigReference, SecretReference
from swarm_operator.manifests.fields import Count, Duration, Model, StrMap, no_operator_labels
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
)

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
        return no_operator_labels(value)

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
