"""Pure tests of the probe: specs, log parsing, rounds, matrix."""

from __future__ import annotations

import json

import pytest

from swarm_operator.probing import matrix, probe
from swarm_operator.probing.matrix import (
    PeerRecord,
    PortRecord,
    RoundRecord,
    build_matrix,
    latest_rounds,
    parse_line,
    parse_logs,
    task_addresses,
)
from swarm_operator.probing.probe import NodeInfo, ProbeSettings


def peer(src: str, ip: str, ok: int, rnd: int, t: int, inc: str = "a", rtt: str = "0.2") -> str:
    rtt_v = rtt if ok else "null"
    return (
        f'{{"so":"peer","src":"{src}","dst_ip":"{ip}","ok":{ok},"icmp":{ok},"tcp":{ok},'
        f'"rtt_ms":{rtt_v},"inc":"{inc}","round":{rnd},"t":{t}}}'
    )


def end(src: str, rnd: int, t: int, n: int = 3, inc: str = "a") -> str:
    return f'{{"so":"round","src":"{src}","peers":{n},"inc":"{inc}","round":{rnd},"t":{t}}}'


def test_parse_line_with_manager_prefixes() -> None:
    body = peer("host1", "10.10.0.5", 1, 3, 100)
    for line in (
        body,
        f"2026-11-27T14:00:00.123456789Z {body}",
        f"so-probe-net.abc.def@host1    | {body}",
        "2026-11-27T14:00:00Z com.docker.swarm.node.id=x,com.docker.swarm.task.id=y " + body,
    ):
        rec = parse_line(line)
        assert rec == PeerRecord(
            src="host1",
            dst_ip="10.10.0.5",
            ok=True,
            icmp=True,
            tcp=True,
            rtt_ms=0.2,
            round=3,
            t=100,
            inc="a",
        )


@pytest.mark.parametrize(
    "line",
    [
        "",
        "httpd: bind: Address in use",
        '{"so":"peer","src":"h"}',  # fields missing
        '{"so":"peer","src":"h","dst_ip":"not-an-ip","ok":1,"round":1,"t":1}',
        '{"so":"other","src":"h","round":1,"t":1}',
        '{"so":"peer", broken json',
        '["so"]',
    ],
)
def test_parse_line_ignores_garbage(line: str) -> None:
    assert parse_line(line) is None


def test_parse_unreachable_peer_has_no_rtt() -> None:
    rec = parse_line(peer("host2", "10.10.0.3", 0, 1, 5))
    assert isinstance(rec, PeerRecord)
    assert rec.ok is False and rec.rtt_ms is None


def test_parse_port_iface_round() -> None:
    recs = parse_logs(
        [
            '{"so":"port","src":"host1","dst":"host2","dst_ip":"10.77.3.12","port":"7946/tcp",'
            '"ok":0,"inc":"x","round":2,"t":9}',
            '{"so":"iface","src":"host1","if":"eth0","mtu":1500,"addrs":["10.77.3.11/24"],'
            '"inc":"x","round":2,"t":9}',
            end("host1", 2, 9, 2, "x"),
            "noise",
        ]
    )
    assert [type(r).__name__ for r in recs] == ["PortRecord", "IfaceRecord", "RoundRecord"]
    port = recs[0]
    assert isinstance(port, PortRecord) and not port.ok and port.port == "7946/tcp"


def test_latest_rounds_takes_newest_complete_round() -> None:
    lines = [
        peer("host1", "10.10.0.3", 1, 1, 10),
        end("host1", 1, 10),
        peer("host1", "10.10.0.3", 0, 2, 15),
        end("host1", 2, 15),
        peer("host1", "10.10.0.3", 1, 3, 20),  # round 3 not finished yet
    ]
    rounds = latest_rounds(parse_logs(lines))
    assert rounds["host1"].number == 2
    assert [p.ok for p in rounds["host1"].peers] == [False]


def test_latest_rounds_after_restart_ignores_old_incarnation() -> None:
    lines = [
        peer("host1", "10.10.0.9", 1, 1, 10, inc="old"),
        end("host1", 1, 10, inc="old"),
        peer("host1", "10.10.0.3", 0, 1, 30, inc="new"),
        end("host1", 1, 30, inc="new"),
    ]
    rnd = latest_rounds(parse_logs(lines))["host1"]
    assert [p.dst_ip for p in rnd.peers] == ["10.10.0.3"]


NODES = [
    NodeInfo(id="n1", hostname="host1", addr="10.77.3.11", role="manager"),
    NodeInfo(id="n2", hostname="host2", addr="10.77.3.12"),
    NodeInfo(id="n3", hostname="host3", addr="10.77.3.13"),
]


def task(node: str, addr: str, state: str = "running", net: str = "NET") -> dict[str, object]:
    return {
        "NodeID": node,
        "Status": {"State": state},
        "NetworksAttachments": [{"Network": {"ID": net}, "Addresses": [addr]}],
    }


def test_task_addresses_maps_running_tasks_on_the_network() -> None:
    tasks = [
        task("n1", "10.10.0.3/24"),
        task("n2", "10.10.0.4/24"),
        task("n3", "10.10.0.5/24", state="shutdown"),
        task("n3", "10.20.0.5/24", net="OTHER"),
        task("gone", "10.10.0.9/24"),
    ]
    assert task_addresses(tasks, NODES, "NET") == {"10.10.0.3": "host1", "10.10.0.4": "host2"}


def _full_round(block: str | None = None) -> list[str]:
    ips = {"host1": "10.10.0.3", "host2": "10.10.0.4", "host3": "10.10.0.5"}
    lines: list[str] = []
    for src in ips:
        for dst, ip in ips.items():
            broken = block is not None and src != dst and block in (src, dst)
            lines.append(peer(src, ip, 0 if broken else 1, 4, 50))
        lines.append(end(src, 4, 50))
    return lines


ADDRS = {"10.10.0.3": "host1", "10.10.0.4": "host2", "10.10.0.5": "host3"}


def test_build_matrix_all_ok() -> None:
    m = build_matrix(
        "net", ["host3", "host1", "host2"], ADDRS, latest_rounds(parse_logs(_full_round()))
    )
    assert m.nodes == ("host1", "host2", "host3")
    assert m.healthy
    assert len(m.pairs) == 9
    assert m.get("host1", "host3").rtt_ms == 0.2


def test_build_matrix_blocked_node() -> None:
    m = build_matrix(
        "net", ["host1", "host2", "host3"], ADDRS, latest_rounds(parse_logs(_full_round("host2")))
    )
    broken = sorted((p.src, p.dst) for p in m.broken)
    assert broken == [
        ("host1", "host2"),
        ("host2", "host1"),
        ("host2", "host3"),
        ("host3", "host2"),
    ]
    assert m.get("host2", "host2").ok
    assert not m.healthy


def test_build_matrix_missing_dns_and_missing_task() -> None:
    lines = [x for x in _full_round() if not ('"src":"host1"' in x and "10.10.0.5" in x)]
    addrs = {"10.10.0.3": "host1", "10.10.0.5": "host3"}  # no task on host2
    m = build_matrix("net", ["host1", "host2", "host3"], addrs, latest_rounds(parse_logs(lines)))
    assert m.get("host1", "host3").state == "not-in-dns"
    assert m.get("host3", "host1").state == "ok"
    assert m.get("host1", "host2").state == "no-probe"
    assert m.get("host2", "host1").state == "no-probe"
    assert m.running == frozenset({"host1", "host3"})


def test_build_matrix_stale_source() -> None:
    rounds = latest_rounds(parse_logs(_full_round()))
    m = build_matrix("net", list(ADDRS.values()), ADDRS, rounds, now=200, max_age_s=30)
    assert {p.state for p in m.pairs.values()} == {"stale"}
    m = build_matrix("net", list(ADDRS.values()), ADDRS, rounds, now=60, max_age_s=30)
    assert m.healthy


def test_build_matrix_ignores_addresses_of_old_tasks_and_reads_mtu() -> None:
    lines = [
        *_full_round(),
        peer("host1", "10.10.0.99", 0, 4, 50),
        '{"so":"iface","src":"host1","if":"eth0","mtu":1450,"addrs":["10.10.0.3/24"],'
        '"inc":"a","round":4,"t":50}',
        '{"so":"iface","src":"host1","if":"eth1","mtu":1500,"addrs":["172.18.0.3/16"],'
        '"inc":"a","round":4,"t":50}',
    ]
    m = build_matrix("net", list(ADDRS.values()), ADDRS, latest_rounds(parse_logs(lines)))
    assert m.healthy
    assert m.mtu == {"host1": 1450}


def test_overlay_probe_spec() -> None:
    settings = ProbeSettings(image="reg:5000/bb:1", interval_s=2, owner="doctor", run_id="ab12")
    spec = probe.overlay_probe_spec("front", settings, network_id="NETID")
    assert spec["Name"] == "so-doctor-ab12-front"
    assert spec["Mode"] == {"Global": {}}
    assert spec["EndpointSpec"] == {"Mode": "dnsrr"}
    assert spec["TaskTemplate"]["Networks"] == [{"Target": "NETID"}]
    labels = spec["Labels"]
    assert labels[probe.LABEL_ROLE] == "probe"
    assert labels[probe.LABEL_NETWORK] == "front"
    assert labels[probe.LABEL_RUN] == "ab12"
    assert probe.is_probe(labels)
    env = spec["TaskTemplate"]["ContainerSpec"]["Env"]
    assert "SO_NODE={{.Node.Hostname}}" in env
    assert "SO_SERVICE=so-doctor-ab12-front" in env
    assert "SO_INTERVAL=2" in env
    assert spec["TaskTemplate"]["ContainerSpec"]["Image"] == "reg:5000/bb:1"
    json.dumps(spec)  # plain JSON for the Engine API


def test_daemon_probe_names_are_stable_and_short() -> None:
    assert probe.overlay_probe_name("front") == "so-probe-front"
    long = probe.overlay_probe_name("n" * 63)
    assert len(long) <= 63
    assert long != probe.overlay_probe_name("n" * 62 + "m")


def test_host_probe_spec_targets() -> None:
    spec = probe.host_probe_spec(NODES, ProbeSettings(run_id="x1", owner="doctor"), "HOSTNET")
    env = spec["TaskTemplate"]["ContainerSpec"]["Env"]
    assert (
        "SO_TARGETS=host1,10.77.3.11,manager host2,10.77.3.12,worker host3,10.77.3.13,worker" in env
    )
    assert spec["TaskTemplate"]["Networks"] == [{"Target": "HOSTNET"}]
    assert spec["Labels"][probe.LABEL_PROBE_KIND] == "host"


def test_nodes_from_api() -> None:
    raw = [
        {
            "ID": "b",
            "Description": {"Hostname": "host2"},
            "Spec": {"Role": "worker", "Availability": "drain"},
            "Status": {"State": "down", "Addr": "10.77.3.12"},
        },
        {
            "ID": "a",
            "Description": {"Hostname": "host1"},
            "Spec": {"Role": "manager", "Availability": "active"},
            "Status": {"State": "ready", "Addr": "0.0.0.0"},
            "ManagerStatus": {
                "Leader": True,
                "Reachability": "reachable",
                "Addr": "10.77.3.11:2377",
            },
        },
    ]
    nodes = probe.nodes_from_api(raw)
    assert [n.hostname for n in nodes] == ["host1", "host2"]
    assert nodes[0].addr == "10.77.3.11" and nodes[0].leader and nodes[0].eligible
    assert nodes[1].state == "down" and not nodes[1].eligible


def test_probe_image_setting() -> None:
    assert probe.probe_image("x:1", {}) == "x:1"
    assert probe.probe_image(None, {probe.PROBE_IMAGE_ENV: "y:2"}) == "y:2"
    assert probe.probe_image(None, {}) == probe.DEFAULT_PROBE_IMAGE


def test_round_record_parsed() -> None:
    assert parse_line(end("host3", 7, 70, 3, "z")) == RoundRecord("host3", 7, 3, 70, "z")


def test_samples_for_the_daemons_metrics() -> None:
    m = build_matrix(
        "net", list(ADDRS.values()), ADDRS, latest_rounds(parse_logs(_full_round("host2")))
    )
    rows = {(s, d): (v, rtt) for s, d, v, rtt in matrix.samples(m)}
    assert len(rows) == 9
    assert rows[("host1", "host2")] == (0, None)
    assert rows[("host1", "host3")] == (1, 0.0002)
    assert m.rounds == {"host1": ("a", 4), "host2": ("a", 4), "host3": ("a", 4)}


def test_settings_for_network() -> None:
    from swarm_operator.manifests.models import ProbeSpec

    default = probe.settings_for_network(None, default_image="img:1")
    assert default == ProbeSettings(image="img:1", interval_s=5.0, owner="daemon")
    tuned = probe.settings_for_network(ProbeSpec(interval="10s", image="x:2"))
    assert tuned is not None and tuned.interval_s == 10.0 and tuned.image == "x:2"
    assert probe.settings_for_network(ProbeSpec(enabled=False)) is None
    assert probe.settings_for_network(None, driver="bridge") is None


def test_metric_maps_match_the_daemons_set_overlay_matrix() -> None:
    m = build_matrix(
        "net", list(ADDRS.values()), ADDRS, latest_rounds(parse_logs(_full_round("host2")))
    )
    fresh = [m.get("host1", "host3"), m.get("host1", "host2")]
    reachable, rtts = matrix.metric_maps(m, fresh)
    assert len(reachable) == 9 and reachable[("host1", "host2")] is False
    assert rtts == {("host1", "host3"): 0.0002}


def test_probe_services_and_networks_are_not_user_objects() -> None:
    from swarm_operator.engine.live import build_state

    spec = probe.overlay_probe_spec("front", ProbeSettings())
    services = [
        {"ID": "p", "Spec": spec, "Version": {"Index": 1}},
        {
            "ID": "u",
            "Version": {"Index": 1},
            "Spec": {"Name": "web", "TaskTemplate": {"ContainerSpec": {"Image": "x:1"}}},
        },
    ]
    networks = [
        {"Id": "N1", "Name": "front", "Scope": "swarm", "Driver": "overlay", "Labels": {}},
        {
            "Id": "N2",
            "Name": "so-doctor-ab12",
            "Scope": "swarm",
            "Driver": "overlay",
            "Labels": probe.probe_labels("overlay", ProbeSettings(owner="doctor", run_id="ab12")),
        },
    ]
    state = build_state({"Service": services, "Network": networks})
    assert sorted(state.of("Service")) == ["web"]
    assert sorted(state.of("Network")) == ["front"]
