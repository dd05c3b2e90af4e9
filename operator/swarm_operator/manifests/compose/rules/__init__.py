"""The table: each compose key, what it becomes in a manifest, or why it cannot.

Owns the mapping from the compose vocabulary to the manifest language, as rows of
tables (`SERVICE`, `DEPLOY`, `NETWORK`, ...): a key maps to a path in the manifest's
spec with a value converter (`to`), to a table one level down (`nested`), to a function
of its own (ports, volumes, networks, ``restart``), or it says why it cannot be
converted: Swarm ignores it (`ignored`: a warning at the key, as ``docker stack deploy``
ignores it), the manifest language has no field for it yet (`not_yet`: an error
naming the manifest field that is coming), or it has no equivalent at all (`refused`:
an error). A key no table lists is an error with "did you mean". Nothing is dropped
without a word. ``x-`` extension keys are skipped everywhere.

This module is the one place the service table is assembled (`SERVICE`, in the order
its rows apply), with the service keys Swarm ignores or refuses, and what `convert`
uses of the rest. The rows live by compose section:

- `rules.base`: the vocabulary (`Project`, `Ctx`, `walk`, value converters, rule makers);
- `rules.container`: environment, env files, healthcheck, logging, credential spec,
  ulimits, a service's secrets and configs;
- `rules.deploy`: the ``deploy:`` section and the legacy ``restart``;
- `rules.volumes`: a service's mounts and the volume declarations;
- `rules.networks`: a service's ports and networks, and the network declarations.

Adding a manifest field is one row: replace its `not_yet` by a `to`.
Neighbours: `convert` walks a merged, long-form tree (`merge`) through these tables into
a `Ctx` per object.
"""

from __future__ import annotations

from swarm_operator.manifests.compose.rules import container, deploy, networks, volumes
from swarm_operator.manifests.compose.rules.base import (
    DEFAULT_NETWORK,
    STACK_IMAGE_LABEL,
    STACK_NAMESPACE_LABEL,
    Bad,
    Ctx,
    Project,
    Table,
    boolean,
    ignored,
    is_external,
    lower,
    nested,
    quantity,
    refused,
    skip,
    text,
    text_list,
    text_map,
    to,
    walk,
    words,
)
from swarm_operator.manifests.compose.rules.networks import NETWORK
from swarm_operator.manifests.compose.rules.volumes import has_driver, volume_spec

__all__ = [
    "DEFAULT_NETWORK",
    "NETWORK",
    "SERVICE",
    "STACK_IMAGE_LABEL",
    "STACK_NAMESPACE_LABEL",
    "TOP_LEVEL",
    "Bad",
    "Ctx",
    "Project",
    "Table",
    "has_driver",
    "is_external",
    "refused",
    "skip",
    "text",
    "text_map",
    "to",
    "volume_spec",
    "walk",
]

_IGNORED_BY_SWARM = {
    "depends_on": "services start in no order; make them wait for each other",
    "container_name": "Swarm names the containers of a service's tasks",
    "build": "Swarm does not build images; build and push it, and set image",
    "links": "services on one network reach each other by name",
    "external_links": "services on one network reach each other by name",
    "privileged": "services cannot run privileged",
    "devices": "services cannot map devices",
    "security_opt": "services take no security options",
    "cgroup_parent": "services take no cgroup parent",
    "cgroupns_mode": "services take no cgroup namespace mode",
    "network_mode": "a service's networks are its networks:",
    "profiles": "every service of the file is deployed",
    "expose": "services on one network reach each other on any port",
    "domainname": "not a service setting",
    "ipc": "not a service setting",
    "pid": "not a service setting",
    "shm_size": "not a service setting",
    "userns_mode": "not a service setting",
    "mac_address": "Swarm assigns the addresses of a service's tasks",
    "tmpfs": "docker stack deploy ignores it; write a volumes entry of type tmpfs",
    "scale": "use deploy.replicas",
    "pull_policy": "nodes pull the image when they start a task",
    "platform": "use deploy.placement.constraints on node.platform.os/arch",
}

_FORBIDDEN = {
    "volume_driver": "declare a volume under the top-level volumes: with its driver",
    "volumes_from": "declare the volume under the top-level volumes: and mount it in each service",
    "cpu_quota": "set deploy.resources.limits.cpus",
    "cpu_shares": "set deploy.resources.limits.cpus",
    "cpuset": "set deploy.resources.limits.cpus",
    "mem_limit": "set deploy.resources.limits.memory",
    "memswap_limit": "set deploy.resources.limits.memory",
    "oom_score_adj": "services take no OOM score",
}

SERVICE: Table = {
    "image": to(("image",)),
    "entrypoint": to(("command",), words),
    "command": to(("args",), words),
    "env_file": container.env_file,  # before environment: environment wins (the table's order)
    "environment": container.environment,
    "labels": to(("containerLabels",), text_map),
    "hostname": to(("hostname",)),
    "user": to(("user",)),
    "working_dir": to(("workdir",)),
    "stop_grace_period": to(("stopGracePeriod",), quantity),
    "stop_signal": to(("stopSignal",)),
    "init": to(("init",), boolean),
    "dns": to(("dns",), text_list),
    "dns_search": to(("dnsSearch",), text_list),
    "dns_opt": to(("dnsOptions",), text_list),
    "extra_hosts": to(("hosts",), text_map),
    "healthcheck": container.healthcheck,
    "networks": networks.service_networks,
    "ports": networks.service_ports,
    "volumes": volumes.service_volumes,
    "deploy": nested(deploy.DEPLOY),
    "restart": deploy.restart,  # after deploy: deploy.restart_policy wins
    "secrets": container.references("secrets"),
    "configs": container.references("configs"),
    "logging": container.logging,
    "cap_add": to(("capAdd",), text_list),
    "cap_drop": to(("capDrop",), text_list),
    "sysctls": to(("sysctls",), text_map),
    "ulimits": to(("ulimits",), container.ulimits),
    "read_only": to(("readOnly",), boolean),
    "tty": to(("tty",), boolean),
    "stdin_open": to(("stdinOpen",), boolean),
    "isolation": to(("isolation",), lower),
    "group_add": to(("groups",), text_list),
    "credential_spec": container.credential_spec,
    **{k: ignored(v) for k, v in _IGNORED_BY_SWARM.items()},
    **{k: refused(v) for k, v in _FORBIDDEN.items()},
}
"""Service keys, in the order they are applied (a later row may read an earlier one's)."""

TOP_LEVEL = ("version", "services", "networks", "volumes", "secrets", "configs", "name")
