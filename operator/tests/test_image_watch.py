"""The daemon's image timer (`daemon.images.ImageWatch`), pure, on an injected clock: a key
is due once its tag's answer is an interval old (and not again within RETRY_AFTER while
its reconcile has not asked), a reconcile asks the registry only when the answer is old, a
failed question keeps the last digest, and ``observed`` tells a notify follower's move
once per reconcile (the controller says it once per digest) and keeps a digest
follower's coming roll for the report."""

from __future__ import annotations

from typing import Any

from engine_helpers import svc

from swarm_operator.daemon.images import RETRY_AFTER, ImageWatch, Moved
from swarm_operator.kinds.base import Key, LiveObject
from swarm_operator.swarm.errors import ApiError

IMAGE = "reg.test:5000/app:1"
A = "sha256:" + "a" * 64
B = "sha256:" + "b" * 64


class Registry:
    """Answers `image_digest` as the manager's distribution endpoint would."""

    def __init__(self) -> None:
        self.digest = A
        self.asked = 0
        self.down = False

    def image_digest(self, image: str) -> str:
        self.asked += 1
        if self.down:
            raise ApiError("unreachable", explanation="dial tcp: connection refused")
        return self.digest


def follower(name: str, policy: str, interval: str = "30s") -> Any:
    return svc(name, image=IMAGE, imageUpdate={"policy": policy, "interval": interval})


def live(name: str, image: str) -> LiveObject:
    spec = {"Name": name, "TaskTemplate": {"ContainerSpec": {"Image": image}}}
    return LiveObject("Service", name, "id-" + name, 1, {}, spec, None)


def test_due_after_an_interval_and_not_again_while_not_asked() -> None:
    now = [100.0]
    watch = ImageWatch(lambda: now[0])
    registry = Registry()
    m = follower("web", "digest")
    assert watch.due([m]) == [m.key]  # never asked
    assert watch.due([m]) == []  # enqueued a moment ago, not asked yet
    now[0] += RETRY_AFTER
    assert watch.due([m]) == [m.key]
    assert watch.digests(registry, m) == {IMAGE: A}  # the reconcile asks
    now[0] += 28.0
    assert watch.due([m]) == []
    assert watch.digests(registry, m) == {IMAGE: A} and registry.asked == 1  # the cached answer
    now[0] += 2.0
    assert watch.due([m]) == [m.key]
    registry.digest = B
    assert watch.digests(registry, m) == {IMAGE: B} and registry.asked == 2
    assert watch.due([svc("plain")]) == []  # not followed: never due


def test_one_question_per_image_whoever_follows_it() -> None:
    watch = ImageWatch(lambda: 0.0)
    registry = Registry()
    one, two = follower("one", "digest"), follower("two", "notify")
    assert watch.digests(registry, one) == watch.digests(registry, two) == {IMAGE: A}
    assert registry.asked == 1


def test_a_failed_question_keeps_the_last_digest() -> None:
    now = [0.0]
    watch = ImageWatch(lambda: now[0])
    registry = Registry()
    m = follower("web", "digest")
    assert watch.digests(registry, m) == {IMAGE: A}
    registry.down, now[0] = True, 60.0
    assert watch.digests(registry, m) == {IMAGE: A}  # nothing rolls because of it
    fresh = ImageWatch(lambda: 0.0)
    assert fresh.digests(registry, m) == {}


def test_observed_reports_a_notify_move_and_keeps_a_digest_roll() -> None:
    told: list[tuple[Key, Moved | None]] = []
    watch = ImageWatch(lambda: 0.0, on_moved=lambda key, moved: told.append((key, moved)))
    registry = Registry()
    registry.digest = B
    notify, digest = follower("n", "notify"), follower("d", "digest")
    watch.digests(registry, notify)
    watch.observed(notify, live("n", f"{IMAGE}@{A}"))
    assert told == [(notify.key, Moved(notify.key, IMAGE, A, B))]
    watch.observed(notify, live("n", f"{IMAGE}@{B}"))
    assert told[-1] == (notify.key, None)
    watch.observed(digest, live("d", f"{IMAGE}@{A}"))
    assert watch.rolled(digest.key) == Moved(digest.key, IMAGE, A, B)
    assert watch.rolled(digest.key) is None  # asked once
    watch.observed(notify, live("n", IMAGE))  # not pinned: what runs is unknown, no report
    assert len(told) == 2
