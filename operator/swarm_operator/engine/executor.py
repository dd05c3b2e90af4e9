"""The executor: carries a `Plan` out through a `SwarmClient`, in the plan's order.

Owns the side effects of one plan: each runnable action is handed to its kind
(`Kind.apply`) with an `ApplyContext` (the client, progress lines, an ID cache listed
once per plan run). It decides nothing and retries nothing: an action that fails is
reported with Docker's own text and the classified error, so that the caller sees a
version conflict or a transient error as such (`Result.conflict`) and an invalid spec as
terminal (`Result.stalled`). Re-reading and re-planning after a conflict is
`engine.converge`'s, the one loop that does it. Blocked actions are reported, not run.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from swarm_operator.kinds import registry
from swarm_operator.kinds.base import (
    BLOCK_RECONCILE_DISABLED,
    Action,
    ApplyContext,
    Progress,
    no_progress,
)
from swarm_operator.swarm.client import SwarmClient
from swarm_operator.swarm.errors import (
    InvalidSpec,
    NetworkGone,
    SwarmOperatorError,
    Transient,
    VersionConflict,
)


@dataclass(frozen=True)
class Result:
    action: Action
    ok: bool
    message: str
    """What was done, or Docker's error text."""
    error: SwarmOperatorError | None = None

    @property
    def conflict(self) -> bool:
        """The object changed under us, the engine could not do it yet, or a network it names
        went away since the plan was made (being removed): re-read, re-plan."""
        return isinstance(self.error, VersionConflict | Transient | NetworkGone)

    @property
    def stalled(self) -> bool:
        """The engine rejects the spec itself: retrying cannot help until it changes."""
        return isinstance(self.error, InvalidSpec)

    def to_dict(self) -> dict[str, Any]:
        return {**self.action.to_dict(), "ok": self.ok, "message": self.message}


@dataclass
class Report:
    results: list[Result] = field(default_factory=list)
    waited: list[Result] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(r.ok for r in [*self.results, *self.waited])

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "results": [r.to_dict() for r in self.results],
            "wait": [r.to_dict() for r in self.waited],
        }


class Executor:
    """Carries actions out, each through its kind; one executor per thread (its client is
    one connection): a concurrent apply gives each worker its own (`worker`)."""

    def __init__(
        self,
        client: SwarmClient,
        progress: Progress = no_progress,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = client
        self.progress = progress
        self.sleep = sleep
        self.ctx = ApplyContext(client, self._list_ids, progress, sleep)

    def worker(self, client: SwarmClient) -> Executor:
        """An executor for one worker of a concurrent apply: its own client (connection),
        this executor's ID cache (listed once per plan run, whoever asks first)."""
        other = Executor(client, self.progress, self.sleep)
        other.ctx = self.ctx.with_client(client)
        return other

    def _list_ids(self, kind: str) -> Mapping[str, str]:
        k = registry.of(kind)
        return k.ids(k.read_raw(self.client))

    def execute(self, action: Action) -> Result:
        """Carry one action out (or say why not); never raises for the engine's errors."""
        if not action.changes:
            return Result(action, True, "nothing to do")
        if action.blocked == BLOCK_RECONCILE_DISABLED:
            return Result(action, True, f"left alone: {action.blocked}")
        if action.blocked:
            return Result(action, False, f"not done: {action.blocked}")
        kind = registry.of(action.kind)
        try:
            return Result(action, True, kind.apply(action, self.ctx))
        except VersionConflict as exc:
            return Result(action, False, f"version conflict: {exc.explanation}", exc)
        except SwarmOperatorError as exc:
            text = exc.explanation if isinstance(exc, InvalidSpec | Transient) else str(exc)
            return Result(action, False, text, exc)
