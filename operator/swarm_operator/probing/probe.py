"""Cross-host probing, the pure half: probe settings, names, scripts and service specs.

Owns what a probe *is*, without talking to Docker:

- `overlay_probe_spec` / `host_probe_spec`: Engine API ``ServiceSpec`` dicts for the two
  short-lived or continuous global services. The overlay probe runs one task per node on
  an overlay network; each task resolves ``tasks.<service>`` (Swarm's DNS name for all
  task addresses), and for every peer address pings it and fetches a page from the
  peer's own little HTTP listener, printing one JSON line per peer and one per round.
  The host probe runs in the host's network namespace (network ``host``) and reports the
  node's interfaces (address, MTU) and whether the Swarm's TCP ports (2377 on managers,
  7946 everywhere) answer on every other node's underlay address.
What their output means (log lines into records, rounds, the node x node matrix) is
`probing.matrix`'s. Docker calls live in `probing.runner` (through `swarm.client`);
findings in `probing.diagnose`. Node fields are read as the Node kind reads them
(`kinds.node.node_status`), plus the underlay address only probes need.

What a probe image needs (the default is the lab's busybox image; any image works that
has these): ``sh``, ``awk``, ``sed``, ``sort``, ``date``, ``sleep``, ``cat``, ``mkdir``,
``nslookup`` (to resolve ``tasks.<service>``), ``ping`` (round-trip time), ``httpd`` (a TCP
listener on the overlay), ``nc``, ``grep`` and ``timeout`` (TCP tests: the peers' listener and
the Swarm ports) and ``ip`` (interface addresses). ``wget`` is not used: Debian's static
busybox 1.35 segfaults in ``wget -T`` (its time-out option), and a probe needs a time-out.
The node name comes from the service's env template ``{{.Node.Hostname}}``, so the image
needs nothing for that.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from swarm_operator.kinds.node import node_status
from swarm_operator.manifests.models import ProbeSpec
from swarm_operator.probing import DEFAULT_PROBE_IMAGE, PROBE_IMAGE_ENV
from swarm_operator.swarm import labels as swarm_labels

JSON = dict[str, Any]

# --------------------------------------------------------------------------- settings


PROBE_PORT = 7979
"""TCP port of the listener inside each overlay probe task (on the overlay only)."""

# Labels on every object a probe creates. The managed-by label marks it as the operator's,
# the role label tells the planner it is not a user object (never drift, never pruned by
# `apply --prune`; the probe code removes it).
LABEL_MANAGED_BY = swarm_labels.MANAGED_BY
MANAGED_BY = swarm_labels.MANAGER
LABEL_ROLE = swarm_labels.ROLE
ROLE_PROBE = swarm_labels.ROLE_PROBE
LABEL_PROBE_KIND = swarm_labels.PROBE_KIND
LABEL_NETWORK = swarm_labels.PROBE_NETWORK
LABEL_OWNER = swarm_labels.PROBE_OWNER
LABEL_RUN = swarm_labels.PROBE_RUN

SWARM_PORTS_TCP_MANAGER = (2377, 7946)
SWARM_PORTS_TCP_WORKER = (7946,)
UDP_PORTS = ("4789/udp", "7946/udp")
"""Cannot be tested by a connect; the diagnosis infers them from the overlay data path."""


def probe_image(explicit: str | None = None, env: Mapping[str, str] | None = None) -> str:
    """The probe image: the explicit setting, else $SWARM_OPERATOR_PROBE_IMAGE, else default."""
    if explicit:
        return explicit
    value = (os.environ if env is None else env).get(PROBE_IMAGE_ENV, "")
    return value or DEFAULT_PROBE_IMAGE


@dataclass(frozen=True)
class ProbeSettings:
    """How a probe service runs."""

    image: str = DEFAULT_PROBE_IMAGE
    """Image with the tools listed in this module's docstring."""
    interval_s: float = 5.0
    """Seconds between two rounds of one probe task."""
    owner: Literal["doctor", "daemon"] = "daemon"
    """Who created it: the doctor removes its own at exit, the daemon keeps its own."""
    run_id: str = ""
    """The doctor run that created it (empty for the daemon's)."""


# --------------------------------------------------------------------------- names

_NAME_MAX = 63


def _short(name: str, prefix: str) -> str:
    full = prefix + name
    if len(full) <= _NAME_MAX:
        return full
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return full[: _NAME_MAX - 9] + "-" + digest


def overlay_probe_name(network: str, run_id: str = "") -> str:
    """Service name of the overlay probe for ``network`` (per doctor run, or the daemon's)."""
    return _short(network, f"so-doctor-{run_id}-" if run_id else "so-probe-")


def host_probe_name(run_id: str = "") -> str:
    return f"so-doctor-{run_id}-host" if run_id else "so-probe-host"


# --------------------------------------------------------------------------- scripts

OVERLAY_SCRIPT = r"""
N="${SO_NODE:-$(hostname)}"
I=$(date +%s)-$RANDOM
tl() { printf '"inc":"%s","round":%s,"t":%s}' "$I" "$r" "$(date +%s)"; }
mkdir -p /tmp/so-www && echo so-probe-ok > /tmp/so-www/index.html
httpd -p "$SO_PORT" -h /tmp/so-www
r=0
while :; do
  r=$((r+1))
  ips=$(nslookup "tasks.$SO_SERVICE" 2>/dev/null | awk '/^Name:/{n=1;next}
    n && /^Address/ {for(i=2;i<=NF;i++) if ($i ~ /^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$/) print $i}' \
    | sort -u)
  for d in /sys/class/net/*; do
    i=${d##*/}; [ "$i" = lo ] && continue
    a=$(ip -4 addr show dev "$i" 2>/dev/null | awk '/inet /{printf "%s\"%s\"", s, $2; s=","}')
    [ -n "$a" ] || continue
    printf '{"so":"iface","src":"%s","if":"%s","mtu":%s,"addrs":[%s],%s\n' \
      "$N" "$i" "$(cat "$d/mtu")" "$a" "$(tl)"
  done
  n=0
  for ip in $ips; do
    n=$((n+1))
    (
      rtt=$(ping -c1 -W1 "$ip" 2>/dev/null | sed -n 's/.*time=\([0-9.]*\) *ms.*/\1/p')
      icmp=1; [ -n "$rtt" ] || { icmp=0; rtt=null; }
      tcp=0
      printf 'GET / HTTP/1.0\r\n\r\n' | timeout 4 nc -w 2 "$ip" "$SO_PORT" 2>/dev/null \
        | grep -q so-probe-ok && tcp=1
      printf '{"so":"peer","src":"%s","dst_ip":"%s","ok":%s,"icmp":%s,"tcp":%s,"rtt_ms":%s,%s\n' \
        "$N" "$ip" "$((icmp|tcp))" "$icmp" "$tcp" "$rtt" "$(tl)"
    ) &
  done
  wait
  printf '{"so":"round","src":"%s","peers":%s,%s\n' "$N" "$n" "$(tl)"
  sleep "$SO_INTERVAL"
done
"""
"""Overlay probe (busybox sh). Env: SO_NODE, SO_SERVICE, SO_PORT, SO_INTERVAL.

Every line is one ``printf`` (one write), so the parallel peer checks never interleave.
"""

HOST_SCRIPT = r"""
N="${SO_NODE:-$(hostname)}"
I=$(date +%s)-$RANDOM
tl() { printf '"inc":"%s","round":%s,"t":%s}' "$I" "$r" "$(date +%s)"; }
r=0
while :; do
  r=$((r+1))
  for d in /sys/class/net/*; do
    i=${d##*/}
    case "$i" in lo|veth*) continue;; esac
    a=$(ip -4 addr show dev "$i" 2>/dev/null | awk '/inet /{printf "%s\"%s\"", s, $2; s=","}')
    [ -n "$a" ] || continue
    printf '{"so":"iface","src":"%s","if":"%s","mtu":%s,"addrs":[%s],%s\n' \
      "$N" "$i" "$(cat "$d/mtu")" "$a" "$(tl)"
  done
  n=0
  for tgt in $SO_TARGETS; do
    name=${tgt%%,*}; rest=${tgt#*,}; ip=${rest%%,*}; role=${rest#*,}
    [ "$name" = "$N" ] && continue
    ports=7946; [ "$role" = manager ] && ports="2377 7946"
    for p in $ports; do
      n=$((n+1))
      (
        timeout 4 nc -w 2 "$ip" "$p" </dev/null >/dev/null 2>&1; rc=$?
        ok=1; [ "$rc" = 1 ] && ok=0
        printf '{"so":"port","src":"%s","dst":"%s","dst_ip":"%s","port":"%s/tcp","ok":%s,%s\n' \
          "$N" "$name" "$ip" "$p" "$ok" "$(tl)"
      ) &
    done
  done
  wait
  printf '{"so":"round","src":"%s","peers":%s,%s\n' "$N" "$n" "$(tl)"
  sleep "$SO_INTERVAL"
done
"""
"""Host probe (busybox sh, host network). Env: SO_NODE, SO_TARGETS, SO_INTERVAL.

SO_TARGETS is ``name,address,role`` per node, space separated. A connect that fails
(``nc`` exits 1: refused, unreachable or timed out) is a closed port; a connect that
succeeds and then waits for the other side (``timeout`` kills it) is an open one.
"""


# --------------------------------------------------------------------------- specs


def probe_labels(
    kind: Literal["overlay", "host"], settings: ProbeSettings, network: str = ""
) -> dict[str, str]:
    labels = {
        LABEL_MANAGED_BY: MANAGED_BY,
        LABEL_ROLE: ROLE_PROBE,
        LABEL_PROBE_KIND: kind,
        LABEL_OWNER: settings.owner,
    }
    if network:
        labels[LABEL_NETWORK] = network
    if settings.run_id:
        labels[LABEL_RUN] = settings.run_id
    return labels


def is_probe(labels: Mapping[str, str] | None) -> bool:
    """True for a service or network a probe created: never user drift, never pruned."""
    return swarm_labels.is_probe(labels)


def _interval(settings: ProbeSettings) -> str:
    return f"{max(settings.interval_s, 0.5):g}"


def _service_spec(
    name: str,
    labels: dict[str, str],
    image: str,
    script: str,
    env: list[str],
    networks: list[JSON],
) -> JSON:
    return {
        "Name": name,
        "Labels": labels,
        "TaskTemplate": {
            "ContainerSpec": {
                "Image": image,
                "Command": ["sh", "-c", script],
                "Env": env,
                "Labels": labels,
                "StopGracePeriod": 1_000_000_000,
                "StopSignal": "SIGKILL",
            },
            "Networks": networks,
            "RestartPolicy": {"Condition": "any", "Delay": 1_000_000_000},
            # json-file: service logs work whatever the node's default driver; bounded so a
            # probe that runs for months keeps a few MB per node
            "LogDriver": {"Name": "json-file", "Options": {"max-size": "1m", "max-file": "2"}},
            "Resources": {"Limits": {"MemoryBytes": 32 * 1024 * 1024}, "Reservations": {}},
            "Placement": {},  # always written, as the docker CLI does (kinds.service_spec)
        },
        "Mode": {"Global": {}},
        "EndpointSpec": {"Mode": "dnsrr"},
    }


def overlay_probe_spec(network: str, settings: ProbeSettings, network_id: str = "") -> JSON:
    """ServiceSpec of the global overlay probe on ``network`` (endpoint mode dnsrr)."""
    name = overlay_probe_name(network, settings.run_id)
    env = [
        "SO_NODE={{.Node.Hostname}}",
        f"SO_SERVICE={name}",
        f"SO_PORT={PROBE_PORT}",
        f"SO_INTERVAL={_interval(settings)}",
    ]
    target = network_id or network
    return _service_spec(
        name,
        probe_labels("overlay", settings, network),
        settings.image,
        OVERLAY_SCRIPT,
        env,
        [{"Target": target}],
    )


@dataclass(frozen=True)
class NodeInfo:
    """A Swarm node as the probes and the diagnosis need it."""

    id: str
    hostname: str
    addr: str
    """The node's underlay address (Status.Addr; a manager's advertise address)."""
    role: Literal["manager", "worker"] = "worker"
    state: str = "ready"
    availability: str = "active"
    reachability: str | None = None
    """Managers only: "reachable" or "unreachable"."""
    leader: bool = False

    @property
    def eligible(self) -> bool:
        """Whether a global service places a task here."""
        return self.state == "ready" and self.availability == "active"


def nodes_from_api(raw: Iterable[JSON]) -> list[NodeInfo]:
    """`swarm.client.SwarmClient.nodes()` into `NodeInfo`, sorted by hostname."""
    out: list[NodeInfo] = []
    for node in raw:
        st = node_status(node)  # role, availability, state: read as the Node kind reads them
        status = node.get("Status") or {}
        manager = node.get("ManagerStatus") or {}
        addr = str(status.get("Addr") or "")
        if manager.get("Addr") and addr in ("", "0.0.0.0"):
            addr = str(manager["Addr"]).rsplit(":", 1)[0]
        out.append(
            NodeInfo(
                id=str(node.get("ID", "")),
                hostname=st.hostname or str(node.get("ID")),
                addr=addr,
                role="manager" if st.role == "manager" else "worker",
                state=st.state,
                availability=st.availability or "active",
                reachability=st.reachability if manager else None,
                leader=st.leader,
            )
        )
    return sorted(out, key=lambda n: n.hostname)


def host_probe_spec(nodes: Sequence[NodeInfo], settings: ProbeSettings, host_net: str) -> JSON:
    """ServiceSpec of the global host-network probe; ``host_net`` is the ID of ``host``."""
    targets = " ".join(f"{n.hostname},{n.addr},{n.role}" for n in nodes if n.addr)
    env = [
        "SO_NODE={{.Node.Hostname}}",
        f"SO_TARGETS={targets}",
        f"SO_INTERVAL={_interval(settings)}",
    ]
    return _service_spec(
        host_probe_name(settings.run_id),
        probe_labels("host", settings),
        settings.image,
        HOST_SCRIPT,
        env,
        [{"Target": host_net}],
    )


def settings_for_network(
    spec: ProbeSpec | None, *, driver: str = "overlay", default_image: str | None = None
) -> ProbeSettings | None:
    """The daemon's probe settings for a managed network, or None when it is not probed
    (``spec.probe.enabled: false``, or not an overlay). Probing is on by default."""
    if driver != "overlay" or (spec is not None and not spec.enabled):
        return None
    image = (spec.image if spec is not None else None) or probe_image(default_image)
    interval = (spec.interval if spec is not None else 5_000_000_000) / 1e9
    return ProbeSettings(image=image, interval_s=interval, owner="daemon")
