"""What every kind is asked for, and the small types the kinds and the engine share.

Owns the `Kind` interface (one implementation per module in this package, listed by
`kinds.registry`), the live object (`LiveObject`), planned actions (`Action`, with its
verbs), what the user allowed (`PlanOptions`), what a kind's planner and writer are handed
(`PlanContext`, `ApplyContext`) and an object's health (`Health`). Differences are
`kinds.diff`'s. Pure: the only I/O is what a kind does through the `SwarmClient` it is
given; nothing here imports docker.

A kind answers, for its objects: reading them from the engine (`read_raw`, `live`), comparing
a manifest with a live object (`differences`), planning one object (`plan`), the guard on
pruning one (`prune_guard`), carrying an action out (`apply`), its health (`read_status`,
`health`) and which engine events concern it (`event_type`, `event_keys`).
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from swarm_operator.kinds import DEFAULT_MAX_PRUNE
from swarm_operator.kinds.diff import Difference, differences_of
from swarm_operator.manifests.models import ANNOTATION_ADOPT, ANNOTATION_RECONCILE, Manifest
from swarm_operator.swarm import labels

if TYPE_CHECKING:
    from swarm_operator.swarm.client import SwarmClient

Key = tuple[str, str]
JSON = dict[str, Any]
Raw = Mapping[str, Any]

Verb = Literal["create", "update", "replace", "delete", "adopt", "noop", "missing", "rotate"]
VERBS: tuple[str, ...] = (
    "create",
    "update",
    "replace",
    "delete",
    "adopt",
    "noop",
    "missing",
    "rotate",
)
"""``rotate``: a Secret or Config whose content changed gets a new version (the services
using it roll onto it by their own update)."""
QUIET_VERBS = frozenset({"noop", "missing"})
BLOCK_RECONCILE_DISABLED = "reconcile disabled by annotation swarm-operator/reconcile"
"""Shown as drift, deliberately left alone: not a failure of apply."""
BLOCK_NOT_ADOPTED = 'not taken over: pass --adopt or annotate swarm-operator/adopt: "true"'


class UnknownKind(KeyError):
    """A kind the registry does not know: always an error, never a fall-through."""


@dataclass(frozen=True)
class LiveObject:
    kind: str
    name: str
    id: str
    version: int
    labels: Mapping[str, str]
    spec: Mapping[str, Any]
    """The raw Docker spec (service/node Spec, or the network inspect body)."""
    manifest: Manifest | None
    read_error: str | None = None
    used_by: tuple[str, ...] = ()
    """Names of the objects that use this one (a network: the services attached to it)."""
    detail: Any = None
    """What only this kind knows of a live object (a node: its `NodeStatus`)."""

    @property
    def key(self) -> Key:
        return (self.kind, self.name)

    @property
    def managed(self) -> bool:
        return labels.is_managed(self.labels)

    @property
    def protected(self) -> bool:
        return labels.is_protected(self.labels)

    @property
    def spec_hash(self) -> str | None:
        return self.labels.get(labels.SPEC_HASH)


@dataclass(frozen=True)
class Action:
    verb: Verb
    kind: str
    name: str
    reason: str
    differences: tuple[Difference, ...] = ()
    desired: Manifest | None = None
    live: LiveObject | None = None
    blocked: str | None = None
    """Why this action will not be carried out (a guard, or a permission not given)."""
    disrupts: tuple[str, ...] = ()
    """Network replace/adopt: the services detached and reattached; a Secret or Config
    rotate: the services that roll onto the new version."""
    references: Mapping[Key, str] = field(default_factory=dict)
    """A service: the engine object each of its secret and config references names
    (``("Secret", "db-password") -> "db-password-1a2b3c4d5e"``), resolved by the plan."""
    kept: tuple[str, ...] = ()
    """Live fields the manifest language does not express, written back unchanged by
    this update (a service's log driver, capabilities, ...; `kinds.service_fields`)."""
    dropped: tuple[str, ...] = ()
    """Live fields that this action loses: a network is recreated from its manifest alone,
    so its IPAM options (which the language does not express) and any pool the manifest
    leaves out; an entry with a parenthesis gives its own reason (`cli.output`)."""

    @property
    def key(self) -> Key:
        return (self.kind, self.name)

    @property
    def changes(self) -> bool:
        return self.verb not in QUIET_VERBS

    def block(self, why: str) -> Action:
        return replace(self, blocked=why)

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.verb,
            "kind": self.kind,
            "name": self.name,
            "reason": self.reason,
            "differences": [d.to_dict() for d in self.differences],
            "blocked": self.blocked,
            "disrupts": list(self.disrupts),
            "kept": list(self.kept),
            "dropped": list(self.dropped),
        }


@dataclass(frozen=True)
class FollowedImage:
    """An image tag an object follows in its registry (`Kind.followed_image`)."""

    image: str
    policy: Literal["digest", "notify"]
    """digest: a moved tag plans an update onto its new digest; notify: only reported."""
    interval: float
    """Seconds between the daemon's questions to the registry."""


@dataclass(frozen=True)
class PlanOptions:
    """What the user allowed; defaults are the safe choice."""

    prune: bool = False
    """Delete managed objects that are no longer declared."""
    max_prune: int = DEFAULT_MAX_PRUNE
    """Refuse to prune when more than this many objects would be deleted."""
    adopt: bool = False
    """Take over unlabelled live objects that have a declared name."""
    allow_replace: bool = False
    """Recreate networks whose immutable fields changed."""
    prune_blockers: tuple[str, ...] = ()
    """Reasons, found while loading the manifests, that make pruning unsafe (a file
    failed to load, the directory is missing or unreadable). Any one refuses prune."""
    image_digests: Mapping[str, str] = field(default_factory=dict)
    """The digest each followed image (of a service with ``imageUpdate``) names in its
    registry now, resolved before planning (`engine.images`): a service of policy
    ``digest`` whose pinned digest differs plans an update onto the new one."""


@dataclass
class PlanContext:
    """What one kind's planner may look at besides its own object."""

    options: PlanOptions
    live: Callable[[str], Mapping[str, LiveObject]]
    """The live objects of a kind, by name (e.g. a node's planner looks at every node)."""
    memo: dict[str, Any] = field(default_factory=dict)
    """State a kind keeps across the objects of one plan (the managers that leave)."""
    desired: Callable[[Key], Manifest | None] = field(default=lambda key: None)
    """The declared object of a key, if any (a service looks up its secrets' versions)."""
    api_version: str | None = None
    """The Engine API version of the engine the live state was read from (None: not
    known): a write of a field it does not accept is blocked (`swarm.api_versions`)."""


Progress = Callable[[str], None]


def no_progress(_: str) -> None:
    return None


class ApplyContext:
    """What a kind's writer is handed: the client, progress lines, sleep, an ID cache and
    the answers asked once per plan run (`once`)."""

    def __init__(
        self,
        client: SwarmClient,
        ids: Callable[[str], Mapping[str, str]],
        progress: Progress = no_progress,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = client
        self.progress = progress
        self.sleep = sleep
        self._list_ids = ids
        self._ids: dict[str, Mapping[str, str]] = {}
        self._lock = threading.Lock()
        self._answers: dict[str, Any] = {}
        self._answers_lock = threading.Lock()

    def with_client(self, client: SwarmClient) -> ApplyContext:
        """The same context (one ID cache, listed once per plan run, and one set of
        `once` answers) for another worker's client: the workers of a concurrent apply
        each write on a connection of their own."""
        other = ApplyContext(client, self._list_ids, self.progress, self.sleep)
        other._ids = self._ids
        other._lock = self._lock
        other._answers = self._answers
        other._answers_lock = self._answers_lock
        return other

    def once(self, key: str, ask: Callable[[], Any]) -> Any:
        """``ask()``'s answer for ``key``, asked once per plan run (the registry's answer
        for an image tag that many services of the run use); workers asking at once wait
        for the one question. A question that raised is asked again next time."""
        with self._answers_lock:
            if key not in self._answers:
                self._answers[key] = ask()
            return self._answers[key]

    def ids(self, kind: str) -> Mapping[str, str]:
        """Name -> ID of every live object of ``kind``, listed once per plan run (workers
        asking at once wait for the one listing)."""
        with self._lock:
            if kind not in self._ids:
                self._ids[kind] = self._list_ids(kind)
            return self._ids[kind]

    def forget_ids(self, kind: str) -> None:
        """Objects of ``kind`` were created or removed: list them again when next asked."""
        with self._lock:
            self._ids.pop(kind, None)


@dataclass(frozen=True)
class Health:
    state: str
    """healthy | progressing | degraded | missing"""
    replicas: tuple[int, int] | None = None
    """(desired, running) for kinds that run tasks."""
    stuck: str | None = None
    """What the engine has stopped doing although the spec asks for it (a service left
    running more slots than its replicas), fixed by `Kind.nudge`; None when nothing is."""


@dataclass(frozen=True)
class Progressing:
    """Where an object stands while `engine.wait` waits for it."""

    line: str
    """What to print while waiting (printed again only when it changes)."""
    converged: bool
    failed: str | None = None
    """Why waiting is over without convergence."""
    message: str = ""
    """What to report once converged."""


def flag(manifest: Manifest, annotation: str) -> bool:
    return str(manifest.annotation(annotation) or "").lower() == "true"


def reconcile_disabled(manifest: Manifest | None) -> bool:
    return manifest is not None and (
        str(manifest.annotation(ANNOTATION_RECONCILE) or "").lower() == "disabled"
    )


def may_adopt(manifest: Manifest, options: PlanOptions) -> bool:
    return options.adopt or flag(manifest, ANNOTATION_ADOPT)


class Kind(ABC):
    """One kind of object: everything the engine and the daemon need to know about it."""

    name: ClassVar[str]
    model: ClassVar[type[Manifest]]
    event_type: ClassVar[str]
    """Docker's event ``Type`` for these objects (``service``, ``network``, ``node``)."""
    prunable: ClassVar[bool] = True
    """Managed objects of this kind that are no longer declared may be deleted."""
    sensitive: ClassVar[tuple[str, ...]] = ()
    """Paths (``spec.env``) whose values are never shown: a difference under one reads
    ``(changed)``, and a hash stands in for the value in JSON."""
    needs: ClassVar[tuple[str, ...]] = ()
    """Other kinds whose live objects `live` needs (a service names networks by ID)."""
    probed: ClassVar[bool] = False
    """Declared objects of this kind are probed by the daemon (overlay networks)."""
    waits: ClassVar[bool] = False
    """``apply --wait`` waits for objects of this kind to converge."""
    nodes_event: ClassVar[bool] = False
    """Its events change what the node metrics show (the daemon lists nodes again)."""

    # ------------------------------------------------------------------ reading

    def export_spec(self, obj: LiveObject) -> dict[str, Any] | None:
        """The spec `swarm-operator export` writes for a live object (fields at their
        default left out); None if it cannot be read as a manifest."""
        if obj.manifest is None:
            return None
        spec: dict[str, Any] = obj.manifest.spec.model_dump(
            mode="json", by_alias=True, exclude_defaults=True
        )
        return spec

    @abstractmethod
    def read_raw(self, client: SwarmClient, names: Collection[str] | None = None) -> list[JSON]:
        """The raw objects of this kind (only ``names`` if the kind can filter)."""

    @abstractmethod
    def live(self, raws: Mapping[str, Sequence[Raw]]) -> dict[str, LiveObject]:
        """This kind's live objects, by name, from the raw lists of every kind read."""

    def ids(self, raws: Sequence[Raw]) -> dict[str, str]:
        """Name -> ID of raw objects of this kind (network targets of a service spec)."""
        return {}

    def read_needed(
        self,
        desired: Collection[Manifest],
        raws: Mapping[str, Sequence[Raw]],
        options: PlanOptions,
    ) -> bool:
        """Whether a plan of ``desired`` lists this kind although no manifest declares it.

        A declared kind is always listed (`engine.live.read_for`); this answers for the
        others, given the kinds listed so far (``raws``) and what the user allowed. The
        default, yes: the plan reports managed objects of this kind that are no longer
        declared (or prunes them), so it must see them.
        """
        return True

    # ------------------------------------------------------------------ planning

    def differences(self, desired: Manifest, live: Manifest) -> tuple[Difference, ...]:
        d, lv = self.comparable(desired, live)
        return differences_of(lv, d, self.sensitive)

    @abstractmethod
    def comparable(self, desired: Manifest, live: Manifest) -> tuple[JSON, JSON]:
        """Both specs of one object in canonical form (`kinds.normalize`'s rules)."""

    @abstractmethod
    def plan(self, manifest: Manifest, live: LiveObject | None, ctx: PlanContext) -> Action:
        """The action for one declared object."""

    def followed_image(self, manifest: Manifest) -> FollowedImage | None:
        """The image tag whose registry digest this object follows (a service's
        ``imageUpdate``), resolved before planning (`engine.images`); None: none."""
        return None

    def prune_guard(
        self, obj: LiveObject, deleted: Collection[Key], ctx: PlanContext
    ) -> str | None:
        """Why this orphan must not be deleted now (``deleted``: keys the plan deletes)."""
        return None

    # ------------------------------------------------------------------ writing

    @abstractmethod
    def apply(self, action: Action, ctx: ApplyContext) -> str:
        """Carry one action out; return what was done. Raises the `swarm.errors` tree."""

    # ------------------------------------------------------------------ health

    def read_status(self, client: SwarmClient, live: LiveObject) -> Any:
        """What `health` needs beyond the live object, read fresh (a service's tasks)."""
        return None

    def read_all_status(self, client: SwarmClient, raws: Sequence[Raw]) -> dict[str, Any]:
        """`read_status` for every object of a resync pass, by object ID, in few calls."""
        return {}

    def health(self, live: LiveObject | None, status: Any, recently_applied: bool) -> Health:
        return Health("healthy" if live is not None else "missing")

    def nudge(self, client: SwarmClient, live: LiveObject) -> None:
        """Make the engine act on the object's spec again (only kinds whose `health`
        reports ``stuck`` have this): re-write the spec unchanged, at its version."""
        raise NotImplementedError(f"{self.name} never reports an engine stuck")

    def progress(self, client: SwarmClient, name: str, since: float, grace: bool) -> Progressing:
        """Where one object stands after an apply (`engine.wait`)."""
        return Progressing(f"{self.name} {name}: done", converged=True, message="done")

    def probe_config(self, manifest: Manifest) -> tuple[Any, str] | None:
        """(``spec.probe``, driver) of a declared object the daemon probes (`probed`)."""
        return None

    # ------------------------------------------------------------------ events

    def event_keys(self, name: str | None, declared: Collection[Key]) -> list[Key]:
        """The keys an engine event about ``name`` concerns."""
        return [(self.name, name)] if name else []
