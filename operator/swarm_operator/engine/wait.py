"""Waiting after an apply until what was written has converged (``apply --wait``).

Owns the polling loop: each object asked for is looked at through its kind
(`Kind.progress`: a service's tasks running at its current spec version, its update
done), a progress line is printed when it changes, and each ends converged, failed (with
the engine's reasons) or timed out. Kind-agnostic; clock and sleep are injected.
Neighbours: `cli.apply` calls it; the kinds say where their objects stand.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from swarm_operator.kinds import registry
from swarm_operator.kinds.base import Key, Progress, no_progress
from swarm_operator.swarm.client import SwarmClient
from swarm_operator.swarm.errors import SwarmOperatorError


def wait_for(
    client: SwarmClient,
    keys: Sequence[Key],
    since: float,
    timeout: float,
    progress: Progress = no_progress,
    poll: float = 1.0,
    pending_grace: float = 10.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    tally: Callable[[int, int, int], None] | None = None,
) -> list[tuple[Key, bool, str]]:
    """Wait until every object of ``keys`` converged; return (key, ok, message) for each.

    ``tally(converged, failed, total)``, if given, is called after every poll round (a
    terminal shows it as one updating line); each object's own line still goes to
    ``progress`` when it changes."""
    start = clock()
    todo = list(keys)
    done: dict[Key, tuple[bool, str]] = {}
    last_line: dict[Key, str] = {}
    while todo:
        for key in list(todo):
            kind, name = key
            try:
                state = registry.of(kind).progress(
                    client, name, since, clock() - start < pending_grace
                )
            except SwarmOperatorError as exc:
                done[key] = (False, f"cannot read: {exc}")
                todo.remove(key)
                continue
            if state.line != last_line.get(key):
                progress(state.line)
                last_line[key] = state.line
            if state.failed:
                done[key] = (False, state.failed)
                todo.remove(key)
            elif state.converged:
                done[key] = (True, state.message or state.line)
                todo.remove(key)
        if tally is not None:
            converged = sum(1 for ok, _ in done.values() if ok)
            tally(converged, len(done) - converged, len(keys))
        if not todo:
            break
        if clock() - start > timeout:
            for key in todo:
                done[key] = (False, f"timed out after {timeout:g}s: {last_line.get(key, '')}")
            break
        sleep(poll)
    return [(key, *done[key]) for key in keys]
