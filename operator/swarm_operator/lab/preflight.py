"""Can this machine run a lab? Linux, root, and the commands the lab drives.

Installs nothing: it names what is missing, the Debian package that provides it and
the exact ``apt-get install`` line (the Makefile's ``deps``/``lab`` targets run it).
"""

from __future__ import annotations

import os
import shutil
import struct
import sys
from dataclasses import dataclass

from swarm_operator.lab.engines import debian_major
from swarm_operator.lab.system import DAEMON_ENV, LabError

BUSYBOX = "/bin/busybox"
# command -> Debian package that provides it
REQUIRED_COMMANDS: dict[str, str] = {
    "dockerd": "docker.io",
    "docker": "docker.io",
    "containerd": "containerd",
    "runc": "runc",
    "docker-registry": "docker-registry",
    "ip": "iproute2",
    "iptables": "iptables",
    "nsenter": "util-linux",
    "unshare": "util-linux",
    "mount": "mount",
}
LAB_PACKAGES: tuple[str, ...] = (
    "docker.io",
    "docker-registry",
    "busybox-static",
    "iproute2",
    "iptables",
)

if debian_major() == 13:
    # Debian 13 ships the docker CLI in a package of its own, and its docker.io no longer
    # pulls in libdevmapper, which bookworm's dockerd 20.10 (fetched into the cache) links.
    REQUIRED_COMMANDS["docker"] = "docker-cli"
    LAB_PACKAGES = (*LAB_PACKAGES, "docker-cli", "libdevmapper1.02.1")


@dataclass(frozen=True)
class Missing:
    what: str
    package: str


def is_static_elf(path: str) -> bool:
    """True for an ELF executable without a program interpreter (fit for FROM scratch)."""
    try:
        with open(path, "rb") as f:
            head = f.read(64)
            if len(head) < 64 or head[:4] != b"\x7fELF" or head[4] != 2:
                return False
            (phoff,) = struct.unpack_from("<Q", head, 0x20)
            phentsize, phnum = struct.unpack_from("<HH", head, 0x36)
            f.seek(phoff)
            table = f.read(phentsize * phnum)
    except OSError:
        return False
    for i in range(phnum):
        (p_type,) = struct.unpack_from("<I", table, i * phentsize)
        if p_type == 3:  # PT_INTERP
            return False
    return True


def missing_requirements() -> list[Missing]:
    path = DAEMON_ENV["PATH"]
    missing = [
        Missing(cmd, pkg)
        for cmd, pkg in REQUIRED_COMMANDS.items()
        if shutil.which(cmd, path=path) is None
    ]
    if not is_static_elf(BUSYBOX):
        missing.append(Missing(f"a static {BUSYBOX}", "busybox-static"))
    return missing


def check(commands: bool = True) -> None:
    """Raise `LabError` with a clear, actionable message unless the lab can run here
    (Linux, root and, with ``commands``, every command and a static busybox)."""
    if not sys.platform.startswith("linux"):
        raise LabError(
            f"the lab needs Linux (network namespaces, bridges, VXLAN); this is {sys.platform}"
        )
    if os.geteuid() != 0:
        raise LabError(
            "the lab needs root: it creates network namespaces, a bridge and firewall rules "
            "and runs one dockerd per host (try: sudo swarm-operator lab up)"
        )
    missing = missing_requirements() if commands else []
    if missing:
        packages = sorted({m.package for m in missing})
        lines = [f"  {m.what}  (Debian package {m.package})" for m in missing]
        raise LabError(
            "the lab cannot start, missing:\n"
            + "\n".join(lines)
            + "\ninstall with:\n  apt-get install -y --no-install-recommends "
            + " ".join(packages)
            + "\n(or `make deps`, which installs: "
            + " ".join(LAB_PACKAGES)
            + ")"
        )
