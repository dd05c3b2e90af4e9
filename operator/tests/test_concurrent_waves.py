"""How a plan is cut into waves for a concurrent apply (`engine.converge.waves`), and the
concurrent path's results on the counting stand-in (pure: no Docker; the same path runs
against real engines in tests/lab/test_concurrent_apply.py)."""

from __future__ import annotations

from engine_helpers import net, svc
from fake_swarm import CountingSwarm

from swarm_operator.engine.converge import apply_plan, waves
from swarm_operator.engine.live import build_state
from swarm_operator.engine.plan import PlanOptions, plan
from swarm_operator.kinds.base import Action


def _action(kind: str, verb: str, name: str) -> Action:
    return Action(verb, kind, name, reason="")  # type: ignore[arg-type]


def shape(actions: list[Action]) -> list[list[str]]:
    return [[f"{a.kind}:{a.verb}:{a.name}" for a in wave] for wave in waves(actions)]


def test_networks_then_services_then_nodes_then_deletes_each_a_wave() -> None:
    actions = [
        _action("Network", "create", "a"),
        _action("Network", "create", "b"),
        _action("Service", "create", "s1"),
        _action("Service", "update", "s2"),
        _action("Service", "adopt", "s3"),
        _action("Node", "update", "host2"),
        _action("Node", "update", "host3"),
        _action("Service", "delete", "old1"),
        _action("Service", "delete", "old2"),
        _action("Network", "delete", "gone1"),
        _action("Network", "delete", "gone2"),
    ]
    assert shape(actions) == [
        ["Network:create:a", "Network:create:b"],
        ["Service:create:s1", "Service:update:s2", "Service:adopt:s3"],
        ["Node:update:host2", "Node:update:host3"],
        ["Service:delete:old1", "Service:delete:old2"],
        ["Network:delete:gone1"],  # a network delete waits for its endpoints: alone
        ["Network:delete:gone2"],
    ]


def test_a_network_replace_runs_alone_between_its_neighbours() -> None:
    actions = [
        _action("Network", "create", "a"),
        _action("Network", "replace", "b"),
        _action("Network", "create", "c"),
        _action("Service", "create", "s1"),
    ]
    assert shape(actions) == [
        ["Network:create:a"],
        ["Network:replace:b"],
        ["Network:create:c"],
        ["Service:create:s1"],
    ]


def test_the_concurrent_path_gives_the_sequential_results_in_plan_order() -> None:
    results = {}
    for parallelism in (1, 4):
        swarm = CountingSwarm()
        swarm.clone = lambda swarm=swarm: swarm  # type: ignore[attr-defined]
        swarm.close = lambda: None  # type: ignore[attr-defined]
        manifests = [
            net("app"),
            *(svc(f"s{i:02d}", replicas=1, networks=["app"]) for i in range(9)),
        ]
        the_plan = plan(manifests, build_state({"Node": swarm.nodes()}), PlanOptions())
        report = apply_plan(
            swarm,  # type: ignore[arg-type]
            manifests,
            PlanOptions(),
            the_plan,
            parallelism=parallelism,
        )
        assert report.ok, report.to_dict()
        results[parallelism] = [(r.action.key, r.ok, r.message) for r in report.results]
        assert swarm.calls["networks"] == 1  # the ID cache is shared by the workers
    assert results[4] == results[1]
