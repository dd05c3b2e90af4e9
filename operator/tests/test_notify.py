"""Notifications through Apprise to a real HTTP receiver on loopback (json://)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from receiver import Receiver

from swarm_operator.observe.notify import Notifier, apprise_sender, object_counts


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.stop()


def wait_until(predicate: object, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(predicate) and predicate():
            return
        time.sleep(0.05)
    raise AssertionError("timed out")


def test_a_flapping_failure_is_sent_exactly_once(receiver: Receiver) -> None:
    results: list[str] = []
    notifier = Notifier(apprise_sender([receiver.url]), cooldown=600, on_result=results.append)
    notifier.start()
    try:
        for _ in range(30):  # fails, recovers, fails again... within the cooldown
            notifier.problem("sync:Service/web", "sync failed: Service/web", "boom")
            notifier.problem("sync:Service/web", "sync failed: Service/web", "boom")
            notifier.resolved("sync:Service/web")
        notifier.event("revision:abc", "revision abc applied", object_counts(["Service"]))
        notifier.event("revision:abc", "revision abc applied", "again")
    finally:
        notifier.stop()
    assert receiver.titles() == ["sync failed: Service/web", "revision abc applied"]
    message = receiver.messages[0]
    assert message["message"] == "boom" and message["type"] == "failure"
    assert results.count("sent") == 2 and results.count("suppressed") >= 29


def test_a_problem_is_sent_again_after_the_cooldown(receiver: Receiver) -> None:
    now = [0.0]
    notifier = Notifier(apprise_sender([receiver.url]), cooldown=60, clock=lambda: now[0])
    notifier.start()
    try:
        notifier.problem("node-down:h2", "node h2 is down", "")
        notifier.resolved("node-down:h2")
        now[0] = 30.0
        notifier.problem("node-down:h2", "node h2 is down", "")  # flapping: not again
        notifier.resolved("node-down:h2")
        now[0] = 100.0
        notifier.problem("node-down:h2", "node h2 is down", "")  # a new outage
    finally:
        notifier.stop()
    assert receiver.titles() == ["node h2 is down", "node h2 is down"]


def test_the_rate_limit_drops_the_excess(receiver: Receiver) -> None:
    results: list[str] = []
    notifier = Notifier(apprise_sender([receiver.url]), burst=5, on_result=results.append)
    notifier.start()
    try:
        for i in range(12):
            notifier.event(f"drift:Service/s{i}", f"drift corrected: s{i}", "x")
    finally:
        notifier.stop()
    assert len(receiver.titles()) == 5 and results.count("dropped") == 7


def test_a_failing_notifier_never_blocks_the_caller(receiver: Receiver) -> None:
    receiver.failing = True
    results: list[str] = []
    dead = "json://127.0.0.1:9/nothing-listens"  # a closed port
    notifier = Notifier(apprise_sender([receiver.url, dead]), burst=1000, on_result=results.append)
    notifier.start()
    try:
        t0 = time.monotonic()
        for i in range(200):
            notifier.problem(f"sync:Service/s{i}", "sync failed", "x")
        took = time.monotonic() - t0
        assert took < 1.0, took  # queued, never sent in the caller's thread
        wait_until(lambda: results.count("failed") >= 3)
    finally:
        notifier.stop(timeout=1)
    assert "sent" not in results
    assert results.count("dropped") >= 200 - 100 - 1  # the queue holds 100


def test_an_unknown_url_is_refused() -> None:
    with pytest.raises(ValueError, match="#1"):
        apprise_sender(["nosuchscheme://x"])
