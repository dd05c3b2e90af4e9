"""Pure parts of the lab: addressing, state file, preflight messages (no root needed)."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from swarm_operator.cli import main
from swarm_operator.lab import preflight
from swarm_operator.lab.layout import (
    IFNAMSIZ,
    UNIX_PATH_MAX,
    LabConfigError,
    Layout,
    check_size,
    index_from_env,
)
from swarm_operator.lab.state import Lab, new_lab
from swarm_operator.lab.system import LabError


def test_index_0_uses_the_documented_names() -> None:
    lay = Layout(0)
    assert lay.bridge == "br-lab"
    assert lay.subnet == "10.77.0.0/24"
    assert lay.registry == "10.77.0.1:5000"
    assert lay.image == "10.77.0.1:5000/swarm-operator/busybox:1"
    assert [lay.host_address(n) for n in (1, 2, 3)] == ["10.77.0.11", "10.77.0.12", "10.77.0.13"]
    assert [lay.netns(n) for n in (1, 2)] == ["so0-h1", "so0-h2"]
    assert lay.data_dir == Path("/var/lib/swarm-operator/lab-0")
    assert lay.host_name(2) == "host2"


def test_other_indexes_do_not_collide() -> None:
    seen: set[str] = set()
    for index in range(10):
        lay = Layout(index)
        names = {lay.bridge, lay.subnet, lay.netns(1), str(lay.data_dir)}
        assert not names & seen
        seen |= names
    assert Layout(7).bridge == "br-lab7"
    assert Layout(7).host_address(3) == "10.77.7.13"


def test_names_fit_kernel_limits_at_the_largest_sizes() -> None:
    lay = Layout(99)
    assert len(lay.veth(40)) <= IFNAMSIZ
    assert len(lay.bridge) <= IFNAMSIZ
    assert len(str(lay.socket(40))) <= UNIX_PATH_MAX


def test_host_number_parses_only_host_names() -> None:
    assert Layout(0).host_number("host12") == 12
    for bad in ("host", "host0", "h1", "hostx"):
        with pytest.raises(LabConfigError):
            Layout(0).host_number(bad)


def test_index_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SWARM_OPERATOR_LAB_INDEX", raising=False)
    assert index_from_env() == 0
    monkeypatch.setenv("SWARM_OPERATOR_LAB_INDEX", "4")
    assert index_from_env() == 4
    for bad in ("x", "-1", "100"):
        monkeypatch.setenv("SWARM_OPERATOR_LAB_INDEX", bad)
        with pytest.raises(LabConfigError, match=r"SWARM_OPERATOR_LAB_INDEX|out of range"):
            index_from_env()


def test_check_size() -> None:
    check_size(3, 1)
    check_size(5, 3)
    with pytest.raises(LabConfigError, match="--managers"):
        check_size(3, 4)
    with pytest.raises(LabConfigError, match="--hosts"):
        check_size(0, 1)


def test_state_round_trips_and_roles_follow_managers() -> None:
    lab = new_lab(2, hosts=4, managers=2)
    lab.hosts[0].pid, lab.hosts[0].start = 1234, 99
    again = Lab.from_json(lab.to_json())
    assert again == lab
    assert [h.role for h in again.hosts] == ["manager", "manager", "worker", "worker"]
    assert again.manager.docker_host == "unix:///var/lib/swarm-operator/lab-2/h1/docker.sock"
    with pytest.raises(KeyError, match="no host 'host9'"):
        again.host("host9")


def _elf(tmp_path: Path, interp: bool) -> str:
    header = bytearray(64)
    header[:5] = b"\x7fELF\x02"
    struct.pack_into("<Q", header, 0x20, 64)  # program headers right after the header
    struct.pack_into("<HH", header, 0x36, 56, 2)
    phdrs = bytearray(112)
    struct.pack_into("<I", phdrs, 0, 1)  # PT_LOAD
    struct.pack_into("<I", phdrs, 56, 3 if interp else 4)  # PT_INTERP or PT_NOTE
    path = tmp_path / ("dynamic" if interp else "static")
    path.write_bytes(bytes(header + phdrs))
    return str(path)


def test_static_elf_detection(tmp_path: Path) -> None:
    assert preflight.is_static_elf(_elf(tmp_path, interp=False))
    assert not preflight.is_static_elf(_elf(tmp_path, interp=True))
    (tmp_path / "script").write_text("#!/bin/sh\n")
    assert not preflight.is_static_elf(str(tmp_path / "script"))
    assert not preflight.is_static_elf(str(tmp_path / "absent"))


def test_preflight_says_root_is_needed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(preflight.sys, "platform", "linux")
    monkeypatch.setattr(preflight.os, "geteuid", lambda: 1000)
    with pytest.raises(LabError, match="needs root"):
        preflight.check()


def test_preflight_says_linux_is_needed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(preflight.sys, "platform", "darwin")
    with pytest.raises(LabError, match="needs Linux"):
        preflight.check()


def test_preflight_names_missing_packages_and_the_install_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(preflight.sys, "platform", "linux")
    monkeypatch.setattr(preflight.os, "geteuid", lambda: 0)
    absent = {"docker-registry", "dockerd"}
    real_which = preflight.shutil.which
    monkeypatch.setattr(
        preflight.shutil,
        "which",
        lambda cmd, path=None: None if cmd in absent else real_which(cmd, path=path),
    )
    monkeypatch.setattr(preflight, "is_static_elf", lambda _p: False)
    with pytest.raises(LabError) as info:
        preflight.check()
    message = str(info.value)
    assert "dockerd  (Debian package docker.io)" in message
    assert (
        "apt-get install -y --no-install-recommends busybox-static docker-registry docker.io"
        in (message)
    )


def test_cli_reports_preflight_errors(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(preflight.sys, "platform", "linux")
    monkeypatch.setattr(preflight.os, "geteuid", lambda: 1000)
    assert main(["lab", "up", "--index", "3"]) == 1
    assert "needs root" in capsys.readouterr().err
    assert main(["lab", "up", "--index", "300"]) == 1
    assert "out of range" in capsys.readouterr().err
