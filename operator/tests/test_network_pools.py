"""Networks with several IPAM pools: the language's rules, the engine form and its
inverse, the comparison (no false drift whatever order the engine keeps), the replace
that lists the pools a recreate drops, and compose's ``ipam.config`` lists."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from swarm_operator.engine.live import build_state
from swarm_operator.engine.plan import PlanOptions, plan
from swarm_operator.kinds.network import (
    KIND,
    dropped,
    inherited_pools,
    network_from_docker,
    network_spec,
)
from swarm_operator.manifests.models import Network


def net(spec: dict[str, Any], name: str = "n") -> Network:
    return Network.model_validate({"metadata": {"name": name}, "spec": spec})


def stored(body: dict[str, Any], reorder: bool = True) -> dict[str, Any]:
    """``body`` as the engine keeps it: IPv4 pools sorted (26.1 did; 20.10 kept the written
    order), a gateway filled in where none was given (the range's first address, or the
    next one where the range starts the subnet: both engines on the lab)."""
    pools = []
    for p in (body.get("IPAM") or {}).get("Config") or []:
        p = dict(p)
        subnet = ipaddress.ip_network(p["Subnet"]).network_address
        first = ipaddress.ip_network(p.get("IPRange") or p["Subnet"]).network_address
        p.setdefault("Gateway", str(first if first != subnet else first + 1))
        pools.append(p)
    if reorder:
        v4 = sorted((p for p in pools if ":" not in p["Subnet"]), key=lambda p: p["Subnet"])
        pools = v4 + [p for p in pools if ":" in p["Subnet"]]
    return {
        **body,
        "Id": "n1",
        "Scope": "swarm",
        "IPAM": {"Driver": "default", "Options": None, "Config": pools},
    }


def only_action(desired: Network, live: dict[str, Any], **options: Any) -> Any:
    (action,) = plan([desired], build_state({"Network": [live]}), PlanOptions(**options)).actions
    return action


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"subnet": "10.1.0.0/24", "pools": [{"subnet": "10.2.0.0/24"}]}, "not both"),
        ({"pools": [{"subnet": "10.1.0.0/24"}, {"subnet": "10.1.0.128/25"}]}, "overlap"),
        ({"pools": [{"subnet": "fd00:1::/64"}]}, "needs ipv6: true"),
        ({"subnet": "fd00:1::/64"}, "needs ipv6: true"),
        ({"pools": [{"subnet": "10.1.0.0/24", "gateway": "10.2.0.1"}]}, "outside subnet"),
        ({"pools": [{"subnet": "10.1.0.0/24", "gateway": "10.1.0.0"}]}, "network or broad"),
        ({"pools": [{"subnet": "10.1.0.0/24", "ipRange": "10.2.0.0/25"}]}, "outside subnet"),
        ({"pools": [{"subnet": "10.1.0.1/24"}]}, "CIDR"),
        ({"pools": [{"gateway": "10.1.0.1"}]}, "subnet"),
        ({"external": True, "pools": [{"subnet": "10.1.0.0/24"}]}, "remove pools"),
    ],
)
def test_pool_rules(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        net(spec)


def test_valid_pools_and_the_shorthand_stay_valid() -> None:
    dual = net({"ipv6": True, "pools": [{"subnet": "10.1.0.0/24"}, {"subnet": "fd00:1::/64"}]})
    assert [p.subnet for p in dual.spec.ipam_pools()] == ["10.1.0.0/24", "fd00:1::/64"]
    # the same IPv4 subnet beside an IPv6 one, and pools that only touch, do not overlap
    net({"pools": [{"subnet": "10.1.0.0/25"}, {"subnet": "10.1.0.128/25"}]})
    short = net({"subnet": "10.3.0.0/24", "gateway": "10.3.0.1", "ipRange": "10.3.0.0/25"})
    assert network_spec(short)["IPAM"]["Config"] == [
        {"Subnet": "10.3.0.0/24", "Gateway": "10.3.0.1", "IPRange": "10.3.0.0/25"}
    ]
    assert "IPAM" not in network_spec(net({}))


def test_engine_form_has_every_pool_and_ipv6() -> None:
    body = network_spec(
        net({"ipv6": True, "pools": [{"subnet": "fd00:1::/64"}, {"subnet": "10.1.0.0/24"}]})
    )
    assert body["EnableIPv6"] is True
    assert body["IPAM"]["Config"] == [{"Subnet": "fd00:1::/64"}, {"Subnet": "10.1.0.0/24"}]


def test_reading_back_keeps_every_pool() -> None:
    live = stored(
        network_spec(net({"pools": [{"subnet": "10.7.0.0/24"}, {"subnet": "10.6.0.0/24"}]}))
    )
    read = network_from_docker(live)
    assert [(p.subnet, p.gateway) for p in read.spec.pools] == [
        ("10.6.0.0/24", "10.6.0.1"),
        ("10.7.0.0/24", "10.7.0.1"),
    ]
    assert read.spec.subnet is None
    # one pool is read as the shorthand, as existing manifests and exports write it
    one = network_from_docker(stored(network_spec(net({"subnet": "10.8.0.0/24"}))))
    assert (one.spec.subnet, one.spec.gateway, one.spec.pools) == ("10.8.0.0/24", "10.8.0.1", [])


def test_a_hand_made_inert_ipv6_pool_is_read_not_lost() -> None:
    """docker stack deploy (compose has no enable_ipv6 for it) and the CLI make an IPv6
    pool without EnableIPv6; the reader takes it as it is; a manifest cannot say it."""
    live = {
        "Name": "n",
        "Id": "n1",
        "Scope": "swarm",
        "Driver": "overlay",
        "EnableIPv6": False,
        "IPAM": {"Config": [{"Subnet": "10.9.0.0/24"}, {"Subnet": "fd00:9::/64"}]},
    }
    read = network_from_docker(live)
    assert [p.subnet for p in read.spec.pools] == ["10.9.0.0/24", "fd00:9::/64"]
    assert build_state({"Network": [live]}).of("Network")["n"].read_error is None


def test_pool_order_is_no_drift_and_a_dropped_pool_is_listed() -> None:
    desired = net(
        {
            "ipv6": True,
            "pools": [
                {"subnet": "fd00:2::/64"},
                {"subnet": "10.5.0.0/24"},
                {"subnet": "10.4.0.0/24"},
            ],
        }
    )
    live = {
        **stored(network_spec(desired)),
        "Labels": {"io.swarm-operator.managed-by": "swarm-operator"},
    }
    assert only_action(desired, live).verb == "noop"
    fewer = net({"ipv6": True, "pools": [{"subnet": "10.4.0.0/24"}, {"subnet": "10.5.0.0/24"}]})
    action = only_action(fewer, live)
    assert action.verb == "replace" and action.blocked  # gated as every network replace
    assert [d.path for d in action.differences] == ["spec.pools"]
    assert action.dropped == ("IPAM.Config[2] (subnet fd00:2::/64: not in the manifest)",)
    assert only_action(fewer, live, allow_replace=True).blocked is None


def test_a_replace_that_declares_no_pool_keeps_the_live_pools() -> None:
    """Unset, the pools are whatever the network has (so they compare equal): a recreate
    for another change makes them again instead of letting IPAM pick new subnets."""
    live = {
        **stored(
            network_spec(net({"pools": [{"subnet": "10.5.0.0/24"}, {"subnet": "10.4.0.0/24"}]}))
        ),
        "Labels": {"io.swarm-operator.managed-by": "swarm-operator"},
    }
    bare = net({"encrypted": True})
    action = only_action(bare, live, allow_replace=True)
    assert action.verb == "replace" and action.blocked is None
    assert [d.path for d in action.differences] == ["spec.encrypted"]
    assert action.dropped == ()
    assert action.kept == tuple(
        f"IPAM.Config[{i}] (subnet {s}: the manifest declares no pool; recreated with the "
        "live ones)"
        for i, s in enumerate(["10.4.0.0/24", "10.5.0.0/24"])
    )
    body = network_spec(bare, inherited_pools(bare, live))
    assert body["IPAM"]["Config"] == [
        {"Subnet": "10.4.0.0/24", "Gateway": "10.4.0.1"},
        {"Subnet": "10.5.0.0/24", "Gateway": "10.5.0.1"},
    ]
    assert only_action(bare, {**stored(body), "Labels": live["Labels"]}).verb == "noop"
    # a manifest that declares pools gets those only
    assert inherited_pools(net({"subnet": "10.4.0.0/24"}), live) == []
    assert dropped(net({"subnet": "10.4.0.0/24"}), live) == (
        "IPAM.Config[1] (subnet 10.5.0.0/24: not in the manifest)",
    )


def test_shorthand_against_one_pool_keeps_the_paths_plans_print() -> None:
    live = stored(network_spec(net({"subnet": "10.4.0.0/24"})))
    (diff,) = KIND.differences(net({"subnet": "10.5.0.0/24"}), network_from_docker(live))
    assert (diff.path, diff.before, diff.after) == ("spec.subnet", "10.4.0.0/24", "10.5.0.0/24")
    same = net({"pools": [{"subnet": "10.4.0.0/24", "gateway": "10.4.0.1"}]})
    assert KIND.differences(same, network_from_docker(live)) == ()


@st.composite
def pool_specs(draw: st.DrawFn) -> dict[str, Any]:
    """Non-overlapping IPv4 /24s and IPv6 /64s, each with or without gateway and range."""
    v4 = draw(st.lists(st.integers(0, 255), unique=True, max_size=4))
    v6 = draw(st.lists(st.integers(0, 0xFFFF), unique=True, max_size=2))
    pools: list[dict[str, Any]] = []
    for subnet in [f"10.200.{i}.0/24" for i in v4] + [f"fd00:{i:x}::/64" for i in v6]:
        network = ipaddress.ip_network(subnet)
        pool: dict[str, Any] = {"subnet": subnet}
        if draw(st.booleans()):
            pool["gateway"] = str(network.network_address + draw(st.integers(1, 200)))
        if draw(st.booleans()):
            pool["ipRange"] = str(next(network.subnets(prefixlen_diff=1)))
        pools.append(pool)
    order = draw(st.permutations(pools))
    if len(order) == 1 and draw(st.booleans()):
        return {"ipv6": bool(v6), **order[0]}
    return {"ipv6": bool(v6) or draw(st.booleans()), "pools": order}


@settings(max_examples=200, deadline=None)
@given(pool_specs(), st.booleans())
def test_round_trip_of_pools_plans_clean(spec: dict[str, Any], reorder: bool) -> None:
    desired = net(spec)
    live = {
        **stored(network_spec(desired), reorder),
        "Labels": {"io.swarm-operator.managed-by": "swarm-operator"},
    }
    read = network_from_docker(live)
    assert sorted(p.subnet for p in read.spec.ipam_pools()) == sorted(
        p.subnet for p in desired.spec.ipam_pools()
    )
    action = only_action(desired, live)
    assert action.verb == "noop", [str(d) for d in action.differences]
    # and the read-back manifest, written again, makes the same network
    assert network_spec(read)["IPAM" if desired.spec.ipam_pools() else "Name"] is not None
    assert only_action(read, live).verb == "noop"


def test_export_writes_every_pool_and_loads_again() -> None:
    from swarm_operator.engine.export import document

    desired = net({"ipv6": True, "pools": [{"subnet": "10.4.0.0/24"}, {"subnet": "fd00:4::/64"}]})
    live = build_state({"Network": [stored(network_spec(desired))]}).of("Network")["n"]
    doc = document(live)
    assert doc is not None
    assert doc["spec"] == {
        "ipv6": True,
        "pools": [
            {"subnet": "10.4.0.0/24", "gateway": "10.4.0.1"},
            {"subnet": "fd00:4::/64", "gateway": "fd00:4::1"},
        ],
    }
    again = Network.model_validate(doc)
    assert only_action(again, stored(network_spec(desired))).verb == "noop"
