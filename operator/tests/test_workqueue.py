"""The work queue: de-duplication, no concurrent processing, backoff, delays, shutdown."""

from __future__ import annotations

import threading

from swarm_operator.daemon.workqueue import RETRY, SUCCESS, Outcome, WorkerPool, WorkQueue


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def make() -> tuple[WorkQueue[str], FakeClock]:
    clock = FakeClock()
    return WorkQueue(clock=clock, base_delay=0.005, max_delay=1.0), clock


def test_key_is_never_queued_twice() -> None:
    q, _ = make()
    q.add("a")
    q.add("b")
    q.add("a")
    assert len(q) == 2
    assert q.get(timeout=0) == "a"
    assert q.get(timeout=0) == "b"
    assert q.get(timeout=0) is None


def test_key_added_while_processing_is_requeued_after_done_not_before() -> None:
    q, _ = make()
    q.add("a")
    assert q.get(timeout=0) == "a"
    q.add("a")
    # Not handed to a second worker while the first holds it.
    assert q.get(timeout=0) is None
    assert q.processing() == {"a"}
    q.done("a")
    assert q.get(timeout=0) == "a"
    q.done("a")
    assert q.get(timeout=0) is None


def test_done_without_readd_does_not_requeue() -> None:
    q, _ = make()
    q.add("a")
    assert q.get(timeout=0) == "a"
    q.done("a")
    assert len(q) == 0


def test_add_after_waits_for_the_injected_clock() -> None:
    q, clock = make()
    q.add_after("a", 10)
    assert q.get(timeout=0) is None
    clock.advance(9.9)
    assert q.get(timeout=0) is None
    clock.advance(0.2)
    assert q.get(timeout=0) == "a"


def test_delayed_add_of_a_queued_key_is_deduplicated() -> None:
    q, clock = make()
    q.add("a")
    q.add_after("a", 1)
    clock.advance(2)
    assert len(q) == 1


def test_backoff_doubles_to_the_cap_and_resets_on_forget() -> None:
    q, _ = make()
    delays = [q.add_rate_limited("a") for _ in range(12)]
    assert delays[:4] == [0.005, 0.01, 0.02, 0.04]
    assert delays[-1] == 1.0
    assert max(delays) == 1.0
    assert q.num_requeues("a") == 12
    q.forget("a")
    assert q.num_requeues("a") == 0
    assert q.add_rate_limited("a") == 0.005


def test_backoff_is_per_key() -> None:
    q, _ = make()
    q.add_rate_limited("a")
    q.add_rate_limited("a")
    assert q.add_rate_limited("b") == 0.005


def test_shutdown_wakes_waiting_getters_and_refuses_new_work() -> None:
    q, _ = make()
    results: list[str | None] = []
    waiter = threading.Thread(target=lambda: results.append(q.get()))
    waiter.start()
    q.shutdown()
    waiter.join(timeout=10)
    assert not waiter.is_alive()
    assert results == [None]
    q.add("a")
    assert q.get(timeout=0) is None


def test_worker_pool_forgets_on_success_and_backs_off_on_error() -> None:
    q, clock = make()
    outcomes = {"good": SUCCESS, "bad": RETRY}
    pool: WorkerPool[str] = WorkerPool(q, lambda key: outcomes[key])
    q.add_rate_limited("good")
    clock.advance(1)
    key = q.get(timeout=0)
    assert key == "good"
    pool.process_one(key)
    assert q.num_requeues("good") == 0

    q.add("bad")
    key = q.get(timeout=0)
    assert key == "bad"
    pool.process_one(key)
    assert q.num_requeues("bad") == 1
    assert q.get(timeout=0) is None  # waiting out its backoff
    clock.advance(0.005)
    assert q.get(timeout=0) == "bad"


def test_worker_pool_treats_an_exception_as_retry() -> None:
    q, _ = make()

    def boom(key: str) -> Outcome:
        raise RuntimeError(key)

    pool: WorkerPool[str] = WorkerPool(q, boom)
    q.add("a")
    key = q.get(timeout=0)
    assert key is not None
    assert pool.process_one(key) == RETRY
    assert q.processing() == frozenset()
    assert q.num_requeues("a") == 1


def test_worker_pool_requeue_after() -> None:
    q, clock = make()
    pool: WorkerPool[str] = WorkerPool(q, lambda key: Outcome(requeue_after=30))
    q.add("a")
    key = q.get(timeout=0)
    assert key is not None
    pool.process_one(key)
    assert q.get(timeout=0) is None
    clock.advance(30)
    assert q.get(timeout=0) == "a"


def test_worker_threads_finish_current_item_on_shutdown() -> None:
    q: WorkQueue[str] = WorkQueue()
    started = threading.Event()
    release = threading.Event()
    handled: list[str] = []

    def handler(key: str) -> Outcome:
        started.set()
        release.wait(10)
        handled.append(key)
        return SUCCESS

    pool: WorkerPool[str] = WorkerPool(q, handler, workers=2)
    pool.start()
    q.add("a")
    assert started.wait(10)
    q.shutdown()
    release.set()
    pool.join(timeout=10)
    assert not pool.alive()
    assert handled == ["a"]


def test_never_processed_twice_at_once_under_threads() -> None:
    q: WorkQueue[str] = WorkQueue()
    lock = threading.Lock()
    active: set[str] = set()
    overlaps: list[str] = []
    count = {"n": 0}
    finished = threading.Event()

    def handler(key: str) -> Outcome:
        with lock:
            if key in active:
                overlaps.append(key)
            active.add(key)
        for _ in range(3):
            q.add(key)  # re-added while processing
        with lock:
            active.discard(key)
            count["n"] += 1
            if count["n"] >= 50:
                finished.set()
                return SUCCESS
        return SUCCESS

    pool: WorkerPool[str] = WorkerPool(q, handler, workers=4)
    pool.start()
    q.add("x")
    q.add("y")
    assert finished.wait(30)
    q.shutdown()
    pool.join(timeout=10)
    assert overlaps == []
