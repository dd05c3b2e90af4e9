"""Pure parts of the lab's engine choice: apt sources, versions, crash reports, state."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from swarm_operator.lab import engines
from swarm_operator.lab.engine import crash_excerpt, log_crash, rotate_log, write_daemon_config
from swarm_operator.lab.layout import LabConfigError
from swarm_operator.lab.state import Lab, new_lab
from swarm_operator.lab.system import LabError

DEB822 = """\
Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://src.example/debian
Suites: bookworm
Components: main
"""


def test_deb822_sources_give_the_main_mirror_of_the_release() -> None:
    sources = engines.parse_sources(DEB822, deb822=True)
    assert [s.uri for s in sources] == [
        "http://deb.debian.org/debian",
        "http://deb.debian.org/debian-security",
    ]
    mirror = engines.debian_mirror(sources, "bookworm")
    assert mirror.uri == "http://deb.debian.org/debian"
    assert engines.source_line(mirror, "trixie") == (
        "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] "
        "http://deb.debian.org/debian trixie main\n"
    )


def test_one_line_sources_with_options_and_comments() -> None:
    text = (
        "# deb http://old.example/debian bookworm main\n"
        "deb http://security.debian.org/debian-security bookworm-security main\n"
        "deb [arch=amd64 signed-by=/etc/k.gpg] http://mirror.example/debian bookworm main contrib\n"
    )
    sources = engines.parse_sources(text, deb822=False)
    mirror = engines.debian_mirror(sources, "bookworm")
    assert (mirror.uri, mirror.signed_by) == ("http://mirror.example/debian", "/etc/k.gpg")
    assert engines.source_line(mirror, "trixie").startswith(
        "deb [signed-by=/etc/k.gpg] http://mirror.example/debian trixie main"
    )
    # On Debian 13 the same derivation gives bookworm from a trixie mirror.
    trixie = engines.parse_sources("deb http://m.example/debian trixie main\n", deb822=False)
    line = engines.source_line(engines.debian_mirror(trixie, "trixie"), "bookworm")
    assert " http://m.example/debian bookworm main" in line


def test_no_release_source_is_a_clear_error() -> None:
    sources = engines.parse_sources("deb http://x.example/debian bookworm-security main\n", False)
    with pytest.raises(LabError, match="no Debian source for 'bookworm'"):
        engines.debian_mirror(sources, "bookworm")


def test_versions_are_read_and_matched_to_releases() -> None:
    out = "Docker version 26.1.5+dfsg1, build 411e817\n"
    assert engines.parse_dockerd_version(out) == "26.1.5+dfsg1"
    cd = "containerd github.com/containerd/containerd 1.7.24~ds1 1.7.24~ds1-6+deb13u1\n"
    assert engines.parse_containerd_version(cd) == "1.7.24~ds1"
    assert engines.is_release("26.1.5+dfsg1", "26.1")
    assert not engines.is_release("26.10.1", "26.1")
    assert engines.is_release("1.6.20~ds1", "1.6")
    with pytest.raises(LabError):
        engines.parse_dockerd_version("dockerd: not found")


def test_a_missing_shared_library_names_its_debian_package() -> None:
    # Bookworm's dockerd 20.10 unpacked on Debian 13, before `make deps` added the library.
    out = (
        "/var/cache/swarm-operator/engines/20.10/root/usr/sbin/dockerd: error while loading "
        "shared libraries: libdevmapper.so.1.02.1: cannot open shared object file: "
        "No such file or directory"
    )
    assert engines.missing_library_hint(out) == (
        "the shared library libdevmapper.so.1.02.1 is missing: install the Debian package "
        "libdevmapper1.02.1 (make deps does)"
    )
    other = "x: error while loading shared libraries: libfoo.so.9: cannot open shared object"
    assert engines.missing_library_hint(other) == (
        "the shared library libfoo.so.9 is missing: install the Debian package that provides it"
    )
    assert engines.missing_library_hint("dockerd: permission denied") is None


def test_the_system_engine_serves_only_its_own_release() -> None:
    # Debian 12: docker.io 20.10 serves 20.10; 26.1 comes from trixie into the cache.
    assert engines.system_serves("20.10.24+dfsg1", "20.10")
    assert not engines.system_serves("20.10.24+dfsg1", "26.1")
    # Debian 13: docker.io 26.1 serves 26.1; 20.10 comes from bookworm into the cache.
    assert engines.system_serves("26.1.5+dfsg1", "26.1")
    assert not engines.system_serves("26.1.5+dfsg1", "20.10")
    assert not engines.system_serves(None, "26.1")
    assert engines.RELEASES["20.10"].suite == "bookworm"
    assert engines.RELEASES["26.1"].suite == "trixie"


def test_the_fetch_takes_the_suites_version_even_below_the_installed_one(
    tmp_path: Path,
) -> None:
    # On Debian 13 the system's docker.io (26.1) is newer than bookworm's 20.10: with the
    # system's dpkg status apt's candidate is the installed version, which no source of
    # ours has, and `apt-get download` failed. Our apt sees an empty status of its own, so
    # the one version our source offers is taken, however old (here 0.1, below whatever
    # docker.io this machine has installed). Real apt, a local repository, no network.
    arch = subprocess.run(
        ["dpkg", "--print-architecture"], capture_output=True, text=True, check=True
    ).stdout.strip()
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "Packages").write_text(
        f"Package: docker.io\nVersion: 0.1\nArchitecture: {arch}\n"
        f"Filename: ./docker.io_0.1_{arch}.deb\nSize: 1\n"
        "SHA256: 6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d\n"
        "Description: the oldest docker.io\n\n"
    )
    apt_dir = tmp_path / "apt"
    engines.prepare_apt_dir(apt_dir, f"deb [trusted=yes] file:{repo} ./\n")
    assert (apt_dir / "status").read_text() == ""
    options = engines.apt_options(apt_dir)
    assert f"Dir::State::status={apt_dir / 'status'}" in options
    subprocess.run(["apt-get", *options, "-q", "update"], capture_output=True, check=True)
    proc = subprocess.run(
        ["apt-get", *options, "download", "--print-uris", "docker.io"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert f"docker.io_0.1_{arch}.deb" in proc.stdout


def test_engine_choice_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(engines.ENGINE_ENV, raising=False)
    assert engines.engine_from_env() == engines.DEFAULT_ENGINE == "26.1"
    monkeypatch.setenv(engines.ENGINE_ENV, "20.10")
    assert engines.engine_from_env() == "20.10"
    monkeypatch.setenv(engines.ENGINE_ENV, "27")
    with pytest.raises(LabConfigError, match="SWARM_OPERATOR_LAB_ENGINE='27'"):
        engines.engine_from_env()


def test_debian_major(tmp_path: Path) -> None:
    (tmp_path / "v").write_text("12.11\n")
    assert engines.debian_major(tmp_path / "v") == 12
    (tmp_path / "v").write_text("13.2\n")
    assert engines.debian_major(tmp_path / "v") == 13
    (tmp_path / "v").write_text("trixie/sid\n")
    assert engines.debian_major(tmp_path / "v") is None


def test_state_records_the_engine_and_old_state_files_mean_20_10() -> None:
    lab = new_lab(7, 3, 1, "26.1")
    assert Lab.from_json(lab.to_json()).engine == "26.1"
    old = lab.to_json().replace('"engine": "26.1",', "")
    assert '"engine"' not in old
    assert Lab.from_json(old).engine == "20.10"


def test_daemon_config_per_engine(tmp_path: Path) -> None:
    old = write_daemon_config(tmp_path / "a", "10.77.0.1:5000", "20.10").read_text()
    new = write_daemon_config(tmp_path / "b", "10.77.0.1:5000", "26.1").read_text()
    assert "deprecated-key-path" in old
    assert "deprecated-key-path" not in new  # dockerd 26 refuses the option
    assert "10.77.0.1:5000" in new


def test_both_lab_registries_are_insecure_and_only_the_private_one_asks_for_a_login(
    tmp_path: Path,
) -> None:
    from swarm_operator.lab.engine import write_registry_config
    from swarm_operator.lab.layout import Layout

    layout = Layout(7)
    path = write_daemon_config(tmp_path / "h", [layout.registry, layout.private_registry])
    assert json.loads(path.read_text())["insecure-registries"] == [
        "10.77.7.1:5000",
        "10.77.7.1:5001",
    ]
    plain = write_registry_config(tmp_path / "r", layout.registry).read_text()
    private = write_registry_config(tmp_path / "p", layout.private_registry, tmp_path / "pw")
    assert "auth:" not in plain
    assert (
        f"htpasswd:\n    realm: swarm-operator-lab\n    path: {tmp_path / 'pw'}\n"
        in private.read_text()
    )


PANIC_LOG = """\
time="2026-11-20T10:00:00Z" level=warning msg="something harmless"
panic: runtime error: invalid memory address or nil pointer dereference
[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x55d1c0e3a8f0]

goroutine 1234 [running]:
github.com/docker/swarmkit/manager/orchestrator.nodeMatches(...)
\t/build/swarmkit/manager/orchestrator/task.go:122
github.com/docker/swarmkit/manager/orchestrator.IsTaskDirty(0xc000a1, 0xc000b2)
\t/build/swarmkit/manager/orchestrator/task.go:80 +0x1f0
github.com/docker/swarmkit/manager/orchestrator/update.(*Updater).Run(0xc0001)
\t/build/swarmkit/manager/orchestrator/update/updater.go:160 +0x3a4
"""


def test_crash_excerpt_finds_the_go_panic_a_log_ends_with() -> None:
    lines = crash_excerpt(PANIC_LOG, lines=4)
    assert lines == [
        "panic: runtime error: invalid memory address or nil pointer dereference",
        "[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x55d1c0e3a8f0]",
        "goroutine 1234 [running]:",
        "github.com/docker/swarmkit/manager/orchestrator.nodeMatches(...)",
    ]
    abort = (
        'time="x" level=info msg=up\nSIGABRT: abort\nPC=0x47 m=0 sigcode=0\n\ngoroutine 0 [idle]:\n'
    )
    assert crash_excerpt(abort)[:2] == ["SIGABRT: abort", "PC=0x47 m=0 sigcode=0"]


def test_no_crash_when_the_log_goes_on_after_it_or_has_none() -> None:
    assert crash_excerpt(PANIC_LOG + 'time="later" level=info msg="restarted"\n') == []
    assert crash_excerpt('time="x" level=info msg="daemon exited"\n') == []
    assert crash_excerpt("") == []


def test_log_rotation_keeps_the_old_log(tmp_path: Path) -> None:
    log = tmp_path / "dockerd.log"
    assert not rotate_log(log)  # nothing to keep
    log.write_text(PANIC_LOG)
    assert log_crash(log)[0].startswith("panic: runtime error")
    assert rotate_log(log)
    assert not log.exists()
    assert (tmp_path / "dockerd.log.1").read_text() == PANIC_LOG
    assert log_crash(log) == []
