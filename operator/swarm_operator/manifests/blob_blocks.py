"""The parts of the language for Swarm secrets and configs: their specs and a service's
references to them. Pure.

Owns `SecretSpec` and `ConfigSpec` (where the content comes from: exactly one of ``file``,
``env`` (secrets only), ``data`` (configs only) or ``external: true``; the content itself
is read by `manifests.content`, never here), the references a service makes
(`SecretReference`, `ConfigReference`: short form ``- db-password`` or the long form
``{source, target, uid, gid, mode}``, with Docker's default targets) and the engine's
limits on both (`MAX_BLOB_BYTES`, `MAX_ENGINE_NAME`, `HASH_LENGTH`). A reference's
file mode is `fields.FileMode`, as a tmpfs mount's is.
Neighbours: `manifests.models` (the ``Secret`` and ``Config`` kinds, ``ServiceSpec``).
"""

from __future__ import annotations

import posixpath
from typing import Any, ClassVar

from pydantic import (
    Field,
    field_validator,
    model_validator,
)

from swarm_operator.manifests.fields import FileMode, Model, StrMap

MAX_BLOB_BYTES = 500 * 1024
"""Swarm's limit on the data of one secret or config (swarmkit's MaxSecretSize and
MaxConfigSize)."""
MAX_ENGINE_NAME = 64
"""Docker's limit on the name of a secret or config."""
HASH_LENGTH = 10
"""Hex digits after the name in a version's engine name (``<name>-<digits>``: a Config's
sha256, a Secret's random ones)."""
SECRETS_DIR = "/run/secrets/"
"""Where a secret with a relative (or default) target is mounted in a task."""
DEFAULT_UID = "0"
DEFAULT_GID = "0"
DEFAULT_MODE = 0o444
"""Docker's defaults for a reference's file (``docker service create --secret``)."""


def _sources(spec: Model, allowed: tuple[str, ...]) -> Model:
    given = [
        name
        for name in allowed
        if (getattr(spec, name) is True if name == "external" else getattr(spec, name) is not None)
    ]
    if len(given) != 1:
        choices = ", ".join(allowed)
        got = "none" if not given else " and ".join(given)
        raise ValueError(f"give exactly one of {choices} (got {got})")
    return spec


class BlobSpec(Model):
    file: str | None = Field(
        default=None,
        min_length=1,
        description="Path of the content, relative to the manifest's own file.",
    )
    external: bool = Field(
        default=False,
        description="Made elsewhere: must exist; never created, changed or pruned.",
    )
    labels: StrMap = Field(default_factory=dict, description="Labels of every version.")


class SecretSpec(BlobSpec):
    env: str | None = Field(
        default=None,
        min_length=1,
        description="Name of an environment variable of the operator holding the content.",
    )

    @model_validator(mode="after")
    def _one_source(self) -> SecretSpec:
        _sources(self, ("file", "env", "external"))
        return self


class ConfigSpec(BlobSpec):
    data: str | None = Field(default=None, description="The content, inline.")

    @model_validator(mode="after")
    def _one_source(self) -> ConfigSpec:
        _sources(self, ("file", "data", "external"))
        return self


class _Reference(Model):
    source: str = Field(min_length=1, description="metadata.name of the Secret or Config.")
    target: str | None = Field(default=None, description="Path of the file in the task.")
    uid: str = Field(default=DEFAULT_UID, description="Owner of the file (user ID).")
    gid: str = Field(default=DEFAULT_GID, description="Group of the file (group ID).")
    mode: FileMode = DEFAULT_MODE
    DEFAULT_DIR: ClassVar[str] = "/"

    @field_validator("uid", "gid", mode="before")
    @classmethod
    def _id_text(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        return value

    @model_validator(mode="after")
    def _default_target(self) -> _Reference:
        target = full_target(self.DEFAULT_DIR, self.source, self.target)
        if target == "/":
            raise ValueError(f"target {self.target!r} is not a file path")
        object.__setattr__(self, "target", target)
        return self


def full_target(directory: str, source: str, target: str | None) -> str:
    """Where a reference's file is in the task: ``target`` (default: the source's name),
    under ``directory`` when relative."""
    path = target or source
    if not path.startswith("/"):
        path = directory + path
    return posixpath.normpath(path)


class SecretReference(_Reference):
    """A secret mounted in a service's tasks (default ``/run/secrets/<source>``)."""

    DEFAULT_DIR: ClassVar[str] = SECRETS_DIR


class ConfigReference(_Reference):
    """A config mounted in a service's tasks (default ``/<source>``, as Docker does)."""

    DEFAULT_DIR: ClassVar[str] = "/"


def short_form(value: Any) -> Any:
    """``- db-password`` as ``{source: db-password}``."""
    if isinstance(value, list):
        return [{"source": item} if isinstance(item, str) else item for item in value]
    return value


def one_per_target(value: list[Any], what: str) -> list[Any]:
    seen: set[str] = set()
    for ref in value:
        if ref.target in seen:
            raise ValueError(f"two {what} on target {ref.target!r}")
        seen.add(ref.target)
    return value
