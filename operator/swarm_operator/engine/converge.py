"""The one read -> plan -> execute loop, with bounded re-plans. Used by apply and the daemon.

Owns what happens when the Swarm moves under a plan: an action the executor reports as a
conflict (`Result.conflict`: a version conflict, someone changed the object since it was
read; a transient error, Raft did not commit in time or a member is not in the Raft
group yet; or "network not found", the plan was made while a network it names was being
removed) makes this loop re-read that one object, plan it again and carry the new action
out. Version conflicts and vanished networks are re-planned at most
``MAX_CONFLICT_RETRIES`` times each (a network a second apart), a transient error for at
most ``TRANSIENT_TIMEOUT`` seconds (one second apart); an object
is never overwritten on the word of an old read. Everything else the executor reports
is final. The clock and sleep are injected.

Neighbours: `engine.plan` (plans), `engine.live` (reads), `engine.executor` (writes);
callers: `cli.apply` and `daemon.reconciler`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from swarm_operator.engine.executor import Executor, Report, Result
from swarm_operator.engine.live import read_live
from swarm_operator.engine.plan import Plan, PlanOptions, plan
from swarm_operator.kinds.base import Action, Progress, no_progress
from swarm_operator.manifests.models import Manifest
from swarm_operator.swarm.client import SwarmClient
from swarm_operator.swarm.errors import NetworkGone, VersionConflict

MAX_CONFLICT_RETRIES = 3
TRANSIENT_TIMEOUT = 60.0


def apply_plan(
    client: SwarmClient,
    desired: Sequence[Manifest],
    options: PlanOptions,
    the_plan: Plan,
    progress: Progress = no_progress,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    executor: Executor | None = None,
) -> Report:
    """Carry ``the_plan`` out in its order, re-planning an object after a conflict.

    ``executor``: one that already carried out part of this plan run (its ID cache)."""
    executor = executor or Executor(client, progress, sleep)
    report = Report()
    for action in the_plan.actions:
        if action.changes:
            report.results.append(
                carry_out(executor, desired, options, action, progress, sleep, clock)
            )
    return report


def carry_out(
    executor: Executor,
    desired: Sequence[Manifest],
    options: PlanOptions,
    action: Action,
    progress: Progress = no_progress,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> Result:
    """One action, and its re-plans while the executor reports a conflict."""
    current = action
    conflicts = 0
    gone = 0
    deadline = clock() + TRANSIENT_TIMEOUT
    while True:
        result = executor.execute(current)
        if result.ok or not result.conflict:
            return result
        what = f"{current.kind} {current.name}"
        if isinstance(result.error, VersionConflict):
            conflicts += 1
            if conflicts > MAX_CONFLICT_RETRIES:
                return Result(
                    current,
                    False,
                    f"gave up after {conflicts} version conflicts: {result.message}",
                    result.error,
                )
            progress(
                f"{what}: changed while we worked ({result.message}); re-reading and re-planning"
            )
        elif isinstance(result.error, NetworkGone):
            gone += 1
            if gone > MAX_CONFLICT_RETRIES:
                return result
            progress(f"{what}: a network it names went away ({result.message}); re-reading")
            sleep(1.0)
        else:
            if clock() > deadline:
                return result
            progress(f"{what}: not yet ({result.message})")
            sleep(1.0)
        replanned = plan(
            desired, read_live(executor.client, keys=[current.key]), options, keys=[current.key]
        )
        found = [a for a in replanned.actions if a.key == current.key]
        if not found or not found[0].changes:
            return Result(current, True, "already up to date after re-reading")
        if found[0].blocked:
            return Result(found[0], False, f"not done: {found[0].blocked}")
        current = found[0]
