"""What each Docker Engine API version accepts: fields that need a minimum API version.

Owns the table of spec fields that only newer engines understand and the check the Docker
door (`swarm.client.SwarmClient`) runs before it writes a spec: an engine that negotiated an
older API would silently drop such a field (or reject the request with a cryptic error),
so the write is refused first, naming the manifest field and both versions:

    spec.healthcheck.startInterval needs Docker Engine API 1.44; this engine speaks 1.41

The lab runs engines 20.10 (API 1.41) and 26.1 (API 1.45). The table lists the Engine API
fields of services added since 1.41, the oldest the door talks to
(`swarm.client.MIN_API_VERSION`), that the manifest language writes: the healthcheck's
``startInterval`` (1.44, Docker 25), a volume mount's ``subpath`` (1.45, Docker 26) and
``oomScoreAdj`` (1.46, Docker 27). An older engine does not refuse them: it drops them
without a word (26.1, asked for ``OomScoreAdj``, stores a spec without it), so the plan
blocks the service (`kinds.service`, from the version the read negotiated) and the door
refuses the write, whoever builds the spec. Every other field the language renders is
accepted by API 1.41. The stack-file fields of issue 12 are all 1.41 or older, so none is in
the table: ``Sysctls``, ``Placement.MaxReplicas`` and the credential spec's ``Config``
came with 1.40; ``CapabilityAdd``/``CapabilityDrop``, ``Ulimits``,
``Resources.Limits.Pids`` and the job modes (``ReplicatedJob.MaxConcurrent``) with 1.41
(swarmkit merged capabilities and ulimits in July 2020, in time for 20.10); ``LogDriver``,
``ReadOnly``, ``Groups``, ``TTY``, ``OpenStdin``, ``Isolation``, the SELinux context,
``Placement.Platforms``, ``GenericResources``, attachment ``DriverOpts`` and the mount
options are older still. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class VersionedField:
    """A spec field that needs ``min_api``: where it sits in the Engine API spec (``*``
    stands for every item of a list) and what the manifest calls it."""

    engine_path: tuple[str, ...]
    manifest_path: str
    min_api: str


SERVICE_FIELDS: tuple[VersionedField, ...] = (
    VersionedField(
        ("TaskTemplate", "ContainerSpec", "Healthcheck", "StartInterval"),
        "spec.healthcheck.startInterval",
        "1.44",
    ),
    VersionedField(
        ("TaskTemplate", "ContainerSpec", "Mounts", "*", "VolumeOptions", "Subpath"),
        "spec.mounts[].volumeOptions.subpath",
        "1.45",
    ),
    VersionedField(
        ("TaskTemplate", "ContainerSpec", "OomScoreAdj"),
        "spec.oomScoreAdj",
        "1.46",
    ),
)


def parse_api_version(text: str) -> tuple[int, int]:
    """``"1.45"`` -> ``(1, 45)``; a ValueError for anything else."""
    major, _, minor = text.strip().partition(".")
    if not (major.isdigit() and minor.isdigit()):
        raise ValueError(f"not an Engine API version: {text!r}")
    return int(major), int(minor)


NEWEST_NEEDED: tuple[int, int] = max(parse_api_version(f.min_api) for f in SERVICE_FIELDS)
"""An engine of this API version or newer accepts every field of the table."""


def accepts_every_field(api_version: str) -> bool:
    """``api_version`` accepts every field of `SERVICE_FIELDS` (nothing to check)."""
    return parse_api_version(api_version) >= NEWEST_NEEDED


def _values(node: Any, path: Sequence[str]) -> Iterator[Any]:
    if not path:
        yield node
        return
    head, rest = path[0], path[1:]
    if head == "*":
        if isinstance(node, list):
            for item in node:
                yield from _values(item, rest)
    elif isinstance(node, Mapping) and head in node:
        yield from _values(node[head], rest)


def _is_set(value: Any) -> bool:
    return value is not None and value != {} and value != []


def unsupported(
    spec: Mapping[str, Any],
    api_version: str,
    table: Sequence[VersionedField] = SERVICE_FIELDS,
) -> list[str]:
    """One message per field of ``spec`` that ``api_version`` does not accept ([] if none)."""
    have = parse_api_version(api_version)
    problems = []
    for field in table:
        if have >= parse_api_version(field.min_api):
            continue
        if any(_is_set(v) for v in _values(spec, field.engine_path)):
            problems.append(
                f"{field.manifest_path} needs Docker Engine API {field.min_api}; "
                f"this engine speaks {api_version}"
            )
    return problems
