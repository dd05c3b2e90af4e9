"""Table tests of the diagnosis: which node, port or network is named, and how bad."""

from __future__ import annotations

from dataclasses import replace

import pytest

from swarm_operator.probing import diagnose as dg
from swarm_operator.probing.diagnose import Finding, OverlayInfo, diagnose
from swarm_operator.probing.matrix import IfaceRecord, Matrix, Pair, PairState, PortRecord
from swarm_operator.probing.probe import NodeInfo

H = ("host1", "host2", "host3")
NODES = [
    NodeInfo(
        id="n1",
        hostname="host1",
        addr="10.77.3.11",
        role="manager",
        reachability="reachable",
        leader=True,
    ),
    NodeInfo(id="n2", hostname="host2", addr="10.77.3.12"),
    NodeInfo(id="n3", hostname="host3", addr="10.77.3.13"),
]


def matrix(
    broken: dict[tuple[str, str], PairState] | None = None, running: tuple[str, ...] = H
) -> Matrix:
    pairs = {}
    for s in H:
        for d in H:
            if s not in running or d not in running:
                pairs[(s, d)] = Pair(s, d, "no-probe")
                continue
            state = (broken or {}).get((s, d), "ok")
            pairs[(s, d)] = Pair(s, d, state, rtt_ms=0.1 if state == "ok" else None)
    return Matrix(network="paper-net", nodes=H, pairs=pairs, running=frozenset(running))


def isolate(node: str, state: PairState = "unreachable") -> dict[tuple[str, str], PairState]:
    return {(s, d): state for s in H for d in H if s != d and node in (s, d)}


def ports(fail: set[tuple[str, str]] = frozenset()) -> list[PortRecord]:  # type: ignore[assignment]
    out = []
    for src in H:
        for n in NODES:
            if n.hostname == src:
                continue
            for p in ("2377/tcp", "7946/tcp") if n.role == "manager" else ("7946/tcp",):
                ok = (n.hostname, p) not in fail
                out.append(PortRecord(src, n.hostname, n.addr, p, ok, 1, 1))
    return out


def problems(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.problem]


def test_healthy_swarm_has_no_problems() -> None:
    found = diagnose(nodes=NODES, matrices=[matrix()], ports=ports(), ports_checked=True)
    assert problems(found) == []
    # the single manager is a note, not a problem
    assert [f.check for f in found] == ["quorum"]


@pytest.mark.parametrize(
    ("case", "broken", "failed_ports", "ports_checked", "node", "subject", "words"),
    [
        (
            "vxlan blocked",
            isolate("host2"),
            set(),
            True,
            "host2",
            "4789/udp",
            ["4789/udp", "inferred", "7946/tcp"],
        ),
        (
            "vxlan, no host probe",
            isolate("host3"),
            set(),
            False,
            "host3",
            "4789/udp",
            ["not checked"],
        ),
        (
            "gossip tcp closed",
            isolate("host2"),
            {("host2", "7946/tcp")},
            True,
            "host2",
            "7946/tcp",
            ["7946/tcp does not answer from host1 and host3"],
        ),
        (
            "gossip udp only: missing from dns",
            isolate("host3", "not-in-dns"),
            set(),
            True,
            "host3",
            "7946/udp",
            ["DNS", "inferred"],
        ),
        (
            "manager isolated",
            isolate("host1"),
            {("host1", "2377/tcp"), ("host1", "7946/tcp")},
            True,
            "host1",
            "7946/tcp",
            ["2377/tcp", "7946/tcp"],
        ),
    ],
)
def test_one_node_cut_off_is_named(
    case: str,
    broken: dict[tuple[str, str], PairState],
    failed_ports: set[tuple[str, str]],
    ports_checked: bool,
    node: str,
    subject: str,
    words: list[str],
) -> None:
    found = dg.diagnose_matrix(
        matrix(broken),
        NODES,
        ports(failed_ports) if ports_checked else [],
        ports_checked=ports_checked,
    )
    assert len(found) == 1, (case, found)
    f = found[0]
    assert f.severity == "error" and f.check == "data-path"
    assert f.nodes == (node,)
    assert f.subject == subject
    for w in words:
        assert w in f.message + f.fix, (case, w, f)
    assert node in f.fix


def test_node_down_is_the_cause() -> None:
    nodes = [NODES[0], replace(NODES[1], state="down"), NODES[2]]
    found = dg.diagnose_matrix(matrix(isolate("host2")), nodes, ports(), ports_checked=True)
    assert "host2 is down" in found[0].message


def test_single_pair_broken_names_both_ends() -> None:
    found = dg.diagnose_matrix(
        matrix({("host1", "host3"): "unreachable"}), NODES, ports(), ports_checked=True
    )
    assert len(found) == 1
    assert found[0].nodes == ("host1", "host3")
    assert "host1 cannot reach host3" in found[0].message


def test_two_nodes_broken_each_other_is_ambiguous_but_reported() -> None:
    broken: dict[tuple[str, str], PairState] = {
        ("host1", "host2"): "unreachable",
        ("host2", "host1"): "unreachable",
    }
    found = dg.diagnose_matrix(matrix(broken), NODES, ports(), ports_checked=True)
    assert len(found) == 1
    assert "cannot reach each other" in found[0].message


def test_everything_broken_names_no_single_culprit() -> None:
    broken: dict[tuple[str, str], PairState] = {
        (s, d): "unreachable" for s in H for d in H if s != d
    }
    found = dg.diagnose_matrix(matrix(broken), NODES, ports(), ports_checked=True)
    assert len(found) == 3  # one per unordered pair
    assert all(f.check == "data-path" for f in found)


def test_missing_probe_task_is_an_error_with_the_task_error() -> None:
    found = dg.diagnose_matrix(
        matrix(running=("host1", "host3")), NODES, probe_errors={"host2": "No such image: x"}
    )
    assert len(found) == 1
    assert found[0].check == "probe" and "No such image" in found[0].message


def test_port_findings() -> None:
    found = dg.diagnose_ports(ports({("host2", "7946/tcp")}), NODES)
    assert len(found) == 1
    f = found[0]
    assert f.nodes == ("host2",) and f.subject == "7946/tcp"
    assert "10.77.3.12" in f.message and "host1 and host3" in f.message
    assert "7946/udp" in f.fix  # gossip needs both


def iface(node: str, name: str, mtu: int, *cidrs: str) -> IfaceRecord:
    return IfaceRecord(node, name, mtu, cidrs, 1, 1)


HOST_IFACES = {
    n.hostname: (
        iface(n.hostname, "eth0", 1500, f"{n.addr}/24"),
        iface(n.hostname, "docker_gwbridge", 1500, "172.18.0.1/16"),
    )
    for n in NODES
}


@pytest.mark.parametrize(
    ("net", "measured", "expect"),
    [
        (OverlayInfo("default"), None, None),
        (OverlayInfo("enc", encrypted=True), None, None),
        (OverlayInfo("jumbo", options={dg.MTU_OPTION: "9000"}), None, "error"),
        (OverlayInfo("jumbo-measured"), {"host2": 8950}, "error"),
        (OverlayInfo("small", options={dg.MTU_OPTION: "1400"}), None, None),
        (OverlayInfo("enc-tight", encrypted=True), {"host1": 1450}, "error"),
    ],
)
def test_mtu(net: OverlayInfo, measured: dict[str, int] | None, expect: str | None) -> None:
    found = dg.diagnose_mtu([net], NODES, HOST_IFACES, {net.name: measured} if measured else None)
    if expect is None:
        assert found == []
    else:
        assert [f.severity for f in found] == [expect]
        assert found[0].subject == net.name and "1500" in found[0].message
        assert "com.docker.network.driver.mtu=1500" in found[0].fix


def test_mtu_unknown_underlay_is_a_warning_for_jumbo_only() -> None:
    jumbo = OverlayInfo("jumbo", options={dg.MTU_OPTION: "9000"})
    assert [f.severity for f in dg.diagnose_mtu([jumbo], NODES, {})] == ["warning"]
    assert dg.diagnose_mtu([OverlayInfo("x")], NODES, {}) == []


def test_mtu_smaller_underlay_on_one_node() -> None:
    ifaces = dict(HOST_IFACES)
    ifaces["host3"] = (iface("host3", "wg0", 1420, "10.77.3.13/24"),)
    found = dg.diagnose_mtu([OverlayInfo("paper-net")], NODES, ifaces)
    assert len(found) == 1 and found[0].nodes == ("host3",) and "wg0" in found[0].message


@pytest.mark.parametrize(
    ("nets", "expect_subjects", "words"),
    [
        (
            [
                OverlayInfo("a", subnets=("10.10.0.0/24",)),
                OverlayInfo("b", subnets=("10.20.0.0/24",)),
            ],
            [],
            [],
        ),
        (
            [
                OverlayInfo("a", subnets=("10.10.0.0/24",)),
                OverlayInfo("b", subnets=("10.10.0.128/25",)),
            ],
            ["a,b"],
            ["10.10.0.0/24", "10.10.0.128/25"],
        ),
        (
            [OverlayInfo("clash", subnets=("10.77.3.0/24",))],
            ["clash"],
            ["host network 10.77.3.0/24 (host1 eth0, host2 eth0, host3 eth0)"],
        ),
        ([OverlayInfo("wide", subnets=("10.0.0.0/8",))], ["wide"], ["10.77.3.0/24"]),
        ([OverlayInfo("gw", subnets=("172.18.5.0/24",))], ["gw"], ["docker_gwbridge"]),
    ],
)
def test_subnets(nets: list[OverlayInfo], expect_subjects: list[str], words: list[str]) -> None:
    found = dg.diagnose_subnets(nets, NODES, HOST_IFACES)
    assert sorted(f.subject for f in found) == expect_subjects
    text = " ".join(f.message for f in found)
    for w in words:
        assert w in text
    for f in found:
        assert f.severity == "error"
        assert "e.g. " in f.fix


def test_subnet_overlap_with_node_address_without_host_probe() -> None:
    found = dg.diagnose_subnets([OverlayInfo("clash", subnets=("10.77.3.0/24",))], NODES, {})
    assert len(found) == 1
    assert found[0].nodes == H


def test_suggest_subnet_skips_used() -> None:
    import ipaddress

    used = [ipaddress.ip_network("10.10.0.0/24"), ipaddress.ip_network("10.10.1.0/24")]
    assert dg.suggest_subnet(used) == "10.10.2.0/24"


def test_overlapping_ipv6_pools_of_dual_stack_overlays_are_found_without_a_suggestion() -> None:
    a = OverlayInfo("dual-a", subnets=("10.20.0.0/24", "fd00:20::/64"))
    b = OverlayInfo("dual-b", subnets=("10.21.0.0/24", "fd00:20::/80"))
    found = dg.diagnose_subnets([a, b], NODES, {})
    (finding,) = found
    assert "overlap: dual-a fd00:20::/64 and dual-b fd00:20::/80" in finding.message
    assert dg.suggest_subnet([], 64) is None


@pytest.mark.parametrize(
    ("cidr", "used", "expect"),
    [
        ("10.10.0.0/24", 10, None),
        ("10.10.0.0/24", 202, None),  # 79.8%
        ("10.10.0.0/24", 203, "warning"),  # 80.2%
        ("10.10.0.0/24", 220, "warning"),
        ("10.10.0.0/24", 253, "error"),
        ("10.10.0.0/29", 5, "error"),
        ("10.10.0.0/29", 4, None),  # exactly 80%
        ("10.10.0.0/28", 11, "warning"),
    ],
)
def test_addresses(cidr: str, used: int, expect: str | None) -> None:
    found = dg.diagnose_addresses([OverlayInfo("n", addresses_used={cidr: used})])
    assert [f.severity for f in found] == ([expect] if expect else [])


def test_subnet_capacity() -> None:
    assert dg.subnet_capacity("10.10.0.0/24") == 253
    assert dg.subnet_capacity("10.10.0.0/29") == 5


def mgr(name: str, reach: str) -> NodeInfo:
    return NodeInfo(id=name, hostname=name, addr="10.0.0.1", role="manager", reachability=reach)


@pytest.mark.parametrize(
    ("managers", "expect"),
    [
        ([mgr("m1", "reachable")], [("info", "quorum")]),
        ([mgr("m1", "reachable"), mgr("m2", "reachable"), mgr("m3", "reachable")], []),
        (
            [mgr("m1", "reachable"), mgr("m2", "reachable"), mgr("m3", "unreachable")],
            [("warning", "quorum")],
        ),
        (
            [mgr("m1", "reachable"), mgr("m2", "unreachable"), mgr("m3", "unreachable")],
            [("error", "quorum")],
        ),
        (
            [mgr("m1", "reachable"), mgr("m2", "unreachable")],
            [("error", "quorum"), ("info", "quorum")],
        ),
        ([mgr("m1", "reachable"), mgr("m2", "reachable")], [("info", "quorum")]),
    ],
)
def test_quorum(managers: list[NodeInfo], expect: list[tuple[str, str]]) -> None:
    assert [(f.severity, f.check) for f in dg.diagnose_quorum(managers)] == expect


def test_node_down_is_a_warning() -> None:
    nodes = [*NODES[:2], replace(NODES[2], state="down")]
    found = [f for f in dg.diagnose_quorum(nodes) if f.check == "nodes"]
    assert [(f.severity, f.nodes) for f in found] == [("warning", ("host3",))]


def test_diagnose_sorts_errors_first() -> None:
    found = diagnose(
        nodes=NODES,
        matrices=[matrix(isolate("host2"))],
        ports=ports(),
        ports_checked=True,
        networks=[
            OverlayInfo(
                "paper-net", subnets=("10.10.0.0/24",), addresses_used={"10.10.0.0/24": 220}
            )
        ],
        host_ifaces=HOST_IFACES,
    )
    assert [f.severity for f in found] == ["error", "warning", "info"]
    assert found[0].subject == "4789/udp"


def test_probe_missing_on_a_crowded_network_points_at_addresses() -> None:
    found = diagnose(
        nodes=NODES,
        matrices=[matrix(running=("host1", "host2"))],
        networks=[
            OverlayInfo("paper-net", subnets=("10.10.0.0/28",), addresses_used={"10.10.0.0/28": 12})
        ],
    )
    (probe_finding,) = [f for f in found if f.check == "probe"]
    assert "short of addresses" in probe_finding.message
    assert [f.severity for f in found if f.check == "addresses"] == ["warning"]
