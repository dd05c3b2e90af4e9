"""The Service kind: read, planned, written and watched until it converges.

Owns what is particular to services beyond their engine form (`kinds.service_spec`):
which live services are the user's (probe services are the operator's own plumbing,
never drift, never pruned), the plan rules (create, update, adopt only when allowed; a
change of mode is a ``replace``, remove and create, since the engine refuses it in place
"service mode change is not allowed"; it needs ``--allow-replace``; a write of a field
the engine's API version does not accept is blocked, `engine_refusal`), the
writes (a create or update names its networks by ID, listed once per plan run and again
once if a network went away meanwhile; an update keeps the engine's digest pin and its
``ForceUpdate`` counter, and every field of the live spec the manifest language does not
express: `kinds.service_fields` merges the render into the live spec, and the plan of an
update, adoption or replace lists those fields as kept), where a service stands from its
tasks (`kinds.service_progress`), its health for the daemon, and its sensitive paths: env values
are never shown.

Neighbours: `kinds.base` (the interface); `kinds.service_spec` writes a service in the
engine's form and `kinds.service_read` reads it back; `kinds.service_fields` (the managed
fields and the merge), `kinds.service_images` (a followed tag's digest, the image's
platforms), `kinds.service_progress` (where a service stands from its tasks),
`kinds.normalize`; the engine reaches it through `kinds.registry`.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, cast

from swarm_operator.kinds import normalize, service_fields
from swarm_operator.kinds.base import (
    BLOCK_NOT_ADOPTED,
    JSON,
    Action,
    ApplyContext,
    FollowedImage,
    Health,
    Kind,
    LiveObject,
    PlanContext,
    Progressing,
    Raw,
    flag,
    may_adopt,
)
from swarm_operator.kinds.blob import BlobKind, names_by_reference
from swarm_operator.kinds.common import convert, creation_fields, unreadable, version_of
from swarm_operator.kinds.config import KIND as CONFIG_KIND
from swarm_operator.kinds.diff import Difference, differences_of
from swarm_operator.kinds.secret import KIND as SECRET_KIND
from swarm_operator.kinds.service_images import (
    Resolved,
    image_moved,
    image_of,
    resolve,
)
from swarm_operator.kinds.service_progress import service_progress
from swarm_operator.kinds.service_read import engine_references, service_from_docker
from swarm_operator.kinds.service_spec import service_spec
from swarm_operator.manifests.models import (
    ANNOTATION_ALLOW_REPLACE,
    BlobManifest,
    Manifest,
    Service,
)
from swarm_operator.manifests.service_blocks import Mount
from swarm_operator.manifests.service_spec import ServiceSpec
from swarm_operator.swarm import labels
from swarm_operator.swarm.api_versions import accepts_every_field, unsupported
from swarm_operator.swarm.errors import NetworkGone, NotFound, Transient

if TYPE_CHECKING:
    from swarm_operator.swarm.client import SwarmClient

NETWORK = "Network"
"""The kind a service attaches to: its spec names networks by ID."""
BLOB_KINDS: Mapping[str, BlobKind] = {"Secret": SECRET_KIND, "Config": CONFIG_KIND}
BLOBS = tuple(BLOB_KINDS)
"""The kinds a service mounts: its spec names their versions by ID and versioned name."""
KEEPING_VERBS = frozenset({"update", "adopt", "replace"})
"""Verbs that write over a live service, keeping what the language does not express."""
WRITING_VERBS = frozenset({"create", *KEEPING_VERBS})
RECENT_APPLY = 120.0
"""Seconds after the operator changed a service during which missing tasks are
'progressing', not 'degraded'."""


VOLUME_OPTIONS_WARNING = (
    "warning: volume {names}: its driver or options change, but volumes already on the "
    "nodes keep their old ones until removed (docker volume rm on each node, once no "
    "task uses them)"
)


def _volume_driver(mount: Mount) -> tuple[str, dict[str, str]]:
    options = mount.volume_options
    if options is None or not options.driver:
        return ("local", {})  # what a node's engine creates a named volume with
    return (options.driver, dict(options.driver_options))


def volume_driver_changes(desired: ServiceSpec, live: ServiceSpec) -> list[str]:
    """The named volumes whose driver or driver options differ between the live and the
    desired mounts (the same source on the same target): the change is written, but
    a volume that already exists on a node is not recreated by Docker."""
    before = {m.target: m for m in live.mounts if m.type == "volume" and m.source}
    changed = []
    for mount in desired.mounts:
        old = before.get(mount.target)
        if mount.type != "volume" or old is None or old.source != mount.source:
            continue
        if _volume_driver(mount) != _volume_driver(old):
            changed.append(str(mount.source))
    return sorted(changed)


def update_body(
    m: Service,
    live: Mapping[str, Any],
    targets: Mapping[str, str],
    image: str | None = None,
    **mounts: Any,
) -> JSON:
    """What an update of the live spec ``live`` to ``m`` writes: the render's managed
    fields, every other live field kept (`service_fields.merge`), the engine's digest pin
    kept when it pins the requested image (unless ``image``, a digest that `imageUpdate`
    resolved, says otherwise), and the live ``ForceUpdate`` counter."""
    task = live.get("TaskTemplate") or {}
    live_image = str((task.get("ContainerSpec") or {}).get("Image", ""))
    pinned = live_image != m.spec.image and normalize.image_pins(live_image, m.spec.image)
    same_image = live_image.split("@", 1)[0] == (image or m.spec.image).split("@", 1)[0]
    rendered = service_spec(
        m,
        network_targets=targets,
        image=image or (live_image if pinned else None),
        force_update=int(task.get("ForceUpdate") or 0),
        platforms=(task.get("Placement") or {}).get("Platforms") if same_image else None,
        **mounts,
    )
    return service_fields.merge(live, rendered)


def live_targets(live: LiveObject) -> dict[str, str]:
    """Network name -> the ID the live spec names it by, from the live object itself."""
    if not isinstance(live.manifest, Service):
        return {}
    task = live.spec.get("TaskTemplate") or {}
    attached = task.get("Networks") or live.spec.get("Networks") or []
    return {
        n.name: str(a.get("Target"))
        for n, a in zip(live.manifest.spec.networks, attached, strict=False)
    }


ENGINE_SENSITIVE = ("spec.TaskTemplate.ContainerSpec.Env",)
"""`ServiceKind.sensitive` in the engine's words (differences of an unreadable service)."""


def _keeping(action: Action) -> Action:
    """The action with the unmanaged live fields its write keeps (for the plan to list).

    A live service the language cannot read has no differences in the manifest's words:
    its managed fields that change are listed in the engine's (``spec.TaskTemplate...``),
    so an adoption never changes a field its plan did not show."""
    if action.live is None or not isinstance(action.desired, Service):
        return action
    body = update_body(
        action.desired,
        action.live.spec,
        live_targets(action.live),
        references=action.references,
    )
    if action.live.manifest is None:
        changed = differences_of(
            service_fields.managed_part(action.live.spec),
            service_fields.managed_part(body),
            ENGINE_SENSITIVE,
        )
        action = replace(action, differences=changed)
    return replace(action, kept=service_fields.kept(body))


def engine_refusal(action: Action, api_version: str | None) -> str | None:
    """Why an engine of ``api_version`` cannot take the write ``action`` plans: the fields
    of the spec it would send that this API version does not accept (`swarm.api_versions`;
    the engine would drop them without a word). None when it can, or the version is not
    known (the door still refuses the write)."""
    m = action.desired
    if api_version is None or accepts_every_field(api_version) or not isinstance(m, Service):
        return None
    if action.verb not in WRITING_VERBS:
        return None
    if action.live is None:
        body = service_spec(m, references=action.references)
    else:
        targets = live_targets(action.live)
        body = update_body(m, action.live.spec, targets, references=action.references)
    return "; ".join(unsupported(body, api_version)) or None


def live_service(
    raw: Mapping[str, Any],
    network_ids: Mapping[str, str],
    reference_names: Mapping[str, Mapping[str, str]] | None = None,
) -> LiveObject:
    spec = raw.get("Spec") or {}
    name = str(spec.get("Name", ""))
    manifest, error = convert(
        "Service", name, service_from_docker, spec, network_ids, reference_names
    )
    container = (spec.get("TaskTemplate") or {}).get("ContainerSpec") or {}
    return LiveObject(
        kind="Service",
        name=name,
        id=str(raw.get("ID", "")),
        version=version_of(raw),
        labels=dict(spec.get("Labels") or {}),
        spec=spec,
        manifest=manifest,
        read_error=error,
        detail=engine_references(container, reference_names),
    )


def resolve_references(m: Service, ctx: PlanContext) -> dict[tuple[str, str], str]:
    """(kind, manifest name) -> the engine object to mount: the version holding the
    declared content (as its kind finds it among the live versions, `BlobKind.target`),
    or the name itself (external, or not declared)."""
    out: dict[tuple[str, str], str] = {}
    for kind, refs in (("Secret", m.spec.secrets), ("Config", m.spec.configs)):
        for ref in refs:
            declared = ctx.desired((kind, ref.source))
            engine = ref.source
            if isinstance(declared, BlobManifest) and not declared.external:
                try:
                    engine = BLOB_KINDS[kind].target(declared, ctx.live(kind).get(ref.source))
                except ValueError:  # content not loaded: the name as written
                    engine = ref.source
            out[(kind, ref.source)] = engine
    return out


def version_differences(
    m: Service, live: LiveObject, resolved: Mapping[tuple[str, str], str], ctx: PlanContext
) -> tuple[Difference, ...]:
    """References whose version changed (a rotated secret): the service rolls onto it.
    Versions are named as their kind shows them (`BlobKind.shown`)."""
    mounted: Mapping[tuple[str, str, str], str] = live.detail or {}
    out: list[Difference] = []
    for kind, refs in (("Secret", m.spec.secrets), ("Config", m.spec.configs)):
        for ref in refs:
            now = mounted.get((kind, ref.source, str(ref.target)))
            want = resolved.get((kind, ref.source), ref.source)
            if now is not None and now != want:
                blob = ctx.live(kind).get(ref.source)
                version = next((v for v in (blob.detail if blob else ()) if v.name == now), None)
                was = BLOB_KINDS[kind].shown(version) if version is not None else now
                out.append(Difference(f"spec.{kind.lower()}s[{ref.source}]", was, want))
    return tuple(out)


class ServiceKind(Kind):
    name = "Service"
    model = Service
    event_type = "service"
    needs = (NETWORK, *BLOBS)
    sensitive = ("spec.env",)
    waits = True

    def read_raw(self, client: SwarmClient, names: Collection[str] | None = None) -> list[JSON]:
        if names is None:
            return client.services()
        found: list[JSON] = []
        for name in names:
            found.extend(
                s
                for s in client.services(filters={"name": name})
                if (s.get("Spec") or {}).get("Name") == name
            )
        return found

    def live(self, raws: Mapping[str, Sequence[Raw]]) -> dict[str, LiveObject]:
        ids = {str(n.get("Id")): str(n.get("Name")) for n in raws.get(NETWORK, ())}
        names = {kind: names_by_reference(raws.get(kind, ())) for kind in BLOBS}
        return {
            obj.name: obj
            for obj in (
                live_service(raw, ids, names)
                for raw in raws.get(self.name, ())
                if not labels.is_probe((raw.get("Spec") or {}).get("Labels"))
            )
        }

    def followed_image(self, manifest: Manifest) -> FollowedImage | None:
        follow = cast(Service, manifest).spec.image_update
        if follow is None:
            return None
        return FollowedImage(
            cast(Service, manifest).spec.image, follow.policy, follow.interval / 1e9
        )

    def comparable(self, desired: Manifest, live: Manifest) -> tuple[JSON, JSON]:
        d = desired.spec.model_dump(mode="json", by_alias=True)
        lv = live.spec.model_dump(mode="json", by_alias=True)
        for spec in (d, lv):  # the operator's own setting: never in the Swarm
            spec.pop("imageUpdate", None)
        return normalize.service_pair(d, lv)

    def plan(self, manifest: Manifest, live: LiveObject | None, ctx: PlanContext) -> Action:
        m = cast(Service, manifest)
        resolved = resolve_references(m, ctx)
        action = self._plan(m, live, ctx)
        if live is not None and live.manifest is not None and action.verb in ("noop", "update"):
            rolled = version_differences(m, live, resolved, ctx)
            if rolled and action.verb == "noop" and not action.blocked:
                action = Action(
                    "update",
                    m.kind,
                    m.name,
                    "a secret or config it mounts has a new version",
                    rolled,
                    m,
                    live,
                )
            elif rolled:
                action = replace(action, differences=(*action.differences, *rolled))
        if resolved:
            action = replace(action, references=resolved)
        action = _keeping(action) if action.verb in KEEPING_VERBS else action
        refused = None if action.blocked else engine_refusal(action, ctx.api_version)
        return action.block(refused) if refused else action

    def _plan(self, m: Service, live: LiveObject | None, ctx: PlanContext) -> Action:
        if live is None:
            fields = creation_fields(m, self.sensitive, {"image": m.spec.image})
            return Action("create", m.kind, m.name, "not in the Swarm", fields, m)
        if live.manifest is None:
            action = replace(
                unreadable(m, live),
                reason=f"{live.read_error}; the fields the language manages are written "
                "from the manifest",
            )
        else:
            diffs = self.differences(m, live.manifest) + image_moved(
                m, live, ctx.options.image_digests
            )
            live_mode = cast(Service, live.manifest).spec.mode
            if live.managed and live_mode != m.spec.mode:
                action = Action(
                    "replace",
                    m.kind,
                    m.name,
                    f"a service's mode cannot be changed in place ({live_mode} -> "
                    f"{m.spec.mode}): remove and recreate",
                    diffs,
                    m,
                    live,
                    disrupts=(m.name,),
                )
                if not (ctx.options.allow_replace or flag(m, ANNOTATION_ALLOW_REPLACE)):
                    return action.block(
                        "needs --allow-replace (or annotation swarm-operator/allow-replace: "
                        f'"true"); every task of {m.name} is stopped and started again'
                    )
                return action
            volumes = volume_driver_changes(m.spec, cast(Service, live.manifest).spec)
            warning = (
                "; " + VOLUME_OPTIONS_WARNING.format(names=", ".join(volumes)) if volumes else ""
            )
            if live.managed:
                if not diffs:
                    return Action("noop", m.kind, m.name, "up to date", desired=m, live=live)
                action = Action(
                    "update", m.kind, m.name, "live spec differs" + warning, diffs, m, live
                )
            else:
                action = Action(
                    "adopt",
                    m.kind,
                    m.name,
                    "a service with this name exists without the swarm-operator label" + warning,
                    diffs,
                    m,
                    live,
                )
        if action.verb == "adopt" and not may_adopt(m, ctx.options):
            return action.block(BLOCK_NOT_ADOPTED)
        return action

    # ------------------------------------------------------------------ writing

    def apply(self, action: Action, ctx: ApplyContext) -> str:
        if action.verb == "delete":
            assert action.live is not None
            ctx.client.remove_service(action.live.id)
            return "deleted"
        m = cast(Service, action.desired)
        try:
            return self._write(action, m, ctx)
        except NetworkGone:
            # A network was replaced behind our back since we listed them: list again, once.
            ctx.forget_ids(NETWORK)
            return self._write(action, m, ctx)

    def _write(self, action: Action, m: Service, ctx: ApplyContext) -> str:
        targets = ctx.ids(NETWORK)
        mounts: dict[str, Any] = {"references": action.references}
        if m.spec.secrets or m.spec.configs:
            ids = {kind: ctx.ids(kind) for kind in BLOBS}
            absent = [  # a version of ours (an external one the engine reports itself)
                f"{kind} {engine}"
                for (kind, name), engine in sorted(action.references.items())
                if engine != name and engine not in ids[kind]
            ]
            if absent:  # its Secret/Config is not applied yet (the daemon: another key)
                for kind in BLOBS:  # listed afresh on the next try, or it never turns up
                    ctx.forget_ids(kind)
                raise Transient(f"{', '.join(absent)} not in the Swarm yet; trying again")
            mounts["reference_ids"] = ids
        if action.verb == "create":
            got = resolve(m, ctx)
            ctx.client.create_service(
                service_spec(
                    m,
                    network_targets=targets,
                    image=got.image,
                    platforms=got.platforms,
                    **mounts,
                )
            )
            return "created"
        live = action.live
        assert live is not None
        if action.verb == "replace":  # a mode change: the engine has no update for it
            got = resolve(m, ctx)
            rendered = service_spec(
                m, network_targets=targets, image=got.image, platforms=got.platforms, **mounts
            )
            body = service_fields.merge(live.spec, rendered)
            ctx.client.remove_service(live.id)
            ctx.client.create_service(body)
            return "replaced (mode changed)"
        live_image = image_of(live)
        pinned = live_image != m.spec.image and normalize.image_pins(live_image, m.spec.image)
        follow = m.spec.image_update
        pinning: Resolved | None = None
        if follow is not None and (follow.policy == "digest" or not pinned):
            pinning = resolve(m, ctx)
        image = pinning.image if pinning is not None else None
        body = update_body(m, live.spec, targets, image, **mounts)
        placement = body.get("TaskTemplate", {}).get("Placement") or {}
        new_image = live_image.split("@", 1)[0] != (image or m.spec.image).split("@", 1)[0]
        if new_image and not placement.get("Platforms"):
            # a new image: its own platforms (the same image keeps the live ones, or none:
            # adding them would restart every task of a service that had none)
            # the answer the digest came with names them too; else ask for them alone
            platforms = (pinning or resolve(m, ctx, digest=False)).platforms
            if platforms:
                body["TaskTemplate"]["Placement"] = {**placement, "Platforms": platforms}
        ctx.client.update_service(live.id, live.version, body)
        return "adopted and updated" if action.verb == "adopt" else "updated"

    # ------------------------------------------------------------------ health

    def read_status(self, client: SwarmClient, live: LiveObject) -> Any:
        return (client.inspect_service(live.id), client.tasks(filters={"service": live.id}))

    def read_all_status(self, client: SwarmClient, raws: Sequence[Raw]) -> dict[str, Any]:
        tasks: dict[str, list[JSON]] = {}
        for task in client.tasks():
            tasks.setdefault(str(task.get("ServiceID")), []).append(task)
        return {str(s.get("ID")): (s, tasks.get(str(s.get("ID")), [])) for s in raws}

    def health(self, live: LiveObject | None, status: Any, recently_applied: bool) -> Health:
        if live is None or status is None:
            return Health("missing", (0, 0))
        raw, tasks = status
        progress = service_progress(raw, tasks, since=time.time() - 300, pending_grace=False)
        if progress.converged:
            state = "healthy"
        elif progress.failed:
            state = "degraded"
        elif progress.update_state == "updating" or progress.running < progress.desired:
            updating = progress.update_state == "updating"
            state = "progressing" if recently_applied or updating else "degraded"
        else:
            state = "progressing"
        stuck = None
        if progress.excess_slots:
            stuck = (
                f"the engine runs {progress.desired + progress.excess_slots} slots "
                f"for {progress.desired} replicas"
            )
        return Health(state, (progress.desired, progress.running), stuck)

    def nudge(self, client: SwarmClient, live: LiveObject) -> None:
        # Read afresh: the spec written back is the one in force, at its own version (a
        # change made meanwhile makes this a version conflict, never lost).
        raw = client.inspect_service(live.id)
        client.update_service(live.id, int(raw["Version"]["Index"]), raw["Spec"])

    def progress(self, client: SwarmClient, name: str, since: float, grace: bool) -> Progressing:
        try:
            raw = client.inspect_service(name)
        except NotFound:
            return Progressing(f"Service {name}: gone", converged=False, failed="not found")
        tasks = client.tasks(filters={"service": raw["ID"]})
        current = client.tasks(filters={"service": raw["ID"], "_up-to-date": "true"})
        state = service_progress(raw, tasks, since, grace, current=current)
        line = f"Service {name}: {state.running}/{state.desired} running" + (
            f", update {state.update_state}" if state.update_state else ""
        )
        if state.failed:
            detail = "; ".join(state.errors)
            return Progressing(line, False, state.failed + (f" ({detail})" if detail else ""))
        if state.converged:
            return Progressing(
                line, True, message=f"converged: {state.running}/{state.desired} running"
            )
        return Progressing(line, False)


KIND = ServiceKind()
