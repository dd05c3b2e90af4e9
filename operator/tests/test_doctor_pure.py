"""Pure parts of the doctor: address use, task states, rendering, argument errors."""

from __future__ import annotations

import json

import pytest

from swarm_operator.cli import main, output
from swarm_operator.probing.diagnose import Finding, OverlayInfo
from swarm_operator.probing.doctor import DoctorReport
from swarm_operator.probing.matrix import Matrix, Pair, PortRecord
from swarm_operator.probing.probe import NodeInfo
from swarm_operator.probing.runner import address_use, overlay_info, running_nodes, task_errors

NODES = [
    NodeInfo(id="n1", hostname="host1", addr="10.77.3.11", role="manager"),
    NodeInfo(id="n2", hostname="host2", addr="10.77.3.12"),
]
NET = {
    "Name": "paper-net",
    "Id": "NET",
    "IPAM": {"Config": [{"Subnet": "10.10.0.0/24", "Gateway": "10.10.0.1"}]},
    "Options": {"com.docker.network.driver.mtu": "1400", "encrypted": ""},
}


def task(node: str, addr: str, desired: str = "running", state: str = "running",
         err: str = "", at: str = "2026-01-01T00:00:01Z") -> dict[str, object]:  # fmt: skip
    return {
        "NodeID": node,
        "DesiredState": desired,
        "UpdatedAt": at,
        "Status": {"State": state, **({"Err": err} if err else {})},
        "NetworksAttachments": [{"Network": {"ID": "NET"}, "Addresses": [addr]}],
    }


def test_address_use_counts_tasks_vips_and_load_balancers() -> None:
    services = [
        {"Endpoint": {"VirtualIPs": [{"NetworkID": "NET", "Addr": "10.10.0.2/24"}]}},
        {"Endpoint": {"VirtualIPs": [{"NetworkID": "OTHER", "Addr": "10.20.0.2/24"}]}},
    ]
    tasks = [
        task("n1", "10.10.0.3/24"),
        task("n2", "10.10.0.4/24"),
        task("n2", "10.10.0.5/24"),
        task("n2", "10.10.0.9/24", desired="shutdown"),
    ]
    # 1 VIP + 3 task addresses + 2 nodes' load balancers
    assert address_use(NET, services, tasks) == {"10.10.0.0/24": 6}


def test_overlay_info() -> None:
    info = overlay_info(NET, {"10.10.0.0/24": 6})
    assert info == OverlayInfo(
        name="paper-net",
        id="NET",
        subnets=("10.10.0.0/24",),
        options={"com.docker.network.driver.mtu": "1400", "encrypted": ""},
        encrypted=True,
        addresses_used={"10.10.0.0/24": 6},
    )
    assert info.mtu_option == 1400


def test_task_states_and_errors_use_the_newest_task() -> None:
    tasks = [
        task("n1", "10.10.0.3/24", state="failed", err="old", at="2026-01-01T00:00:01Z"),
        task("n1", "10.10.0.4/24", state="running", at="2026-01-01T00:00:02Z"),
        task(
            "n2",
            "10.10.0.5/24",
            state="rejected",
            err="No such image: x",
            at="2026-01-01T00:00:03Z",
        ),
    ]
    assert running_nodes(tasks, NODES) == {"host1": "running", "host2": "rejected"}
    assert task_errors(tasks, NODES) == {"host2": "rejected: No such image: x"}
    preparing = [task("n2", "10.10.0.5/24", state="preparing")]
    assert task_errors(preparing, NODES) == {"host2": "its task is still preparing"}


def report() -> DoctorReport:
    pairs = {
        ("host1", "host1"): Pair("host1", "host1", "ok", rtt_ms=0.05),
        ("host1", "host2"): Pair("host1", "host2", "unreachable"),
        ("host2", "host1"): Pair("host2", "host1", "not-in-dns"),
        ("host2", "host2"): Pair("host2", "host2", "ok", rtt_ms=0.04),
    }
    m = Matrix("paper-net", ("host1", "host2"), pairs, frozenset({"host1", "host2"}))
    return DoctorReport(
        nodes=NODES,
        networks=[overlay_info(NET)],
        matrices=[m],
        ports=[PortRecord("host1", "host2", "10.77.3.12", "7946/tcp", False, 1, 1)],
        findings=[
            Finding("error", "ports", "7946/tcp on host2 fails", fix="open it", nodes=("host2",)),
            Finding("info", "quorum", "a single manager"),
        ],
    )


def test_report_text() -> None:
    text = output.doctor_text(report())
    assert "overlay paper-net [10.10.0.0/24]" in text
    assert "host1         0.05ms       FAIL" in text
    assert "NO-DNS" in text
    assert "host2      7946/tcp  FAIL  from host1 FAIL" in text
    assert "ERROR   [ports] 7946/tcp on host2 fails" in text
    assert "fix: open it" in text
    assert text.rstrip().endswith("1 problem(s) found")


def test_report_json_round_trips() -> None:
    data = json.loads(json.dumps(output.doctor_json(report())))
    assert data["healthy"] is False
    (net,) = data["networks"]
    assert {(p["source"], p["target"], p["state"]) for p in net["pairs"]} >= {
        ("host1", "host2", "unreachable"),
        ("host2", "host1", "not-in-dns"),
    }
    assert data["findings"][0]["nodes"] == ["host2"]


@pytest.mark.parametrize(
    "argv",
    [
        ["doctor", "--timeout", "soon"],
        ["apply", "m", "--timeout", "soon"],
        ["run", "m", "--resync-interval", "soon"],
        ["run", "m", "--lease-duration", "-1s"],
    ],
)
def test_a_bad_duration_is_a_usage_error_in_every_command(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert argv[-2] in capsys.readouterr().err


def test_bad_output_is_a_usage_error() -> None:
    with pytest.raises(SystemExit) as exc:
        main(["doctor", "--output", "yaml"])
    assert exc.value.code == 2
