"""The Docker engine's own rules for what a service or network spec may hold.

Owns the tables and grammars that swarmkit (``manager/controlapi``, ``manager/constraint``)
and the Docker daemon (``distribution/reference``) apply when a spec arrives, so that
`validate` refuses what the engine would refuse instead of `apply` failing half-way
through a plan. Pure: no I/O, no pydantic; the models call these functions.
"""

from __future__ import annotations

import re

INT64_MAX = 2**63 - 1
"""Go ``int64``: durations (nanoseconds), memory bytes, nano-CPUs."""
UINT64_MAX = 2**64 - 1
"""Go ``uint64``: replicas, parallelism, max attempts, max replicas per node."""
INT32_MAX = 2**31 - 1
"""Go ``int`` on the healthcheck's retries is at least 32 bits wide."""

MAX_DURATION_NS = INT64_MAX
MIN_NANO_CPUS = 1_000_000
"""swarmkit ``validateResources``: a CPU amount, when set, is at least 0.001 CPUs."""
MIN_MEMORY_BYTES = 4 * 1024 * 1024
"""swarmkit ``validateResources``: a memory limit or reservation, when set, is >= 4 MiB."""
MIN_MEMORY_LIMIT = 6 * 1024 * 1024
"""The daemon refuses a container memory limit below 6 MiB (``linuxMinMemory``)."""
MIN_HEALTH_DURATION_NS = 1_000_000
"""swarmkit ``validateHealthCheck``: interval, timeout and start period, when set, >= 1 ms."""

# --------------------------------------------------------------------------- names

NAME_RE = re.compile(r"[a-zA-Z0-9](?:[-_]*[A-Za-z0-9]+)*")
"""swarmkit ``isValidName`` for services and networks (no dots, no trailing - or _)."""
NAME_MAX = 63


def name_problem(name: str) -> str | None:
    """Why swarmkit would refuse ``name`` for a service or network, or None."""
    if len(name) > NAME_MAX:
        return f"{name!r} is longer than {NAME_MAX} characters"
    if not NAME_RE.fullmatch(name):
        return (
            f"{name!r} is not a valid Swarm name: use letters and digits, with '-' or '_' "
            "only between them (no '.', not ending in '-' or '_')"
        )
    return None


# --------------------------------------------------------------------------- image references
# docker/distribution reference grammar (reference/regexp.go), as the daemon parses an
# image with ParseNormalizedNamed.

_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_COMPONENT = rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_REFERENCE = re.compile(
    rf"(?P<name>(?:{_DOMAIN}/)?{_COMPONENT}(?:/{_COMPONENT})*)(?::{_TAG})?(?:@{_DIGEST})?",
    re.ASCII,
)
_HEX64 = re.compile(r"[a-f0-9]{64}")
NAME_TOTAL_MAX = 255


def image_problem(image: str) -> str | None:
    """Why the daemon would refuse ``image`` as a reference, or None."""
    if _HEX64.fullmatch(image):
        return f"{image!r}: a 64-character hexadecimal string is an image ID, not a reference"
    first, slash, rest = image.partition("/")
    has_domain = bool(slash) and (any(c in first for c in ".:") or first == "localhost")
    path = rest if has_domain else image
    path_name = re.split(r"[:@]", path, maxsplit=1)[0]
    if path_name != path_name.lower():
        return f"invalid image {image!r}: the repository name must be lowercase"
    match = _REFERENCE.fullmatch(image)
    if match is None:
        return (
            f"invalid image reference {image!r}: use [registry[:port]/]name[:tag][@digest], "
            "e.g. 10.77.0.1:5000/web:1"
        )
    if len(match.group("name")) > NAME_TOTAL_MAX:
        return f"invalid image {image!r}: the repository name is longer than {NAME_TOTAL_MAX}"
    return None


# --------------------------------------------------------------------------- constraints
# swarmkit manager/constraint: Parse (syntax) and NodeMatches (the keys it knows).

_CONSTRAINT_KEY = re.compile(r"(?i)[a-z_][a-z0-9\-_.]+")
_CONSTRAINT_VALUE = re.compile(r"(?i)[a-z0-9:\-_\s.*()?+\[\]\\^$|/]+")
CONSTRAINT_OPERATORS = ("==", "!=")
CONSTRAINT_KEYS = (
    "node.id",
    "node.hostname",
    "node.ip",
    "node.role",
    "node.platform.os",
    "node.platform.arch",
)
CONSTRAINT_PREFIXES = ("node.labels.", "engine.labels.")


def constraint_problem(constraint: str) -> str | None:
    """Why swarmkit would refuse (or never match) ``constraint``, or None."""
    for op in CONSTRAINT_OPERATORS:
        if op not in constraint:
            continue
        key, _, value = constraint.partition(op)
        key, value = key.strip(), value.strip()
        if not _CONSTRAINT_KEY.fullmatch(key):
            return f"invalid constraint {constraint!r}: key {key!r} is invalid"
        if not _CONSTRAINT_VALUE.fullmatch(value):
            return f"invalid constraint {constraint!r}: value {value!r} is invalid"
        lower = key.lower()
        known = lower in CONSTRAINT_KEYS or any(
            lower.startswith(p) and len(lower) > len(p) for p in CONSTRAINT_PREFIXES
        )
        if not known:
            return (
                f"constraint {constraint!r}: unknown key {key!r}, which no node ever matches "
                f"(known: {', '.join(CONSTRAINT_KEYS)}, node.labels.NAME, engine.labels.NAME)"
            )
        return None
    return (
        f"invalid constraint {constraint!r}: use KEY==VALUE or KEY!=VALUE, "
        "e.g. node.role==worker or node.labels.zone!=a"
    )


# --------------------------------------------------------------------------- container
# What the daemon accepts in a task's container (moby oci/caps, opts.ValidateSysctl,
# go-units ulimit): a name outside these fails every task at start, not at create.

CAPABILITIES = frozenset(
    "CAP_" + name
    for name in [
        "CHOWN",
        "DAC_OVERRIDE",
        "DAC_READ_SEARCH",
        "FOWNER",
        "FSETID",
        "KILL",
        "SETGID",
        "SETUID",
        "SETPCAP",
        "LINUX_IMMUTABLE",
        "NET_BIND_SERVICE",
        "NET_BROADCAST",
        "NET_ADMIN",
        "NET_RAW",
        "IPC_LOCK",
        "IPC_OWNER",
        "SYS_MODULE",
        "SYS_RAWIO",
        "SYS_CHROOT",
        "SYS_PTRACE",
        "SYS_PACCT",
        "SYS_ADMIN",
        "SYS_BOOT",
        "SYS_NICE",
        "SYS_RESOURCE",
        "SYS_TIME",
        "SYS_TTY_CONFIG",
        "MKNOD",
        "LEASE",
        "AUDIT_WRITE",
        "AUDIT_CONTROL",
        "SETFCAP",
        "MAC_OVERRIDE",
        "MAC_ADMIN",
        "SYSLOG",
        "WAKE_ALARM",
        "BLOCK_SUSPEND",
        "AUDIT_READ",
        "PERFMON",
        "BPF",
        "CHECKPOINT_RESTORE",
    ]
)
"""Linux capabilities (capability.h, up to CAP_CHECKPOINT_RESTORE), as the CLI writes them."""

ULIMITS = frozenset(
    [
        "core",
        "cpu",
        "data",
        "fsize",
        "locks",
        "memlock",
        "msgqueue",
        "nice",
        "nofile",
        "nproc",
        "rss",
        "rtprio",
        "rttime",
        "sigpending",
        "stack",
    ]
)
"""go-units ``ulimitNameMapping``: the names ``--ulimit`` and the daemon know."""

NAMESPACED_SYSCTLS = frozenset(
    [
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    ]
)
NAMESPACED_SYSCTL_PREFIXES = ("net.", "fs.mqueue.")
"""``opts.ValidateSysctl``: only namespaced kernel parameters may be set in a container."""


def capability_problem(name: str) -> str | None:
    """Why the daemon would refuse capability ``name`` (normalised: upper case, CAP_)."""
    if name == "ALL" or name in CAPABILITIES:
        return None
    return f"unknown capability {name!r} (e.g. CAP_NET_ADMIN, NET_ADMIN or ALL)"


def ulimit_problem(name: str) -> str | None:
    if name in ULIMITS:
        return None
    return f"unknown ulimit {name!r} (known: {', '.join(sorted(ULIMITS))})"


def sysctl_problem(name: str) -> str | None:
    if name in NAMESPACED_SYSCTLS or name.startswith(NAMESPACED_SYSCTL_PREFIXES):
        return None
    return (
        f"sysctl {name!r} is not namespaced, so a container may not set it "
        "(allowed: net.*, fs.mqueue.*, kernel.msg*, kernel.sem, kernel.shm*)"
    )


# --------------------------------------------------------------------------- mounts

OOM_SCORE_ADJ_MIN = -1000
OOM_SCORE_ADJ_MAX = 1000
"""The kernel's range of ``/proc/<pid>/oom_score_adj`` (compose's ``oom_score_adj`` too)."""


def subpath_problem(subpath: str) -> str | None:
    """The daemon's check of a volume mount's ``Subpath`` (Go's ``filepath.IsLocal``): a
    relative path that stays inside the volume. The engine stores any text and rejects
    every task of the service when it starts, so `validate` says it first."""
    parts = subpath.split("/")
    depth = 0
    for part in parts:
        if part == "..":
            depth -= 1
        elif part not in ("", "."):
            depth += 1
        if depth < 0:
            break
    if not subpath or subpath.startswith("/") or depth < 0 or "\x00" in subpath:
        return f"subpath {subpath!r} must be a relative path within the volume"
    return None
