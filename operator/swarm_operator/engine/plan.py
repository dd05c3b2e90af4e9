"""The planner: desired manifests + live state -> an ordered list of actions. Pure.

Owns pairing (by ``(kind, name)``), the plan-wide guards (prune: refused when nothing is
declared, when a manifest failed to load, when more than ``--max-prune`` would go; the
reconcile-disabled annotation) and the order actions run in (`kinds.registry.rank`).
What one object's action is, with its field-level differences and its own guards (adopt,
network replace, last manager), is asked of its kind (`Kind.plan`, `Kind.prune_guard`);
nothing here names a kind. It never talks to Docker: `engine.executor` carries a `Plan`
out, `engine.live` reads the state it is given. Testable as plain tables.

Verbs:
- ``create``: declared, not in the Swarm.
- ``update``: declared, managed, differs (services, nodes).
- ``replace``: a managed network differs; networks have no update call, so the network
  is removed and recreated, detaching and reattaching the services in ``disrupts``.
  Also a service whose mode changes (replicated, global, the job modes): the engine
  refuses that in place ("service mode change is not allowed"), so it is removed and
  created again, all its tasks stopped. Either needs ``--allow-replace`` or the
  annotation ``swarm-operator/allow-replace: "true"``.
- ``adopt``: an object with the declared name exists without the ownership label. Taken
  over only with ``--adopt`` or ``swarm-operator/adopt: "true"``.
- ``rotate``: a Secret or Config whose content changed: a new version is created (and
  unused old ones removed, keeping the one before); the services mounting it roll onto
  it by their own ``update`` (listed in ``disrupts``).
- ``delete``: managed (labelled), no longer declared, and ``--prune`` given.
- ``noop``: nothing to do. ``missing``: a Node manifest names no node of the Swarm, or an
  external network does not exist (that one is blocked: an error, `Plan.unmet`).
An action that would be unsafe or was not allowed carries ``blocked`` (why) and is not
carried out; the plan still shows it. So does a write of a field the engine's API version
does not accept (`swarm.api_versions`; the version comes with the live state).
An update, adoption or replace of a service carries ``kept``: the live fields the manifest
language does not express, which its write keeps as they are (`kinds.service_fields`).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from swarm_operator.engine.live import LiveState
from swarm_operator.kinds import DEFAULT_MAX_PRUNE, registry
from swarm_operator.kinds.base import (
    BLOCK_RECONCILE_DISABLED,
    QUIET_VERBS,
    VERBS,
    Action,
    Key,
    LiveObject,
    PlanContext,
    PlanOptions,
    Verb,
    reconcile_disabled,
)
from swarm_operator.kinds.diff import Difference, diff
from swarm_operator.manifests.models import Manifest

__all__ = [
    "BLOCK_RECONCILE_DISABLED",
    "DEFAULT_MAX_PRUNE",
    "QUIET_VERBS",
    "VERBS",
    "Action",
    "DesiredIndex",
    "Difference",
    "Plan",
    "PlanOptions",
    "Verb",
    "diff",
    "differences",
    "plan",
]


@dataclass(frozen=True)
class Plan:
    actions: tuple[Action, ...]
    refusals: tuple[str, ...] = ()
    """Plan-wide guards that tripped (prune refused): nothing of that kind is done."""
    notes: tuple[str, ...] = field(default=())
    unread: tuple[str, ...] = ()
    """Prunable kinds the live state did not list (`engine.live.read_for`: nothing declared
    or used them, and no --prune): leftovers of those kinds are not in ``notes``."""

    @property
    def pending(self) -> tuple[Action, ...]:
        return tuple(a for a in self.actions if a.changes)

    @property
    def blocked(self) -> tuple[Action, ...]:
        return tuple(a for a in self.actions if a.changes and a.blocked)

    @property
    def unmet(self) -> tuple[Action, ...]:
        """Blocked actions that change nothing: something declared must exist and does not
        (an external network). plan and apply fail while there is one."""
        return tuple(a for a in self.actions if not a.changes and a.blocked)

    @property
    def runnable(self) -> tuple[Action, ...]:
        return tuple(a for a in self.actions if a.changes and not a.blocked)

    def to_dict(self) -> dict[str, Any]:
        counts = {verb: 0 for verb in VERBS}
        for action in self.actions:
            counts[action.verb] += 1
        return {
            "actions": [a.to_dict() for a in self.actions],
            "refusals": list(self.refusals),
            "notes": list(self.notes),
            "unread": list(self.unread),
            "summary": {
                **counts,
                "blocked": len(self.blocked),
                "pending": len(self.pending),
                "unmet": len(self.unmet),
            },
        }


class DesiredIndex:
    """Desired manifests by key, built once per load and shared by every per-key plan.

    A per-key plan (the daemon plans one key per reconcile) then costs what that key costs,
    not what the whole directory costs: without it, each of N reconciles sorted and scanned
    all N manifests, and a resync pass of 2,000 services grew as N squared.
    """

    __slots__ = ("by_key",)

    def __init__(self, manifests: Iterable[Manifest]) -> None:
        self.by_key: dict[Key, Manifest] = {}
        for m in manifests:
            self.by_key.setdefault(m.key, m)

    def __len__(self) -> int:
        return len(self.by_key)

    def __iter__(self) -> Iterator[Manifest]:
        return iter(self.by_key.values())


Desired = Sequence[Manifest] | DesiredIndex
"""What `plan` takes: a list of manifests, or an index of them built beforehand."""


def differences(desired: Manifest, live: Manifest) -> tuple[Difference, ...]:
    """What differs between a manifest and a live object of its kind (normalised)."""
    return registry.of_manifest(desired).differences(desired, live)


def _order(action: Action) -> tuple[int, str]:
    return (registry.rank(action.kind, deleting=action.verb == "delete"), action.name)


def _candidates(live: LiveState, wanted: set[Key] | None) -> list[LiveObject]:
    """The live objects of prunable kinds: all of them, or only those of ``wanted``."""
    if wanted is None:
        return [obj for kind in registry.prunable() for obj in live.of(kind.name).values()]
    prunable = {kind.name for kind in registry.prunable()}
    found = (live.get(key) for key in wanted if key[0] in prunable)
    return [obj for obj in found if obj is not None]


def _prune(
    desired: DesiredIndex,
    ctx: PlanContext,
    live: LiveState,
    wanted: set[Key] | None,
) -> tuple[list[Action], list[str], list[str]]:
    """Delete actions for managed, undeclared objects, or the reason pruning is refused."""
    options = ctx.options
    orphans = [
        obj for obj in _candidates(live, wanted) if obj.managed and obj.key not in desired.by_key
    ]
    notes: list[str] = []
    protected = [o for o in orphans if o.protected]
    orphans = [o for o in orphans if not o.protected]
    for obj in protected:
        notes.append(
            f"{obj.kind} {obj.name}: no longer declared, kept (label swarm-operator/protect=true)"
        )
    if not orphans:
        return [], [], notes
    names = ", ".join(f"{o.kind} {o.name}" for o in orphans)
    if not options.prune:
        notes.append(f"managed but no longer declared (apply --prune deletes them): {names}")
        return [], [], notes
    refusals: list[str] = []
    if not desired:
        refusals.append(
            "prune refused: the manifest directory declares no objects (empty, missing or "
            f"unreadable?); nothing deleted. It would have deleted: {names}"
        )
    refusals.extend(f"prune refused: {why}; nothing deleted" for why in options.prune_blockers)
    if len(orphans) > options.max_prune:
        refusals.append(
            f"prune refused: it would delete {len(orphans)} objects, more than --max-prune "
            f"{options.max_prune}; nothing deleted ({names})"
        )
    if refusals:
        return [], refusals, notes
    deleted = {o.key for o in orphans}
    actions: list[Action] = []
    for obj in orphans:
        action = Action("delete", obj.kind, obj.name, "managed and no longer declared", live=obj)
        why = registry.of(obj.kind).prune_guard(obj, deleted, ctx)
        actions.append(action.block(why) if why else action)
    return actions, [], notes


def plan(
    desired: Desired,
    live: LiveState,
    options: PlanOptions,
    keys: Collection[Key] | None = None,
) -> Plan:
    """Pair ``desired`` with ``live`` and return the ordered actions (only for ``keys``).

    With ``keys``, only those keys are looked at, so the cost does not grow with the size
    of ``desired`` once it is a `DesiredIndex`.
    """
    wanted = set(keys) if keys is not None else None
    index = desired if isinstance(desired, DesiredIndex) else DesiredIndex(desired)
    if wanted is None:
        selected = list(index)
    else:
        selected = [index.by_key[k] for k in wanted if k in index.by_key]
    ctx = PlanContext(options, live.of, desired=index.by_key.get, api_version=live.api_version)
    actions: list[Action] = []
    for m in sorted(selected, key=lambda m: (registry.rank(m.kind), m.name)):
        action = registry.of_manifest(m).plan(m, live.get(m.key), ctx)
        if action.changes and not action.blocked and reconcile_disabled(m):
            action = action.block(BLOCK_RECONCILE_DISABLED)
        actions.append(action)
    deletes, refusals, notes = _prune(index, ctx, live, wanted)
    actions.extend(deletes)
    actions.sort(key=_order)
    unread: tuple[str, ...] = ()
    if wanted is None:
        unread = tuple(k.name for k in registry.prunable() if k.name not in live.listed)
    return Plan(tuple(actions), tuple(refusals), tuple(notes), unread)
