"""Helpers more than one kind's module uses: ownership labels, spec hash, small converters.

Owns the ownership labels every managed object carries (managed-by and the spec hash,
keys from `swarm.labels`), the spec hash itself, the fields a create shows, and the
action for a live object whose spec the manifest language cannot express. Pure.
Neighbours: the kind modules of this package, nothing else.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from swarm_operator.kinds.base import Action, LiveObject
from swarm_operator.kinds.diff import Difference, child, differences_of
from swarm_operator.manifests import units
from swarm_operator.manifests.models import Manifest
from swarm_operator.swarm import labels


def spec_hash(manifest: Manifest) -> str:
    """A short stable hash of what the manifest asks for (its spec in canonical form)."""
    body = json.dumps(
        manifest.spec.model_dump(mode="json", by_alias=True), sort_keys=True, default=str
    )
    return hashlib.sha256(body.encode()).hexdigest()[:16]


def ownership_labels(manifest: Manifest) -> dict[str, str]:
    return {labels.MANAGED_BY: labels.MANAGER, labels.SPEC_HASH: spec_hash(manifest)}


def drop_empty(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if v is not None and v != [] and v != {}}


def dur(value: Any) -> str | None:
    """Engine nanoseconds as manifest text (None stays None)."""
    return None if value is None else units.format_duration(int(value))


def some(value: Any) -> Any:
    """Empty engine values (``""``, ``[]``, ``{}``) as unset."""
    return value if value not in (None, "", [], {}) else None


def version_of(raw: Mapping[str, Any]) -> int:
    return int((raw.get("Version") or {}).get("Index", 0))


def creation_fields(
    manifest: Manifest, sensitive: Sequence[str], always: Mapping[str, Any] | None = None
) -> tuple[Difference, ...]:
    """What a create sets: every field the manifest gives (``always``: shown even if default)."""
    spec = manifest.spec.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    for key, value in (always or {}).items():
        spec.setdefault(key, value)
    return tuple(
        d
        for k, v in sorted(spec.items())
        for d in differences_of(None, v, sensitive, child("spec", k))
    )


def unreadable(manifest: Manifest, live: LiveObject) -> Action:
    """A live object the language cannot express: written in full from the manifest."""
    return Action(
        "update" if live.managed else "adopt",
        manifest.kind,
        manifest.name,
        f"{live.read_error}; the manifest will be written in full",
        desired=manifest,
        live=live,
    )


def convert(kind: str, name: str, fn: Any, *args: Any) -> tuple[Manifest | None, str | None]:
    """``fn(*args)`` as a manifest, or why the live object cannot be expressed as one."""
    from pydantic import ValidationError

    try:
        return fn(*args), None
    except (ValidationError, ValueError, KeyError, TypeError) as exc:
        return None, f"live {kind} {name!r} cannot be expressed as a manifest: {exc}"
