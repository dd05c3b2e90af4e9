"""What the Secret and Config kinds share: immutable engine objects, versioned by content.

Swarm cannot change a secret's or config's data, so one manifest is a series of engine
objects ``<name>-<10 hex digits>``, each labelled with the manifest's name
(`labels.OBJECT`), the operator's ownership labels and what tells which content it holds
(`BlobKind.target`, `BlobKind.content_labels`: a Config by the sha256 of its content, a
Secret by a salted slow fingerprint, `kinds.secret`).
Owns reading them grouped by manifest name (the versions of one object, and the services
using each), the plan rules (a new content is a ``rotate``: the new version is created,
the services referencing it roll onto it through their own update, `kinds.service`; old
versions go once no service uses them, keeping the one before so a service rollback
still finds it; an ``external`` one must exist and is never created, changed or pruned)
and the writes. Content is never in an action, a reason or a progress line: only the
versioned names are (`BlobKind.shown`: a Secret's old-format name without its hash).

Neighbours: `kinds.secret` and `kinds.config` (one `BlobKind` each), `kinds.base`,
`kinds.common`; `kinds.service` reads `versions_by_id`.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, cast

from swarm_operator.kinds.base import (
    JSON,
    Action,
    ApplyContext,
    Key,
    Kind,
    LiveObject,
    PlanContext,
    PlanOptions,
    Raw,
)
from swarm_operator.kinds.common import ownership_labels, version_of
from swarm_operator.kinds.diff import Difference, differences_of
from swarm_operator.manifests.models import BlobManifest, Manifest
from swarm_operator.swarm import labels
from swarm_operator.swarm.errors import InUse, NotFound

if TYPE_CHECKING:
    from swarm_operator.swarm.client import SwarmClient

SERVICE = "Service"
CONTENT_LABELS = frozenset({labels.CONTENT_HASH, labels.CONTENT_SALT, labels.CONTENT_FINGERPRINT})
"""The labels that tell a version's content, in either format (`kinds.fingerprint`)."""


@dataclass(frozen=True)
class Version:
    """One engine object of a Secret or Config."""

    id: str
    name: str
    index: int
    """The engine's version index at creation: later versions have higher ones."""
    used_by: tuple[str, ...]
    labels: Mapping[str, str]


def reference_field(kind: str) -> tuple[str, str, str]:
    """(ContainerSpec list, ID key, name key) of a service's references to ``kind``."""
    return (f"{kind}s", f"{kind}ID", f"{kind}Name")


def _users(kind: str, services: Sequence[Raw]) -> dict[str, list[str]]:
    """Engine object ID -> names of the services whose tasks mount it."""
    field, id_key, _ = reference_field(kind)
    users: dict[str, list[str]] = {}
    for raw in services:
        spec = raw.get("Spec") or {}
        container = (spec.get("TaskTemplate") or {}).get("ContainerSpec") or {}
        for ref in container.get(field) or []:
            users.setdefault(str(ref.get(id_key, "")), []).append(str(spec.get("Name", "")))
    return users


def manifest_name(raw: Raw) -> str:
    """The manifest an engine object is a version of (its own name if not one of ours)."""
    spec = raw.get("Spec") or {}
    own = (spec.get("Labels") or {}).get(labels.OBJECT)
    return str(own or spec.get("Name", ""))


def names_by_reference(raws: Sequence[Raw]) -> dict[str, str]:
    """Engine ID and engine name -> manifest name, for reading a service's references."""
    out: dict[str, str] = {}
    for raw in raws:
        name = manifest_name(raw)
        out[str(raw.get("ID", ""))] = name
        out[str((raw.get("Spec") or {}).get("Name", ""))] = name
    return out


def _stale(versions: Sequence[Version], keep: str) -> list[Version]:
    """Versions that may go: not ``keep``, not the newest other one, used by no service."""
    others = sorted((v for v in versions if v.name != keep), key=lambda v: v.index)
    before = others[-1].name if others else None
    return [v for v in others if v.name != before and not v.used_by]


class BlobKind(Kind):
    """A Secret or Config kind; subclasses name the kind and the client calls."""

    noun: ClassVar[str]
    """``secret`` or ``config``: the engine's word, in the client's method names."""

    def read_raw(self, client: SwarmClient, names: Collection[str] | None = None) -> list[JSON]:
        # always whole: a service's references name versions by ID
        return cast(list[JSON], getattr(client, f"{self.noun}s")())

    def ids(self, raws: Sequence[Raw]) -> dict[str, str]:
        return {str((r.get("Spec") or {}).get("Name")): str(r.get("ID")) for r in raws}

    def read_needed(
        self,
        desired: Collection[Manifest],
        raws: Mapping[str, Sequence[Raw]],
        options: PlanOptions,
    ) -> bool:
        """Listed (besides when declared) for --prune, and when a live service mounts one
        (its spec names versions by ID) or a declared service references one. Otherwise
        not: a managed version left over with nothing declaring or mounting any object of
        this kind is then not in the no-prune plan's leftover note (`Plan.unread` says
        the kind was not listed; ``--prune`` lists it)."""
        if options.prune or _users(self.name, raws.get(SERVICE, ())):
            return True
        field = reference_field(self.name)[0].lower()
        return any(
            getattr(getattr(m, "spec", None), field, None) for m in desired if m.kind == SERVICE
        )

    def live(self, raws: Mapping[str, Sequence[Raw]]) -> dict[str, LiveObject]:
        users = _users(self.name, raws.get(SERVICE, ()))
        groups: dict[str, list[Raw]] = {}
        for raw in raws.get(self.name, ()):
            groups.setdefault(manifest_name(raw), []).append(raw)
        out: dict[str, LiveObject] = {}
        for name, group in groups.items():
            managed = [r for r in group if labels.is_managed((r.get("Spec") or {}).get("Labels"))]
            members = managed or group
            versions = tuple(
                sorted(
                    (
                        Version(
                            str(r.get("ID", "")),
                            str((r.get("Spec") or {}).get("Name", "")),
                            version_of(r),
                            tuple(sorted(users.get(str(r.get("ID", "")), []))),
                            dict((r.get("Spec") or {}).get("Labels") or {}),
                        )
                        for r in members
                    ),
                    key=lambda v: v.index,
                )
            )
            newest = max(members, key=version_of)
            spec = newest.get("Spec") or {}
            out[name] = LiveObject(
                kind=self.name,
                name=name,
                id=str(newest.get("ID", "")),
                version=version_of(newest),
                labels=dict(spec.get("Labels") or {}),
                spec={k: v for k, v in spec.items() if k != "Data"},  # configs return data
                manifest=None,
                used_by=tuple(sorted({s for v in versions for s in v.used_by})),
                detail=versions,
            )
        return out

    def comparable(self, desired: Manifest, live: Manifest) -> tuple[JSON, JSON]:
        return {}, {}  # compared by version (which content it holds), never field by field

    def target(self, m: BlobManifest, live: LiveObject | None) -> str:
        """The engine name of the version holding ``m``'s content: a live one, or the one
        to create (the same for the same content throughout one process)."""
        raise NotImplementedError

    def content_labels(self, m: BlobManifest) -> dict[str, str]:
        """The labels by which a new version of ``m`` is recognised as holding its content."""
        raise NotImplementedError

    def shown(self, version: Version) -> str:
        """A version's name as plans, reports and logs show it."""
        return version.name

    def export_spec(self, obj: LiveObject) -> dict[str, Any] | None:
        # The engine never gives the content back: a reference to what exists.
        return {"external": True}

    def plan(self, manifest: Manifest, live: LiveObject | None, ctx: PlanContext) -> Action:
        m = cast(BlobManifest, manifest)
        kind, name = m.kind, m.name
        if m.external:
            if live is None:
                return Action("create", kind, name, "external, not in the Swarm", desired=m).block(
                    f"external: swarm-operator never creates it (docker {self.noun} create {name})"
                )
            return Action(
                "noop", kind, name, "external: exists, left as it is", desired=m, live=live
            )
        target = self.target(m, live)
        if live is None or not live.managed:
            fields = (Difference("version", None, target),)
            reason = (
                "not in the Swarm"
                if live is None
                else (
                    f"no version made by swarm-operator (the unlabelled {self.noun} {name} is "
                    "left alone)"
                )
            )
            return Action("create", kind, name, reason, fields, m)
        versions: tuple[Version, ...] = live.detail
        current = next((v for v in versions if v.name == target), None)
        if current is not None:
            why: list[str] = []
            diffs: tuple[Difference, ...] = ()
            have = labels.user_labels(current.labels)
            if have != m.spec.labels:
                why.append("labels differ")
                diffs = differences_of(have, dict(m.spec.labels), (), "spec.labels")
            stale = _stale(versions, target)
            if stale:
                why.append(
                    "remove old versions no service uses: "
                    + ", ".join(self.shown(v) for v in stale)
                )
            if not why:
                return Action("noop", kind, name, "up to date", desired=m, live=live)
            return Action("update", kind, name, "; ".join(why), diffs, m, live)
        newest = self.shown(versions[-1]) if versions else None
        return Action(
            "rotate",
            kind,
            name,
            "content changed",
            (Difference("version", newest, target),),
            m,
            live,
            disrupts=live.used_by,
        )

    def prune_guard(
        self, obj: LiveObject, deleted: Collection[Key], ctx: PlanContext
    ) -> str | None:
        users = [s for s in obj.used_by if (SERVICE, s) not in deleted]
        if not users:
            return None
        return f"refused: {self.noun} still used by services {', '.join(users)}"

    # ------------------------------------------------------------------ writing

    def _labels(self, m: BlobManifest, version: Version | None = None) -> dict[str, str]:
        """A version's labels: the manifest's, ownership, and what tells its content (a
        live ``version`` keeps its own: a relabel never changes its format)."""
        body = {**m.spec.labels, **ownership_labels(m)}
        body[labels.OBJECT] = m.name
        if version is None:
            body.update(self.content_labels(m))
        else:
            body.update({k: v for k, v in version.labels.items() if k in CONTENT_LABELS})
        return body

    def _create(self, ctx: ApplyContext, m: BlobManifest, target: str) -> str:
        create = getattr(ctx.client, f"create_{self.noun}")
        return str(create(target, m.content, self._labels(m)))

    def _remove(self, ctx: ApplyContext, versions: Sequence[Version]) -> list[str]:
        remove = getattr(ctx.client, f"remove_{self.noun}")
        removed: list[str] = []
        for v in versions:
            try:
                remove(v.id)
            except NotFound:
                pass
            except InUse:  # a service took it up since the plan: kept, tried again later
                continue
            removed.append(self.shown(v))
        return removed

    def apply(self, action: Action, ctx: ApplyContext) -> str:
        ctx.forget_ids(self.name)
        live = action.live
        if action.verb == "delete":
            assert live is not None
            removed = self._remove(ctx, live.detail)
            return f"deleted ({len(removed)} version{'s' if len(removed) != 1 else ''})"
        m = cast(BlobManifest, action.desired)
        target = self.target(m, live)  # as the plan found it: from the same live versions
        if action.verb == "create":
            self._create(ctx, m, target)
            return f"created {target}"
        assert live is not None
        done = ""
        current = next((v for v in live.detail if v.name == target), None)
        relabel = current is not None and labels.user_labels(current.labels) != m.spec.labels
        if action.verb == "update" and current is not None and relabel:
            getattr(ctx.client, f"relabel_{self.noun}")(current.id, self._labels(m, current))
            done = f"relabelled {self.shown(current)}"
        if action.verb == "rotate":
            self._create(ctx, m, target)
            ctx.progress(f"{self.name} {m.name}: created version {target}")
            done = f"rotated to {target}"
        stale = _stale(live.detail, target)
        removed = self._remove(ctx, stale)
        if removed:
            done += ("; " if done else "") + f"removed old versions {', '.join(removed)}"
        return done or "nothing to remove"
