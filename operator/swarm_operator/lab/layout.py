"""Names, addresses and paths of lab number K: pure functions of (index, host number).

Owns the lab's addressing contract, shared with the team brief, README and example
manifests: bridge ``br-lab`` (K=0) or ``br-labK``, subnet ``10.77.K.0/24``, bridge
address ``10.77.K.1`` (also the registry, port 5000, and a private registry with basic
authentication, port 5001, run only while a test needs it), hosts ``10.77.K.11``.. named
``host1``.., network namespaces ``soK-h1``.., data under ``/var/lib/swarm-operator/lab-K``.
Nothing here touches the machine (`forward_rule` is the firewall rule of the bridge, as
a list); `lifecycle`, `teardown` and `system` use it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

INDEX_ENV = "SWARM_OPERATOR_LAB_INDEX"
MAX_INDEX = 99
MAX_HOSTS = 40
DATA_ROOT = Path("/var/lib/swarm-operator")
REGISTRY_PORT = 5000
PRIVATE_REGISTRY_PORT = 5001
IMAGE_PATH = "swarm-operator/busybox:1"
# Linux interface names are at most 15 bytes; unix socket paths at most 107.
IFNAMSIZ = 15
UNIX_PATH_MAX = 107


class LabConfigError(ValueError):
    """A lab index or size that cannot be laid out (bad env value, too many hosts...)."""


def index_from_env(default: int = 0) -> int:
    """The lab index from ``SWARM_OPERATOR_LAB_INDEX`` (unset or empty: ``default``)."""
    raw = os.environ.get(INDEX_ENV, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise LabConfigError(f"{INDEX_ENV}={raw!r} is not an integer (0..{MAX_INDEX})") from None
    check_index(value)
    return value


def check_index(index: int) -> int:
    if not 0 <= index <= MAX_INDEX:
        raise LabConfigError(f"lab index {index} is out of range 0..{MAX_INDEX}")
    return index


def check_size(hosts: int, managers: int) -> None:
    if not 1 <= hosts <= MAX_HOSTS:
        raise LabConfigError(f"--hosts {hosts}: a lab has 1..{MAX_HOSTS} hosts")
    if not 1 <= managers <= hosts:
        raise LabConfigError(f"--managers {managers}: must be between 1 and the host count {hosts}")


@dataclass(frozen=True)
class Layout:
    """Where everything of lab ``index`` lives. Host numbers ``n`` start at 1."""

    index: int

    def __post_init__(self) -> None:
        check_index(self.index)

    @property
    def bridge(self) -> str:
        return "br-lab" if self.index == 0 else f"br-lab{self.index}"

    @property
    def subnet(self) -> str:
        return f"10.77.{self.index}.0/24"

    @property
    def gateway(self) -> str:
        return f"10.77.{self.index}.1"

    @property
    def registry(self) -> str:
        return f"{self.gateway}:{REGISTRY_PORT}"

    @property
    def private_registry(self) -> str:
        """HOST:PORT of the registry with htpasswd authentication (`engine.start_registry`
        with an htpasswd file); every lab daemon lists it as insecure, like ``registry``."""
        return f"{self.gateway}:{PRIVATE_REGISTRY_PORT}"

    @property
    def image(self) -> str:
        return f"{self.registry}/{IMAGE_PATH}"

    @property
    def data_dir(self) -> Path:
        return DATA_ROOT / f"lab-{self.index}"

    @property
    def state_file(self) -> Path:
        return self.data_dir / "state.json"

    @property
    def registry_dir(self) -> Path:
        return self.data_dir / "registry"

    @property
    def private_registry_dir(self) -> Path:
        return self.data_dir / "registry-private"

    @property
    def netns_prefix(self) -> str:
        return f"so{self.index}-h"

    @property
    def firewall_comment(self) -> str:
        """Comment on every iptables rule this lab adds, so `down` finds exactly its own."""
        return f"swarm-operator-lab-{self.index}"

    def host_name(self, n: int) -> str:
        return f"host{n}"

    def host_address(self, n: int) -> str:
        return f"10.77.{self.index}.{10 + n}"

    def netns(self, n: int) -> str:
        return f"{self.netns_prefix}{n}"

    def veth(self, n: int) -> str:
        """The machine-side end of host n's link (the other end is ``eth0`` in its netns)."""
        name = f"{self.netns_prefix}{n}"
        assert len(name) <= IFNAMSIZ
        return name

    def host_dir(self, n: int) -> Path:
        return self.data_dir / f"h{n}"

    def socket(self, n: int) -> Path:
        path = self.host_dir(n) / "docker.sock"
        assert len(str(path)) <= UNIX_PATH_MAX
        return path

    def host_number(self, name: str) -> int:
        """``host3`` -> 3; anything else is a `LabConfigError`."""
        if name.startswith("host") and name[4:].isdigit() and int(name[4:]) >= 1:
            return int(name[4:])
        raise LabConfigError(f"{name!r} is not a lab host name (host1, host2, ...)")


def forward_rule(layout: Layout) -> list[str]:
    """The firewall rule that lets the lab's hosts talk over its bridge (iptables FORWARD)."""
    return [
        "-i", layout.bridge, "-o", layout.bridge,
        "-m", "comment", "--comment", layout.firewall_comment,
        "-j", "ACCEPT",
    ]  # fmt: skip
