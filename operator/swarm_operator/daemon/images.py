"""Image updates in the daemon: when each service that follows its image tag
(``imageUpdate``) is due, and the last answer of the registry about each tag.

Level-triggered like everything else here: the supervisor's timer only enqueues the keys
whose interval has passed (`ImageWatch.due`); the reconcile of a key asks the registry
again only if its last answer is older than the interval (`ImageWatch.digests`, through
`engine.images.resolve`: the manager's distribution endpoint, with the registry
credentials), hands the answer to the planner (policy ``digest`` plans the roll), and
tells `ImageWatch.observed` what the live service runs, which reports a moved tag of
policy ``notify`` through ``on_moved`` (metric, log, notification: the controller's).
A missed tick costs nothing: any later reconcile of the key asks when the answer is old.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from swarm_operator.engine.images import followed, resolve
from swarm_operator.kinds import registry
from swarm_operator.kinds.base import FollowedImage, Key, LiveObject
from swarm_operator.manifests.models import Manifest
from swarm_operator.observe import logs

if TYPE_CHECKING:
    from swarm_operator.swarm.client import SwarmClient

log = logs.get_logger("swarm_operator.daemon")

RETRY_AFTER = 10.0
"""Seconds before the timer enqueues a key again whose reconcile did not ask (yet)."""


@dataclass(frozen=True)
class Answer:
    at: float
    """Monotonic time of the question."""
    digest: str | None
    """The tag's digest then (the last known one if that question failed)."""
    error: str | None = None


@dataclass(frozen=True)
class Moved:
    """A followed tag of policy notify names another digest than the service runs."""

    key: Key
    image: str
    running: str
    """The digest the live service is pinned to."""
    digest: str
    """The digest the tag names now."""

    def __str__(self) -> str:
        return f"{self.image} now names {self.digest}; the service runs {self.running}"


class ImageWatch:
    def __init__(
        self,
        clock: Callable[[], float],
        on_moved: Callable[[Key, Moved | None], None] = lambda _key, _moved: None,
    ) -> None:
        self._clock = clock
        self._on_moved = on_moved
        self._lock = threading.Lock()
        self._answers: dict[str, Answer] = {}
        self._enqueued: dict[Key, float] = {}
        self._rolling: dict[Key, Moved] = {}

    def due(self, manifests: Iterable[Manifest]) -> list[Key]:
        """Keys of followers whose tag was last asked about an interval ago or more."""
        now = self._clock()
        keys: list[Key] = []
        with self._lock:
            for image, users in followed(manifests).items():
                answer = self._answers.get(image)
                for m, follow in users:
                    if answer is not None and now - answer.at < follow.interval:
                        continue
                    if now - self._enqueued.get(m.key, -RETRY_AFTER) < RETRY_AFTER:
                        continue
                    self._enqueued[m.key] = now
                    keys.append(m.key)
        return keys

    def digests(self, client: SwarmClient, manifest: Manifest | None) -> Mapping[str, str]:
        """``{image: digest}`` for the planner: the registry's answer for the image
        ``manifest`` follows, asked again if older than its interval; {} otherwise."""
        follow = _follow(manifest)
        if follow is None:
            return {}
        now = self._clock()
        with self._lock:
            answer = self._answers.get(follow.image)
        if answer is None or now - answer.at >= follow.interval - 1.0:
            found, problems = resolve(client, [follow.image])
            digest = found.get(follow.image)
            error = problems[0] if problems else None
            if error is not None:
                log.warning("image tag not resolved", image=follow.image, error=error)
            answer = Answer(now, digest or (answer.digest if answer else None), error)
            with self._lock:
                self._answers[follow.image] = answer
        return {follow.image: answer.digest} if answer.digest else {}

    def observed(self, manifest: Manifest | None, live: LiveObject | None) -> Moved | None:
        """What the reconcile read live: a notify follower that runs an older digest is
        reported (``on_moved``, and returned for its status); a digest follower's coming
        roll is kept for `rolled`."""
        follow = _follow(manifest)
        if manifest is None or follow is None or live is None:
            return None
        with self._lock:
            answer = self._answers.get(follow.image)
        task = live.spec.get("TaskTemplate") or {}
        running = str((task.get("ContainerSpec") or {}).get("Image", "")).partition("@")[2]
        if answer is None or not answer.digest or not running:
            return None
        moved = None
        if running != answer.digest:
            moved = Moved(manifest.key, follow.image, running, answer.digest)
        if follow.policy == "notify":
            self._on_moved(manifest.key, moved)
            return moved
        with self._lock:
            if moved is None:
                self._rolling.pop(manifest.key, None)
            else:
                self._rolling[manifest.key] = moved
        return None

    def rolled(self, key: Key) -> Moved | None:
        """The move a digest follower's last reconcile found (so its write was the roll
        onto the new digest, not a correction of drift); asked once, after the write."""
        with self._lock:
            return self._rolling.pop(key, None)


def _follow(manifest: Manifest | None) -> FollowedImage | None:
    return None if manifest is None else registry.of_manifest(manifest).followed_image(manifest)
