"""probe_loop.OverlayProbes: the daemon's bookkeeping of overlay probes, with an injected
clock and fake runners (the Docker half is tested on the lab: lab/test_daemon_probe.py)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from prometheus_client import CollectorRegistry

from swarm_operator.observe.metrics import Metrics
from swarm_operator.probing.loop import OverlayProbes, summarize
from swarm_operator.probing.matrix import Matrix, Pair
from swarm_operator.probing.probe import ProbeSettings
from swarm_operator.swarm.errors import ApiError, NotFound

NODES = ("host1", "host2", "host3")
ON = ProbeSettings(image="img:1", interval_s=2.0)


def full_matrix(down: str | None = None, rounds: int = 1) -> Matrix:
    pairs = {}
    for s in NODES:
        for d in NODES:
            ok = down is None or s == d or down not in (s, d)
            pairs[(s, d)] = Pair(s, d, "ok" if ok else "unreachable", rtt_ms=0.5 if ok else None)
    return Matrix("net", NODES, pairs, frozenset(NODES), rounds={n: ("inc", rounds) for n in NODES})


def empty_matrix() -> Matrix:
    """Probe tasks not running yet: every pair no-probe, no round."""
    pairs = {(s, d): Pair(s, d, "no-probe") for s in NODES for d in NODES}
    return Matrix("net", NODES, pairs)


@dataclass
class FakeRunner:
    network: str
    settings: ProbeSettings
    calls: list[str] = field(default_factory=list)
    matrices: list[Matrix] = field(default_factory=list)
    fail: list[Exception] = field(default_factory=list)
    exists: bool = True

    @property
    def service_name(self) -> str:
        return f"so-probe-{self.network}"

    def ensure(self) -> str:
        self.calls.append("ensure")
        self.exists = True
        return "id"

    def attach(self) -> bool:
        self.calls.append("attach")
        return self.exists

    def poll(self, now: float | None = None) -> tuple[Matrix, list[Pair]]:
        self.calls.append("poll")
        if self.fail:
            raise self.fail.pop(0)
        m = self.matrices[0] if len(self.matrices) == 1 else self.matrices.pop(0)
        return m, [p for p in m.pairs.values() if p.ok]

    def remove(self) -> None:
        self.calls.append("remove")
        self.exists = False


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Rig:
    probes: OverlayProbes
    metrics: Metrics
    registry: CollectorRegistry
    clock: Clock
    runners: list[FakeRunner]
    lease: list[bool]
    status: list[list[dict[str, object]]]

    def value(self, src: str, dst: str, network: str = "net") -> float | None:
        return self.registry.get_sample_value(
            "swarm_operator_overlay_reachable",
            {"network": network, "source_node": src, "target_node": dst},
        )

    def series(self) -> int:
        return sum(
            1
            for fam in self.registry.collect()
            if fam.name == "swarm_operator_overlay_reachable"
            for _ in fam.samples
        )


@pytest.fixture
def rig() -> Rig:
    registry = CollectorRegistry()
    metrics = Metrics(registry)
    clock = Clock()
    runners: list[FakeRunner] = []
    lease = [True]
    status: list[list[dict[str, object]]] = []

    def factory(network: str, settings: ProbeSettings) -> FakeRunner:
        r = FakeRunner(network, settings, matrices=[full_matrix()])
        runners.append(r)
        return r

    probes = OverlayProbes(
        metrics,
        factory,
        writable=lambda: lease[0],
        clock=clock,
        wall=clock,
        on_status=status.append,
    )
    return Rig(probes, metrics, registry, clock, runners, lease, status)


def test_holder_ensures_then_polls_and_exports_every_pair(rig: Rig) -> None:
    rig.probes.want("net", ON)
    assert rig.probes.wake.is_set()
    wait = rig.probes.tick()
    (runner,) = rig.runners
    assert runner.calls == ["ensure", "poll"]
    assert wait == pytest.approx(2.0)
    assert rig.value("host1", "host2") == 1.0
    assert rig.series() == 9  # diagonal included
    assert rig.registry.get_sample_value(
        "swarm_operator_overlay_rtt_seconds_count",
        {"network": "net", "source_node": "host1", "target_node": "host3"},
    )
    (health,) = rig.status[-1]
    assert health["pairsOk"] == 6 and health["pairsTotal"] == 6 and health["broken"] == []
    assert health["lastRound"] == 1000.0 and health["lastError"] is None

    # Not due yet: nothing happens; due: poll only (ensure is once per reconcile).
    rig.clock.now += 1.0
    rig.probes.tick()
    assert runner.calls == ["ensure", "poll"]
    rig.clock.now += 1.0
    rig.probes.tick()
    assert runner.calls == ["ensure", "poll", "poll"]
    # A later reconcile asks for ensure again (idempotent in the runner).
    rig.probes.want("net", ON)
    rig.probes.tick()
    assert runner.calls[-2:] == ["ensure", "poll"]
    assert len(rig.runners) == 1


def test_broken_pairs_turn_to_zero_and_status_names_them(rig: Rig) -> None:
    rig.probes.want("net", ON)
    rig.probes.tick()
    runner = rig.runners[0]
    runner.matrices = [full_matrix(down="host2", rounds=2)]
    rig.clock.now += 2.0
    rig.probes.tick()
    assert rig.value("host1", "host2") == 0.0 and rig.value("host2", "host3") == 0.0
    assert rig.value("host1", "host3") == 1.0 and rig.value("host2", "host2") == 1.0
    (health,) = rig.status[-1]
    assert health["pairsOk"] == 2 and len(health["broken"]) == 4  # type: ignore[arg-type]
    assert "host1->host2: unreachable" in health["broken"]  # type: ignore[operator]
    assert health["lastRound"] == 1002.0


def test_no_zeros_while_warming_up_but_zeros_after_the_grace(rig: Rig) -> None:
    def factory(network: str, settings: ProbeSettings) -> FakeRunner:
        r = FakeRunner(network, settings, matrices=[empty_matrix()])
        rig.runners.append(r)
        return r

    rig.probes.factory = factory
    rig.probes.want("net", ON)
    rig.probes.tick()
    assert rig.series() == 0  # no round yet: 3 intervals + 10 s of grace (16 s here)
    rig.clock.now += 15.0
    rig.probes.tick()
    assert rig.series() == 0
    rig.clock.now += 2.0
    rig.probes.tick()  # a probe that never reports is shown broken, not absent
    assert rig.series() == 9 and rig.value("host1", "host2") == 0.0


def test_warming_up_lasts_until_every_node_has_finished_a_round(rig: Rig) -> None:
    # On a fresh overlay host1's task reports first; host2's and host3's have no round
    # yet: their pairs are no-probe, which is exported as unreachable once warm.
    first = full_matrix()
    partial = Matrix(
        "net",
        NODES,
        {
            (s, d): p if s == "host1" else Pair(s, d, "no-probe")
            for (s, d), p in first.pairs.items()
        },
        first.running,
        rounds={"host1": ("inc", 1)},
    )

    def factory(network: str, settings: ProbeSettings) -> FakeRunner:
        r = FakeRunner(network, settings, matrices=[partial, full_matrix()])
        rig.runners.append(r)
        return r

    rig.probes.factory = factory
    rig.probes.want("net", ON)
    rig.probes.tick()
    assert rig.series() == 0  # one node of three has reported: still warming up
    rig.clock.now += 2.0
    rig.probes.tick()
    assert rig.series() == 9 and rig.value("host2", "host3") == 1.0


def test_docker_errors_back_off_doubling_to_a_cap_then_recover(rig: Rig) -> None:
    rig.probes.max_backoff = 10.0
    rig.probes.want("net", ON)
    runner_errors = [ApiError("boom")] * 5
    rig.probes.tick()
    runner = rig.runners[0]
    runner.fail = list(runner_errors)
    waits = []
    for _ in range(4):
        rig.clock.now += 100.0  # well past any due time
        start = rig.clock.now
        rig.probes.tick()
        due = min(e.next_due for e in rig.probes._entries.values())
        waits.append(due - start)
    assert waits == [4.0, 8.0, 10.0, 10.0]
    assert rig.status[-1][0]["lastError"] == "boom"
    assert rig.value("host1", "host2") == 1.0  # the last known matrix stays
    runner.fail = []
    rig.clock.now += 100.0
    rig.probes.tick()
    assert rig.status[-1][0]["lastError"] is None
    assert min(e.next_due for e in rig.probes._entries.values()) == rig.clock.now + 2.0


def test_standby_never_writes_but_polls_what_the_holder_made(rig: Rig) -> None:
    rig.lease[0] = False
    rig.probes.want("net", ON)
    rig.probes.tick()
    runner = rig.runners[0]
    assert runner.calls == ["attach", "poll"]
    assert rig.value("host1", "host2") == 1.0
    # No service yet: nothing polled, said so.
    rig.probes.want("other", ON)
    rig.runners[1].exists = False
    rig.probes.tick()
    assert rig.runners[1].calls == ["attach"]
    other = next(h for h in rig.status[-1] if h["network"] == "other")
    assert "standby" in str(other["lastError"])
    # Dropped on a standby: its series go, the service is left for the holder.
    rig.probes.want("net", None)
    rig.probes.tick()
    assert "remove" not in runner.calls
    assert rig.value("host1", "host2") is None
    # Holding the lease later, the next reconcile of that network removes the leftover.
    rig.lease[0] = True
    rig.probes.want("net", None)
    rig.probes.tick()
    assert rig.runners[-1].calls == ["remove"]


def test_turning_off_removes_service_and_series_once(rig: Rig) -> None:
    rig.probes.want("net", ON)
    rig.probes.want("keep", ON)
    rig.probes.tick()
    assert rig.value("host1", "host2", "keep") == 1.0
    rig.probes.want("net", None)
    rig.probes.tick()
    net_runner = rig.runners[0]
    assert net_runner.calls[-1] == "remove"
    assert rig.value("host1", "host2") is None
    assert rig.value("host1", "host2", "keep") == 1.0  # the other network is untouched
    assert rig.probes.networks() == ["keep"]
    # Further reconciles of the unprobed network do not list or remove again.
    count = len(rig.runners)
    rig.probes.want("net", None)
    rig.probes.tick()
    assert len(rig.runners) == count


def test_never_probed_network_clears_a_leftover_probe_once(rig: Rig) -> None:
    rig.probes.want("old", None)
    rig.probes.tick()
    (runner,) = rig.runners
    assert runner.calls == ["remove"]
    rig.probes.want("old", None)
    rig.probes.tick()
    assert len(rig.runners) == 1


def test_failed_removal_is_retried_with_backoff(rig: Rig) -> None:
    rig.probes.want("net", ON)
    rig.probes.tick()
    runner = rig.runners[0]

    def broken_remove() -> None:
        runner.calls.append("remove")
        raise ApiError("manager busy")

    runner.remove = broken_remove  # type: ignore[method-assign]
    rig.probes.want("net", None)
    rig.probes.tick()
    rig.probes.tick()  # not due yet
    assert runner.calls.count("remove") == 1
    rig.clock.now += 10.0
    rig.probes.tick()
    assert runner.calls.count("remove") == 2


def test_new_settings_make_a_new_runner(rig: Rig) -> None:
    rig.probes.want("net", ON)
    rig.probes.tick()
    rig.probes.want("net", ProbeSettings(image="img:1", interval_s=10.0))
    rig.probes.tick()
    assert len(rig.runners) == 2
    assert rig.runners[1].calls == ["ensure", "poll"]
    assert rig.status[-1][0]["intervalSeconds"] == 10.0
    assert rig.value("host1", "host2") == 1.0


def test_a_probe_service_removed_by_hand_is_recreated(rig: Rig) -> None:
    rig.probes.want("net", ON)
    rig.probes.tick()
    rig.runners[0].fail = [NotFound("no such service")]
    rig.clock.now += 2.0
    rig.probes.tick()
    assert len(rig.runners) == 2
    rig.clock.now += 2.0
    rig.probes.tick()
    assert rig.runners[1].calls == ["ensure", "poll"]


def test_remove_now_is_synchronous(rig: Rig) -> None:
    rig.probes.want("net", ON)
    rig.probes.tick()
    rig.probes.remove_now("net")
    assert rig.runners[0].calls[-1] == "remove"
    assert rig.series() == 0 and rig.probes.networks() == []
    # Declared again (a replaced network): probed again.
    rig.probes.want("net", ON)
    rig.probes.tick()
    assert rig.value("host1", "host2") == 1.0


def test_summarize_ignores_the_diagonal() -> None:
    assert summarize(full_matrix()) == (6, 6, ())
    ok, total, broken = summarize(full_matrix(down="host3"))
    assert (ok, total) == (2, 6)
    assert broken[0] == "host1->host3: unreachable"


def test_metrics_drop_pairs_of_nodes_that_left_and_whole_networks() -> None:
    registry = CollectorRegistry()
    m = Metrics(registry)
    labels = {"network": "a", "source_node": "host1", "target_node": "host3"}
    m.set_overlay_matrix("a", {("host1", "host3"): True, ("host1", "host2"): True}, {})
    m.set_overlay_matrix("b", {("host1", "host2"): False})
    m.set_overlay_matrix("a", {("host1", "host2"): True}, {("host1", "host2"): 0.001})
    assert registry.get_sample_value("swarm_operator_overlay_reachable", labels) is None
    m.remove_overlay("a")
    assert (
        registry.get_sample_value(
            "swarm_operator_overlay_rtt_seconds_count",
            {"network": "a", "source_node": "host1", "target_node": "host2"},
        )
        is None
    )
    assert (
        registry.get_sample_value(
            "swarm_operator_overlay_reachable",
            {"network": "b", "source_node": "host1", "target_node": "host2"},
        )
        == 0.0
    )


def test_a_poll_racing_a_drop_does_not_bring_the_series_back(rig: Rig) -> None:
    rig.probes.want("net", ON)
    rig.probes.tick()
    runner = rig.runners[0]
    real_poll = runner.poll

    def poll_while_a_worker_drops_it(now: float | None = None) -> tuple[Matrix, list[Pair]]:
        result = real_poll(now)
        rig.probes.remove_now("net")  # a worker, about to delete the network
        return result

    runner.poll = poll_while_a_worker_drops_it  # type: ignore[method-assign]
    rig.clock.now += 2.0
    rig.probes.tick()
    assert rig.series() == 0
