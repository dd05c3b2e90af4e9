"""The planner: desired manifests + live state -> an ordered list of actions. Pure.

Owns pairing (by ``(kind, name)``), field-level diffing (after `normalize.py`), the
safety guards (adopt, prune, network replace, last manager) and the order actions run
in. It never talks to Docker: `executor.py` carries a `Plan` out, `live.py` reads the
state it is given. Everything here is testable as plain tables.

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
- ``delete``: managed (labelled), no longer declared, and ``--prune`` given.
- ``noop``: nothing to do. ``missing``: a Node manifest names no node of the Swarm.
An action that would be unsafe or was not allowed carries ``blocked`` (why) and is not
carried out; the plan still shows it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from swarm_operator import normalize
from swarm_operator.live import LiveObject, LiveState
from swarm_operator.models import (
    ANNOTATION_ADOPT,
    ANNOTATION_ALLOW_REPLACE,
    ANNOTATION_RECONCILE,
    Manifest,
    Network,
    Node,
    Service,
)

Verb = Literal["create", "update", "replace", "delete", "adopt", "noop", "missing"]
VERBS: tuple[str, ...] = ("create", "update", "replace", "delete", "adopt", "noop", "missing")
QUIET_VERBS = frozenset({"noop", "missing"})
DEFAULT_MAX_PRUNE = 5
BLOCK_RECONCILE_DISABLED = "reconcile disabled by annotation swarm-operator/reconcile"
"""Shown as drift, deliberately left alone: not a failure of apply."""


@dataclass(frozen=True)
class Difference:
    """One field that differs: ``path: before -> after`` (before = live, after = desired)."""

    path: str
    before: Any
    after: Any

    def __str__(self) -> str:
        return f"{self.path}: {_show(self.before)} -> {_show(self.after)}"

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "before": self.before, "after": self.after}


def _show(value: Any) -> str:
    if value is None:
        return "(unset)"
    return json.dumps(value, default=str)


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
    """Network replace/adopt: the services detached and reattached."""

    @property
    def key(self) -> tuple[str, str]:
        return (self.kind, self.name)

    @property
    def changes(self) -> bool:
        return self.verb not in QUIET_VERBS

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.verb,
            "kind": self.kind,
            "name": self.name,
            "reason": self.reason,
            "differences": [d.to_dict() for d in self.differences],
            "blocked": self.blocked,
            "disrupts": list(self.disrupts),
        }


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


@dataclass(frozen=True)
class Plan:
    actions: tuple[Action, ...]
    refusals: tuple[str, ...] = ()
    """Plan-wide guards that tripped (prune refused): nothing of that kind is done."""
    notes: tuple[str, ...] = field(default=())

    @property
    def pending(self) -> tuple[Action, ...]:
        return tuple(a for a in self.actions if a.changes)

    @property
    def blocked(self) -> tuple[Action, ...]:
        return tuple(a for a in self.actions if a.changes and a.blocked)

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
            "summary": {**counts, "blocked": len(self.blocked), "pending": len(self.pending)},
        }


# --------------------------------------------------------------------------- diff

_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def _child(path: str, key: str) -> str:
    return f"{path}.{key}" if _PLAIN_KEY.match(key) else f"{path}[{key!r}]"


def diff(before: Any, after: Any, path: str = "spec") -> list[Difference]:
    """Field-level differences between two JSON-like values, deepest paths first."""
    if before == after:
        return []
    if isinstance(before, dict) and isinstance(after, dict):
        out: list[Difference] = []
        for key in sorted(set(before) | set(after)):
            out.extend(diff(before.get(key), after.get(key), _child(path, str(key))))
        return out
    if (
        isinstance(before, list)
        and isinstance(after, list)
        and len(before) == len(after)
        and all(isinstance(x, dict) for x in before + after)
    ):
        out = []
        for index, (b, a) in enumerate(zip(before, after, strict=True)):
            out.extend(diff(b, a, f"{path}[{index}]"))
        return out
    return [Difference(path, before, after)]


def _creation_fields(manifest: Manifest) -> tuple[Difference, ...]:
    spec = manifest.spec.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    if isinstance(manifest, Service):
        spec.setdefault("image", manifest.spec.image)
    return tuple(d for k, v in sorted(spec.items()) for d in diff(None, v, _child("spec", k)))


def differences(desired: Manifest, live: Manifest) -> tuple[Difference, ...]:
    d, lv = normalize.comparable(desired, live)
    return tuple(diff(lv, d))


# --------------------------------------------------------------------------- planning


def _flag(manifest: Manifest, annotation: str) -> bool:
    return str(manifest.annotation(annotation) or "").lower() == "true"


def _reconcile_disabled(manifest: Manifest) -> bool:
    return str(manifest.annotation(ANNOTATION_RECONCILE) or "").lower() == "disabled"


def _unreadable(manifest: Manifest, live: LiveObject) -> Action:
    return Action(
        "update" if live.managed else "adopt",
        manifest.kind,
        manifest.name,
        f"{live.read_error}; the manifest will be written in full",
        desired=manifest,
        live=live,
    )


def _plan_service(m: Service, live: LiveObject | None, opts: PlanOptions) -> Action:
    if live is None:
        return Action("create", m.kind, m.name, "not in the Swarm", _creation_fields(m), m)
    if live.manifest is None:
        action = _unreadable(m, live)
    else:
        diffs = differences(m, live.manifest)
        live_mode = live.manifest.spec.mode if isinstance(live.manifest, Service) else None
        if live.managed and live_mode is not None and live_mode != m.spec.mode:
            action = Action(
                "replace",
                m.kind,
                m.name,
                f"a service's mode cannot be changed in place ({live_mode} -> {m.spec.mode}): "
                "remove and recreate",
                diffs,
                m,
                live,
                disrupts=(m.name,),
            )
            if not (opts.allow_replace or _flag(m, ANNOTATION_ALLOW_REPLACE)):
                return _block(
                    action,
                    'needs --allow-replace (or annotation swarm-operator/allow-replace: "true"); '
                    f"every task of {m.name} is stopped and started again",
                )
            return action
        if live.managed:
            if not diffs:
                return Action("noop", m.kind, m.name, "up to date", desired=m, live=live)
            action = Action("update", m.kind, m.name, "live spec differs", diffs, m, live)
        else:
            action = Action(
                "adopt",
                m.kind,
                m.name,
                "a service with this name exists without the swarm-operator label",
                diffs,
                m,
                live,
            )
    if action.verb == "adopt" and not (opts.adopt or _flag(m, ANNOTATION_ADOPT)):
        action = _block(
            action, 'not taken over: pass --adopt or annotate swarm-operator/adopt: "true"'
        )
    return action


def _plan_network(m: Network, live: LiveObject | None, opts: PlanOptions) -> Action:
    if live is None:
        return Action("create", m.kind, m.name, "not in the Swarm", _creation_fields(m), m)
    allow_replace = opts.allow_replace or _flag(m, ANNOTATION_ALLOW_REPLACE)
    if live.manifest is None:
        diffs: tuple[Difference, ...] = ()
        reason = f"{live.read_error}; it must be recreated"
    else:
        diffs = differences(m, live.manifest)
        reason = "networks cannot be changed in place: remove and recreate"
    if live.manifest is not None and not diffs:
        if live.managed:
            return Action("noop", m.kind, m.name, "up to date", desired=m, live=live)
        return Action(
            "noop",
            m.kind,
            m.name,
            "exists without the swarm-operator label and matches; Docker cannot relabel a "
            "network in place, so it is used as is and never pruned",
            desired=m,
            live=live,
        )
    if live.managed:
        action = Action("replace", m.kind, m.name, reason, diffs, m, live, disrupts=live.used_by)
    else:
        action = Action(
            "adopt",
            m.kind,
            m.name,
            "a network with this name exists without the swarm-operator label and differs; "
            "adopting it means recreating it",
            diffs,
            m,
            live,
            disrupts=live.used_by,
        )
        if not (opts.adopt or _flag(m, ANNOTATION_ADOPT)):
            return _block(
                action, 'not taken over: pass --adopt or annotate swarm-operator/adopt: "true"'
            )
    if not allow_replace:
        users = ", ".join(live.used_by) or "none"
        return _block(
            action,
            'needs --allow-replace (or annotation swarm-operator/allow-replace: "true"); '
            f"services disrupted: {users}",
        )
    return action


def _is_active_manager(node: LiveObject) -> bool:
    st = node.node
    return (
        st is not None
        and st.role == "manager"
        and st.availability == "active"
        and st.state == "ready"
        and st.reachability in ("reachable", None)
    )


def _plan_node(m: Node, live: LiveObject | None, state: LiveState, leaving: set[str]) -> Action:
    if live is None or live.manifest is None:
        return Action(
            "missing",
            m.kind,
            m.name,
            f"no node with hostname {m.name!r} is in the Swarm",
            desired=m,
        )
    diffs = differences(m, live.manifest)
    if not diffs:
        return Action("noop", m.kind, m.name, "up to date", desired=m, live=live)
    action = Action("update", m.kind, m.name, "live node spec differs", diffs, m, live)
    role = m.spec.role or (live.node.role if live.node else None)
    availability = m.spec.availability or (live.node.availability if live.node else None)
    if _is_active_manager(live) and (role != "manager" or availability != "active"):
        others = [
            n.name
            for n in state.nodes.values()
            if n.name != live.name and n.name not in leaving and _is_active_manager(n)
        ]
        if not others:
            what = "demote" if role != "manager" else f"set availability {availability!r} on"
            return _block(action, f"refused: would {what} the last active manager")
        leaving.add(live.name)
    return action


def _block(action: Action, why: str) -> Action:
    return Action(
        action.verb,
        action.kind,
        action.name,
        action.reason,
        action.differences,
        action.desired,
        action.live,
        blocked=why,
        disrupts=action.disrupts,
    )


_KIND_RANK = {"Node": 0, "Network": 1, "Service": 2}


def _order(action: Action) -> tuple[int, str]:
    if action.verb == "delete":
        rank = 3 if action.kind == "Service" else 4
    else:
        rank = _KIND_RANK.get(action.kind, 5)
    return (rank, action.name)


def _prune(
    desired: Sequence[Manifest],
    declared: set[tuple[str, str]],
    live: LiveState,
    options: PlanOptions,
    wanted: set[tuple[str, str]] | None,
) -> tuple[list[Action], list[str], list[str]]:
    """Delete actions for managed, undeclared objects, or the reason pruning is refused."""
    orphans = [
        obj
        for obj in [*live.networks.values(), *live.services.values()]
        if obj.managed and obj.key not in declared and (wanted is None or obj.key in wanted)
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
    deleted = {o.name for o in orphans if o.kind == "Service"}
    actions: list[Action] = []
    for obj in orphans:
        action = Action("delete", obj.kind, obj.name, "managed and no longer declared", live=obj)
        if obj.kind == "Network":
            users = [s for s in obj.used_by if s not in deleted]
            if users:
                unmanaged = [
                    s for s in users if not (live.services.get(s) and live.services[s].managed)
                ]
                detail = ", ".join(users)
                if unmanaged:
                    detail += f" (not managed here: {', '.join(unmanaged)})"
                action = _block(action, f"refused: network still used by services {detail}")
        actions.append(action)
    return actions, [], notes


def plan(
    desired: Sequence[Manifest],
    live: LiveState,
    options: PlanOptions,
    keys: Collection[tuple[str, str]] | None = None,
) -> Plan:
    """Pair ``desired`` with ``live`` and return the ordered actions (only for ``keys``)."""
    wanted = set(keys) if keys is not None else None
    declared = {m.key for m in desired}
    actions: list[Action] = []
    leaving: set[str] = set()
    for m in sorted(desired, key=lambda m: (_KIND_RANK.get(m.kind, 5), m.name)):
        if wanted is not None and m.key not in wanted:
            continue
        current = live.get(m.key)
        action: Action
        if isinstance(m, Service):
            action = _plan_service(m, current, options)
        elif isinstance(m, Network):
            action = _plan_network(m, current, options)
        else:
            action = _plan_node(m, current, live, leaving)
        if action.changes and not action.blocked and _reconcile_disabled(m):
            action = _block(action, BLOCK_RECONCILE_DISABLED)
        actions.append(action)
    deletes, refusals, notes = _prune(desired, declared, live, options, wanted)
    actions.extend(deletes)
    actions.sort(key=_order)
    return Plan(tuple(actions), tuple(refusals), tuple(notes))
