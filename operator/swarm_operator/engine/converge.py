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

Independent writes run concurrently (``parallelism`` workers, each with a connection of
its own, `SwarmClient.clone`): the plan's actions are cut into waves in plan order
(`waves`); the actions of one wave run at once, a wave starts when the one before it has
ended. A wave is a run of consecutive actions of one kind whose writes do not depend on
each other: node updates, network creates, creates and updates of services (the networks
they use were created by an earlier wave), service deletes (before the network deletes
of a later wave). A network replace or delete, which touches the services on it, runs
alone. Results come back in plan order, one per action, as the sequential run gives them;
an action that fails does not stop the others of its wave.

Neighbours: `engine.plan` (plans), `engine.live` (reads), `engine.executor` (writes);
callers: `cli.apply` and `daemon.reconciler`.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from swarm_operator.engine.executor import Executor, Report, Result
from swarm_operator.engine.live import read_live
from swarm_operator.engine.plan import Desired, DesiredIndex, Plan, PlanOptions, plan
from swarm_operator.kinds.base import Action, Progress, no_progress
from swarm_operator.swarm.client import SwarmClient
from swarm_operator.swarm.errors import NetworkGone, VersionConflict

MAX_CONFLICT_RETRIES = 3
TRANSIENT_TIMEOUT = 60.0

# (kind, verb) pairs whose actions are independent of each other within one wave.
_CONCURRENT = frozenset(
    {
        ("Service", "create"),
        ("Service", "update"),
        ("Service", "adopt"),
        ("Service", "delete"),
        ("Node", "update"),
        ("Node", "adopt"),
        ("Network", "create"),
    }
)


def waves(actions: Sequence[Action]) -> list[list[Action]]:
    """Cut ``actions`` (in plan order) into waves that may each run concurrently: runs of
    consecutive actions of one kind, deletes apart from the rest, only of the verbs in
    ``_CONCURRENT``; any other action is a wave of its own. Pure."""
    out: list[list[Action]] = []
    last: tuple[str, bool] | None = None
    for action in actions:
        group = (action.kind, action.verb == "delete")
        if (action.kind, action.verb) in _CONCURRENT and group == last and out:
            out[-1].append(action)
        else:
            out.append([action])
        last = group if (action.kind, action.verb) in _CONCURRENT else None
    return out


def apply_plan(
    client: SwarmClient,
    desired: Desired,
    options: PlanOptions,
    the_plan: Plan,
    progress: Progress = no_progress,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    executor: Executor | None = None,
    parallelism: int = 1,
) -> Report:
    """Carry ``the_plan`` out in its order, re-planning an object after a conflict.

    ``executor``: one that already carried out part of this plan run (its ID cache).
    ``parallelism``: how many actions of one wave run at once (`waves`), each worker on a
    connection of its own (``client.clone()``); 1 runs everything in order on ``client``."""
    executor = executor or Executor(client, progress, sleep)
    if not isinstance(desired, DesiredIndex):
        desired = DesiredIndex(desired)  # once, not at every re-plan after a conflict
    report = Report()
    runnable = [a for a in the_plan.actions if a.changes]

    def one(ex: Executor, action: Action) -> Result:
        return carry_out(ex, desired, options, action, progress, sleep, clock)

    if parallelism <= 1 or len(runnable) <= 1:
        report.results.extend(one(executor, action) for action in runnable)
        return report
    idle: queue.SimpleQueue[Executor] = queue.SimpleQueue()
    clones: list[SwarmClient] = []

    def on_a_worker(action: Action) -> Result:
        try:
            ex = idle.get_nowait()
        except queue.Empty:
            clone = client.clone()
            clones.append(clone)
            ex = executor.worker(clone)
        try:
            return one(ex, action)
        finally:
            idle.put(ex)

    try:
        with ThreadPoolExecutor(max_workers=parallelism, thread_name_prefix="apply") as pool:
            for wave in waves(runnable):
                if len(wave) == 1:
                    report.results.append(one(executor, wave[0]))
                else:
                    report.results.extend(pool.map(on_a_worker, wave))
    finally:
        for clone in clones:
            clone.close()
    return report


def carry_out(
    executor: Executor,
    desired: Desired,
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
