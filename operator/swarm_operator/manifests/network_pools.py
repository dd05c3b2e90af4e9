"""The IPAM pools of a Network: the `Pool` block and the engine's rules across pools.

A network has zero or more pools (the engine's ``IPAM.Config``): none lets IPAM choose,
one is usually written as the shorthand ``subnet/gateway/ipRange`` of the network spec,
several (an IPv4 and an IPv6 one for a dual-stack overlay, or several IPv4 ones) as
``pools``. The checks are the engine's own (``multiple overlapping subnet configuration is
not supported``, ``no matching subnet for gateway``) plus one of the language's: an IPv6
pool needs ``ipv6: true``, since the engine accepts it without and then gives no task an
IPv6 address. A live network is read as it is, that rule aside (`pool_problems` with
``live``), so that nothing a user made is lost on reading. Pure.

Neighbours: `manifests.models` (``NetworkSpec`` uses these), `kinds.network` (engine form).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from pydantic import Field, field_validator, model_validator

from swarm_operator.manifests.fields import Model

IPNet = ipaddress.IPv4Network | ipaddress.IPv6Network


def cidr(value: str | None) -> str | None:
    """``value`` as a canonical network in CIDR form (strict: no host bits)."""
    if value is None:
        return None
    try:
        return str(ipaddress.ip_network(value, strict=True))
    except ValueError as exc:
        raise ValueError(
            f"{value!r} is not a network in CIDR form (e.g. 10.10.0.0/24): {exc}"
        ) from None


def address(value: str | None) -> str | None:
    """``value`` as a canonical IP address."""
    if value is None:
        return None
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise ValueError(f"{value!r} is not an IP address") from None


def gateway_problem(gateway: str, subnet: str) -> str | None:
    """Why ``gateway`` cannot be the gateway of ``subnet``, or None."""
    net = ipaddress.ip_network(subnet)
    addr = ipaddress.ip_address(gateway)
    if addr not in net:
        return f"gateway {addr} is outside subnet {subnet}"
    if net.num_addresses > 2 and addr in (net.network_address, net.broadcast_address):
        return f"gateway {addr} is the network or broadcast address of subnet {subnet}"
    return None


def range_problem(ip_range: str, subnet: str) -> str | None:
    """Why ``ip_range`` is not a sub-range of ``subnet``, or None."""
    net = ipaddress.ip_network(subnet)
    rng = ipaddress.ip_network(ip_range)
    inside = rng.version == net.version and (
        rng.network_address in net and rng.broadcast_address in net
    )
    return None if inside else f"ipRange {ip_range} is outside subnet {subnet}"


class Pool(Model):
    """One IPAM pool: a subnet, optionally its gateway and the sub-range tasks draw from."""

    subnet: str = Field(description="Subnet in CIDR form, 10.10.0.0/24 or fd00:10::/64.")
    gateway: str | None = Field(default=None, description="Gateway address inside the subnet.")
    ip_range: str | None = Field(default=None, description="Sub-range of the subnet for tasks.")

    @field_validator("subnet", "ip_range")
    @classmethod
    def _cidr(cls, value: str | None) -> str | None:
        return cidr(value)

    @field_validator("gateway")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        return address(value)

    @model_validator(mode="after")
    def _inside(self) -> Pool:
        problems = [
            self.gateway and gateway_problem(self.gateway, self.subnet),
            self.ip_range and range_problem(self.ip_range, self.subnet),
        ]
        found = [p for p in problems if p]
        if found:
            raise ValueError("; ".join(found))
        return self

    def network(self) -> IPNet:
        return ipaddress.ip_network(self.subnet)


def sort_key(pool: Pool) -> tuple[int, int, int]:
    """The order pools are compared in: the engine does not keep the written order (26.1
    returned IPv4 pools sorted, an IPv6 pool where it was written)."""
    net = pool.network()
    return net.version, int(net.network_address), net.prefixlen


def pool_problems(pools: Sequence[Pool], ipv6: bool, live: bool = False) -> list[str]:
    """What the engine (or, for IPv6 without ``ipv6``, the language) refuses across
    ``pools``; ``live``: a network read from the engine, taken as it is made."""
    problems: list[str] = []
    for i, a in enumerate(pools):
        for b in pools[i + 1 :]:
            na, nb = a.network(), b.network()
            if na.version == nb.version and na.overlaps(nb):
                problems.append(
                    f"pools {a.subnet} and {b.subnet} overlap (the engine refuses: multiple "
                    "overlapping subnet configuration is not supported)"
                )
    v6 = [p.subnet for p in pools if p.network().version == 6]
    if v6 and not ipv6 and not live:
        problems.append(
            f"IPv6 pool {', '.join(v6)} needs ipv6: true (without it the engine gives no "
            "task an IPv6 address)"
        )
    return problems
