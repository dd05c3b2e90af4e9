"""A real multi-host Docker Swarm on one Linux machine, for tests, demos and users.

Each lab host is a network namespace with its own dockerd (own mount namespace, /run
and hostname) plugged into a bridge; a registry runs on the bridge address with a
busybox image. Modules: `layout` (names and addresses of lab K), `state` (`Lab`,
`LabHost`, the state file), `system` (processes, links, firewall), `engines` (which
Docker release: the system's or one fetched from Debian into a cache), `engine` (dockerd,
registry, docker CLI), `preflight` (what the machine lacks), `steps` (one command per
lab at a time, its progress), `lifecycle` (up), `teardown` (down), `private_registry`
(the registry with a password), `status` (what each host is doing), `faults` (breaking
a host on purpose). This
package never imports the ``docker`` Python package.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from swarm_operator.lab.layout import INDEX_ENV, LabConfigError, Layout, index_from_env

if TYPE_CHECKING:
    from swarm_operator.lab.faults import block, cut, restore, start_host, stop_host, unblock
    from swarm_operator.lab.lifecycle import docker, lab_up, load_lab, wait_nodes_ready
    from swarm_operator.lab.private_registry import start_private_registry, stop_private_registry
    from swarm_operator.lab.state import Lab, LabHost
    from swarm_operator.lab.status import HostStatus, lab_status
    from swarm_operator.lab.system import LabError
    from swarm_operator.lab.teardown import lab_down

# The rest is imported on first use (PEP 562), so that `lab --help` and the layout
# (`lab.layout`, which the command line's parser reads) cost no subprocess machinery.
_LAZY = {
    **dict.fromkeys(("block", "cut", "restore", "start_host", "stop_host", "unblock"), "faults"),
    **dict.fromkeys(("docker", "lab_up", "load_lab", "wait_nodes_ready"), "lifecycle"),
    **dict.fromkeys(("start_private_registry", "stop_private_registry"), "private_registry"),
    "lab_down": "teardown",
    "Lab": "state",
    "LabHost": "state",
    "HostStatus": "status",
    "lab_status": "status",
    "LabError": "system",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


__all__ = [
    "INDEX_ENV",
    "HostStatus",
    "Lab",
    "LabConfigError",
    "LabError",
    "LabHost",
    "Layout",
    "block",
    "cut",
    "docker",
    "index_from_env",
    "lab_down",
    "lab_status",
    "lab_up",
    "load_lab",
    "restore",
    "start_host",
    "start_private_registry",
    "stop_host",
    "stop_private_registry",
    "unblock",
    "wait_nodes_ready",
]
