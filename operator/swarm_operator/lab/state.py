"""The lab as data: `Lab` and `LabHost`, and their JSON state file.

The state file (``/var/lib/swarm-operator/lab-K/state.json``) records what `lab up`
started: every daemon's pid with its start time, namespaces, sockets. `lab down`,
`lab status` and the fault controls work from it; tests and other modules get a `Lab`
from `lifecycle.load_lab` or `lifecycle.lab_up` (`teardown.lab_down` removes it). No
I/O apart from the file itself.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from swarm_operator.lab.layout import Layout

STATE_VERSION = 1


@dataclass
class LabHost:
    """One lab host: a netns with its own dockerd, joined to the lab's Swarm."""

    name: str
    number: int
    address: str
    netns: str
    veth: str
    socket: str
    role: str  # "manager" or "worker"
    pid: int = 0  # dockerd; 0 while stopped
    start: int = 0  # dockerd's start time (/proc/PID/stat field 22), guards against pid reuse
    mnt_ns: int = 0  # inode of dockerd's private mount namespace

    @property
    def docker_host(self) -> str:
        return f"unix://{self.socket}"


@dataclass
class Lab:
    """A running (or half-running) lab of index ``index``; ``hosts[0]`` is the first manager."""

    index: int
    managers: int
    hosts: list[LabHost]
    registry_pid: int = 0
    registry_start: int = 0
    forward_rule: bool = False  # we inserted the FORWARD ACCEPT rule for the bridge
    # The Docker engine release every host runs (`engines.ENGINES`); a lab recorded before
    # engines could be chosen ran the system's 20.10.
    engine: str = "20.10"
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def layout(self) -> Layout:
        return Layout(self.index)

    @property
    def manager(self) -> LabHost:
        return self.hosts[0]

    @property
    def registry(self) -> str:
        return self.layout.registry

    @property
    def image(self) -> str:
        return self.layout.image

    @property
    def bridge(self) -> str:
        return self.layout.bridge

    @property
    def subnet(self) -> str:
        return self.layout.subnet

    @property
    def data_dir(self) -> Path:
        return self.layout.data_dir

    def host(self, name: str) -> LabHost:
        for host in self.hosts:
            if host.name == name:
                return host
        names = ", ".join(h.name for h in self.hosts)
        raise KeyError(f"lab {self.index} has no host {name!r} (hosts: {names})")

    def update_from(self, other: Lab) -> None:
        """Take over ``other``'s recorded state in place (keeps references to this object
        valid, e.g. a session fixture's, after `lab_up` repaired the lab)."""
        for f in fields(self):
            setattr(self, f.name, getattr(other, f.name))

    def to_json(self) -> str:
        data = asdict(self)
        data["version"] = STATE_VERSION
        return json.dumps(data, indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Lab:
        data = json.loads(text)
        if data.pop("version", None) != STATE_VERSION:
            raise ValueError("lab state file has an unknown version")
        hosts = [LabHost(**h) for h in data.pop("hosts")]
        return cls(hosts=hosts, **data)


def new_lab(index: int, hosts: int, managers: int, engine: str = "20.10") -> Lab:
    layout = Layout(index)
    return Lab(
        index=index,
        managers=managers,
        engine=engine,
        hosts=[new_host(layout, n, managers) for n in range(1, hosts + 1)],
    )


def new_host(layout: Layout, n: int, managers: int) -> LabHost:
    return LabHost(
        name=layout.host_name(n),
        number=n,
        address=layout.host_address(n),
        netns=layout.netns(n),
        veth=layout.veth(n),
        socket=str(layout.socket(n)),
        role="manager" if n <= managers else "worker",
    )


def save(lab: Lab) -> None:
    path = lab.layout.state_file
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(lab.to_json())
    os.replace(tmp, path)


def load(index: int) -> Lab | None:
    """The recorded lab of ``index``, or None if there is no (readable) state file."""
    try:
        return Lab.from_json(Layout(index).state_file.read_text())
    except (FileNotFoundError, ValueError, TypeError, KeyError):
        return None
